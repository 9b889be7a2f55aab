"""Table input: bundled credit tables, schema files, inference, reading and the bad-input rules."""

from __future__ import annotations

import importlib.util
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ganjobs.cli import main
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher
from ganjobs.io.storage import read_bytes, sha256_bytes
from ganjobs.tabular import credit
from ganjobs.tabular.credit import CREDIT_TABLES, bundled_table
from ganjobs.tabular.infer import describe_schema, infer_schema
from ganjobs.tabular.schema import ColumnSpec, TableSchema, load_schema
from ganjobs.tabular.table_io import read_source, read_table
from ganjobs.tabular.validate import load_table

ROOT = Path(__file__).resolve().parents[1]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def _loans(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A small valid loan table: every category has two rows or more, the target two classes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "income": np.round(rng.uniform(1_000, 9_000, n), 2),
        "grade": ["A", "B", "C"] * (n // 3),
        "opened": [f"2020-01-{d:02d}" for d in range(1, n + 1)],
        "accounts": rng.integers(0, 30, n),
        "Class": ["good", "bad"] * (n // 2),
    })


def _csv(path: Path, frame: pd.DataFrame) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _parquet(path: Path, frame: pd.DataFrame) -> str:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return str(path)


SCHEMA = """target: Class
columns:
  income: {type: numeric, min: 0}
  grade: categorical
  opened: date
  accounts: {type: integer, min: 0, max: 100}
  Class: categorical
"""


# --- schema -----------------------------------------------------------------------------------

def test_schema_round_trip_and_yaml_forms(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCHEMA)
    schema = load_schema(str(path))
    assert schema.names == ["income", "grade", "opened", "accounts", "Class"]
    assert schema.categorical == ["grade", "Class"]
    assert schema.continuous == ["income", "opened", "accounts"]
    assert schema.column("accounts") == ColumnSpec("accounts", "integer", 0.0, 100.0)
    assert schema.target == "Class"
    again = TableSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.to_dict() == schema.to_dict()
    with pytest.raises(GanjobsError, match="no column 'nope'"):
        schema.column("nope")


@pytest.mark.parametrize("text, rule", [
    ("columns:\n  a: {type: money}\n", "column 'a': unknown type 'money'"),
    ("columns:\n  a: {type: numeric, min: 5, max: 1}\n", "column 'a': min 5 > max 1"),
    ("columns:\n  a: {type: numeric, minimum: 0}\n", "column 'a': unknown key 'minimum'"),
    ("target: b\ncolumns:\n  a: numeric\n", "target 'b' is not among the columns"),
    ("target: a\ncolumns:\n  a: numeric\n", "column 'a': the target must be categorical"),
    ("columns:\n  a: {type: categorical, max: 3}\n", "column 'a': min/max apply to numeric"),
    ("columns:\n  a: {type: numeric, min: zero}\n", "column 'a': min must be a number"),
    ("colums:\n  a: numeric\n", "unknown key 'colums'"),
    ("columns: [a, b\n", "not a valid YAML file"),
])
def test_bad_schema_file_is_refused_by_the_cli(tmp_path, capsys, text, rule):
    data = _csv(tmp_path / "t.csv", pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "x"]}))
    schema = tmp_path / "bad.yaml"
    schema.write_text(text)
    before = sorted(tmp_path.iterdir())
    rc, out, err = _cli(capsys, "validate-table", data, "--schema", str(schema))
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {schema}: ")
    assert rule in lines[0]
    assert sorted(tmp_path.iterdir()) == before


# --- bad tables ---------------------------------------------------------------------------------

def _case_table_column_not_in_schema(tmp_path):
    frame = _loans().assign(extra=1.5)
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'extra': not in the schema"


def _case_schema_column_missing(tmp_path):
    frame = _loans().drop(columns=["accounts"])
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "column 'accounts': missing from the table"


def _case_target_one_class(tmp_path):
    frame = _loans().assign(Class="good")
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "loans.csv: column 'Class': the target has one class ('good')"


def _case_target_not_a_label(tmp_path):
    return _csv(tmp_path / "loans.csv", _loans()), None, "income", \
        "loans.csv: column 'income': cannot be the target"


def _case_target_missing_labels(tmp_path):
    frame = _loans()
    frame.loc[3, "Class"] = None
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "loans.csv: column 'Class': the target is missing in 1 row;"


def _case_target_not_in_table(tmp_path):
    return _csv(tmp_path / "loans.csv", _loans()), None, "Status", \
        "loans.csv: column 'Status': target not in the table"


def _case_all_null(tmp_path):
    frame = _loans().assign(note=np.nan)
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "loans.csv: column 'note': all values are missing"


def _case_all_null_with_schema(tmp_path):
    frame = _loans().assign(income=np.nan)
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'income': all values are missing"


def _case_single_row_category(tmp_path):
    frame = _loans()
    frame.loc[5, "grade"] = "G"
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "loans.csv: column 'grade': category 'G' has one row; merge it or drop the row"


def _case_mixed_types_csv(tmp_path):
    frame = _loans().astype({"income": object})
    frame.loc[7, "income"] = "unknown"
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "loans.csv: column 'income': mixed types (numbers and text, e.g. 'unknown' in row 8)"


def _case_mixed_types_parquet(tmp_path):
    frame = _loans()
    frame["income"] = [str(v) for v in frame["income"]]
    frame.loc[2, "income"] = "n.a."
    return _parquet(tmp_path / "loans.parquet", frame), SCHEMA, None, \
        "loans.parquet: column 'income': mixed types (numbers and text, e.g. 'n.a.' in row 3)"


def _case_bounds(tmp_path):
    frame = _loans()
    frame.loc[4, "income"] = -10.0
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'income': value -10 (row 5) below min 0"


def _case_upper_bound(tmp_path):
    frame = _loans()
    frame.loc[0, "accounts"] = 250
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'accounts': value 250 (row 1) above max 100"


def _case_declared_integer_holds_decimals(tmp_path):
    frame = _loans().astype({"accounts": float})
    frame.loc[6, "accounts"] = 2.5
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'accounts': declared integer but holds 2.5 (row 7)"


def _case_declared_numeric_holds_text(tmp_path):
    frame = _loans().assign(income=["low", "high"] * 6)
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'income': declared numeric but holds text (e.g. 'low' in row 1)"


def _case_bad_date(tmp_path):
    frame = _loans()
    frame.loc[1, "opened"] = "yesterday"
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'opened': declared date but holds 'yesterday' (row 2); dates are ISO"


def _case_infinite(tmp_path):
    frame = _loans()
    frame.loc[3, "income"] = np.inf
    return _csv(tmp_path / "loans.csv", frame), SCHEMA, None, \
        "loans.csv: column 'income': infinite value in row 4"


def _case_identifier_column(tmp_path):
    frame = _loans().assign(loan_id=[f"L{i:03d}" for i in range(12)])
    return _csv(tmp_path / "loans.csv", frame), None, "Class", \
        "column 'loan_id': category 'L000' has one row; merge it or drop the row (12 categories" \
        " have one row: an identifier? drop the column)"


def _case_empty(tmp_path):
    return _csv(tmp_path / "loans.csv", _loans().iloc[:0]), None, None, \
        "loans.csv: empty table (no rows)"


def _case_not_a_table(tmp_path):
    path = tmp_path / "loans.xlsx"
    path.write_bytes(b"PK")
    return str(path), None, None, "loans.xlsx: not a table"


def _case_not_parquet(tmp_path):
    path = tmp_path / "loans.parquet"
    path.write_bytes(b"not parquet at all")
    return str(path), None, None, "loans.parquet: not a readable Parquet file"


BAD_TABLES = [
    _case_table_column_not_in_schema, _case_schema_column_missing, _case_target_one_class,
    _case_target_not_a_label, _case_target_missing_labels, _case_target_not_in_table,
    _case_all_null, _case_all_null_with_schema, _case_single_row_category,
    _case_mixed_types_csv, _case_mixed_types_parquet, _case_bounds, _case_upper_bound,
    _case_declared_integer_holds_decimals, _case_declared_numeric_holds_text, _case_bad_date,
    _case_infinite, _case_identifier_column, _case_empty, _case_not_a_table, _case_not_parquet,
]


@pytest.mark.parametrize("case", BAD_TABLES, ids=lambda c: c.__name__[6:])
def test_bad_table_gives_one_error_line(tmp_path, capsys, case):
    data, schema_text, target, rule = case(tmp_path)
    args = ["validate-table", data]
    if schema_text is not None:
        (tmp_path / "schema.yaml").write_text(schema_text)
        args += ["--schema", str(tmp_path / "schema.yaml")]
    if target is not None:
        args += ["--target", target]
    before = sorted(tmp_path.iterdir())
    rc, out, err = _cli(capsys, *args)
    assert rc == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert rule in lines[0], lines[0]
    assert str(tmp_path) in lines[0]  # the file is named in full
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_every_case_is_valid_once_fixed(tmp_path, capsys):
    """The base table of the cases above passes, with the schema file and without it."""
    data = _csv(tmp_path / "loans.csv", _loans())
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    rc, out, err = _cli(capsys, "validate-table", data, "--schema", str(tmp_path / "schema.yaml"))
    assert rc == 0, err
    assert out.splitlines()[-1].startswith(f"ok: {data}: 12 rows x 5 columns, target Class")
    rc, out, err = _cli(capsys, "validate-table", data, "--target", "Class")
    assert rc == 0, err
    assert "  opened: date (dates 2020-01-01..2020-01-12)" in out
    assert "  accounts: integer, min 0 (whole numbers" in out


# --- loading, coercion, inference -------------------------------------------------------------

def test_load_table_coerces_to_the_contract_dtypes(tmp_path):
    frame = _loans()
    frame.loc[2, "income"] = np.nan
    frame.loc[[0, 1], "grade"] = None
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    data = _csv(tmp_path / "loans.csv", frame[list(reversed(frame.columns))])
    loaded = load_table(data, str(tmp_path / "schema.yaml"))
    f = loaded.frame
    assert list(f.columns) == loaded.schema.names  # schema order
    assert f["income"].dtype == np.float64 and np.isnan(f["income"][2])
    assert f["accounts"].dtype == np.float64
    assert (f["accounts"] == np.round(f["accounts"])).all()
    assert f["grade"].dtype == object and f["grade"][0] is None and f["grade"][3] == "A"
    assert f["opened"].dtype == "datetime64[ns]" and f["opened"][0] == pd.Timestamp("2020-01-01")
    assert f["Class"].tolist() == ["good", "bad"] * 6
    assert loaded.sha256 == sha256_bytes(Path(data).read_bytes())
    assert loaded.notes == []


def test_numbers_declared_categorical_become_labels(tmp_path):
    frame = pd.DataFrame({"term": [36, 60, 36, 60], "rate": [1.5, 2.0, 2.5, 3.0],
                          "flag": [True, False, True, False]})
    (tmp_path / "s.yaml").write_text("target: term\ncolumns:\n  term: categorical\n"
                                     "  rate: numeric\n  flag: categorical\n")
    loaded = load_table(_parquet(tmp_path / "t.parquet", frame), str(tmp_path / "s.yaml"))
    assert loaded.frame["term"].tolist() == ["36", "60", "36", "60"]
    assert loaded.frame["flag"].tolist() == ["True", "False", "True", "False"]
    # a --target that the schema file declares numeric is refused, naming the schema file
    with pytest.raises(GanjobsError, match=r"s\.yaml: column 'rate': the target must be"):
        load_table(str(tmp_path / "t.parquet"), str(tmp_path / "s.yaml"), target="rate")


def test_inference_rules():
    frame = pd.DataFrame({
        "amount": [100.0, 250.5, 0.0, 75.25],
        "count": [0, 3, 1, 2],
        "whole_float": [1.0, np.nan, 3.0, 4.0],
        "change": [-1.5, 2.0, 0.5, 1.0],
        "label": ["x", "y", "x", "y"],
        "flag": [True, False, True, True],
        "day": ["2021-03-01", "2021-03-02", None, "2021-03-04"],
        "stamp": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03", "2021-01-04"]),
        "text_numbers": ["1", "2", "3", "4"],
        "bad": ["b", "g", "g", "b"],
    })
    schema = infer_schema(frame, target="bad")
    kinds = {c.name: (c.kind, c.minimum) for c in schema.columns}
    assert kinds == {
        "amount": ("numeric", 0.0), "count": ("integer", 0.0), "whole_float": ("integer", 0.0),
        "change": ("numeric", None), "label": ("categorical", None),
        "flag": ("categorical", None), "day": ("date", None), "stamp": ("date", None),
        "text_numbers": ("integer", 0.0), "bad": ("categorical", None),
    }
    lines = describe_schema(schema)
    assert lines[0] == "amount: numeric, min 0" and lines[-1] == "bad: categorical, target"
    why = describe_schema(schema, frame)
    assert why[0] == "amount: numeric, min 0 (decimals, 4 distinct values; " \
                     "no negative values seen)"
    assert why[2].endswith("1 missing)")
    assert infer_schema(frame, target="bad") == schema  # deterministic
    # whole numbers with few values may be class codes when they are the target
    assert infer_schema(frame, target="count").column("count").kind == "categorical"


def test_inference_on_the_bundled_tables():
    lc = infer_schema(bundled_table("lending_club"), target="Class")
    cd = infer_schema(bundled_table("credit_data"), target="Status")
    assert lc.target == "Class" and cd.target == "Status"
    assert lc.categorical == ["term", "sub_grade", "addr_state", "verification_status",
                              "emp_length", "Class"]
    assert {lc.column(c).kind for c in ("int_rate", "annual_inc", "revol_util")} == {"numeric"}
    assert lc.column("funded_amnt") == ColumnSpec("funded_amnt", "integer", 0.0)
    assert lc.column("inq_last_6mths").kind == "integer"
    assert cd.categorical == ["Status", "Home", "Marital", "Records", "Job"]
    # Income holds missing values: stored as a nullable integer, still inferred integer
    assert cd.column("Income") == ColumnSpec("Income", "integer", 0.0)
    assert len(lc.names) == 23 and len(cd.names) == 14


# --- bundled tables and sample-credit -----------------------------------------------------------

def _check_sample_folder(out: str) -> None:
    for name, table in CREDIT_TABLES.items():
        data = read_bytes(f"{out}/{name}.parquet")
        assert sha256_bytes(data) == table.sha256
        loaded = load_table(f"{out}/{name}.parquet", f"{out}/{name}.schema.yaml")
        assert loaded.schema.target == table.target
        assert loaded.sha256 == table.sha256


def test_sample_credit_local(tmp_path, capsys):
    out = str(tmp_path / "credit")
    rc, stdout, err = _cli(capsys, "sample-credit", out)
    assert rc == 0, err
    assert "lending_club: 9,857 rows x 23 columns, target Class (5.2% bad)" in stdout
    assert "credit_data: 4,454 rows x 14 columns, target Status (28.2% bad)" in stdout
    assert sorted(p.name for p in (tmp_path / "credit").iterdir()) == [
        "credit_data.parquet", "credit_data.schema.yaml", "lending_club.parquet",
        "lending_club.schema.yaml"]
    _check_sample_folder(out)
    lc = load_table(f"{out}/lending_club.parquet", f"{out}/lending_club.schema.yaml").frame
    assert lc.shape == (9857, 23) and round(float((lc["Class"] == "bad").mean()), 3) == 0.052
    cd = load_table(f"{out}/credit_data.parquet", f"{out}/credit_data.schema.yaml").frame
    assert int(cd.isna().sum().sum()) == 455


def test_sample_credit_to_s3(s3_env, capsys):
    out = f"s3://{s3_env}/input/credit"
    rc, _, err = _cli(capsys, "sample-credit", out)
    assert rc == 0, err
    _check_sample_folder(out)
    rc, stdout, err = _cli(capsys, "validate-table", f"{out}/credit_data.parquet",
                           "--target", "Status")
    assert rc == 0, err
    assert "  Status: categorical, target (2 values: good 3,200, bad 1,254)" in stdout


def test_bundled_file_with_another_sha256_is_refused(tmp_path, capsys, monkeypatch):
    real = CREDIT_TABLES["credit_data"].sha256
    changed = replace(CREDIT_TABLES["credit_data"], sha256="0" * 64)
    monkeypatch.setitem(credit.CREDIT_TABLES, "credit_data", changed)
    rc, out, err = _cli(capsys, "sample-credit", str(tmp_path / "credit"))
    assert rc == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: bundled credit_data.parquet: sha256 {real} "
        f"differs from the recorded {'0' * 64}; reinstall ganjobs"]
    assert not (tmp_path / "credit").exists()
    with pytest.raises(GanjobsError, match="no bundled table 'german'"):
        bundled_table("german")


# --- reading ------------------------------------------------------------------------------------

def _part(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    return buf.getvalue()


def test_read_published_folder_in_manifest_order(tmp_path):
    frame = _loans()
    url = str(tmp_path / "set")
    with Publisher(url) as pub:
        # written out of order: the manifest's order is the table's order
        pub.write_part("part-00001.parquet", _part(frame.iloc[6:]), rows=6)
        pub.write_part("part-00000.parquet", _part(frame.iloc[:6]), rows=6)
        pub.commit({"format": "ganjobs.table/1",
                    "parts": [{"name": "part-00000.parquet"}, {"name": "part-00001.parquet"}]})
    source = read_source(url)
    pd.testing.assert_frame_equal(source.frame, frame, check_dtype=False)
    assert source.sha256 == sha256_bytes((tmp_path / "set" / "manifest.json").read_bytes())
    loaded = load_table(url, target="Class")
    assert len(loaded.frame) == 12 and loaded.sha256 == source.sha256

    (tmp_path / "set" / "_SUCCESS").unlink()
    with pytest.raises(GanjobsError, match="no _SUCCESS; the folder is unfinished"):
        read_table(url)
    with pytest.raises(GanjobsError, match="not a table: use a .parquet, .pq or .csv"):
        read_table(str(tmp_path))


# --- extraction script --------------------------------------------------------------------------

def test_extraction_normalises_dtypes():
    spec = importlib.util.spec_from_file_location(
        "extract_credit_tables", ROOT / "scripts" / "extract_credit_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw = pd.DataFrame({"rownames": [1, 2, 3], "Income": [10.0, np.nan, 30.0],
                        "rate": [1.5, 2.0, np.nan], "Home": ["rent", np.nan, "owner"],
                        "Age": np.array([30, 40, 50], dtype="int32")})
    out = module.normalise(raw)
    assert list(out.columns) == ["Income", "rate", "Home", "Age"]
    assert str(out["Income"].dtype) == "Int64" and out["Income"].isna().sum() == 1
    assert out["rate"].dtype == np.float64
    assert out["Home"].tolist() == ["rent", None, "owner"]
    assert out["Age"].dtype == np.int64
