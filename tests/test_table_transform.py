"""Column transforms of tables: encoding, decoding, bounds, missing values, serialisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganjobs.errors import GanjobsError
from ganjobs.tabular.schema import ColumnSpec, TableSchema
from ganjobs.tabular.transform import (
    ALPHA_CLIP,
    ContinuousEncoder,
    TableTransformer,
)

BUNDLED = Path(__file__).resolve().parents[1] / "ganjobs" / "tabular" / "bundled"


def _frame(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A small loan-like table: every kind, missing values in a numeric and a categorical."""
    rng = np.random.default_rng(seed)
    amount = np.where(rng.random(n) < 0.6, rng.normal(5_000, 400, n), rng.normal(20_000, 900, n))
    rate = rng.uniform(5, 25, n)
    rate[rng.random(n) < 0.1] = np.nan
    grade = rng.choice(np.array(["B", "A", "C"], dtype=object), n).astype(object)
    grade[rng.random(n) < 0.05] = None
    days = rng.integers(0, 3 * 365, n)
    issued = pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({
        "amount": amount,
        "term": pd.Series(rng.choice(["36", "60"], n), dtype=object),
        "rate": rate,
        "age": rng.integers(18, 80, n).astype(np.float64),
        "grade": pd.Series(grade, dtype=object),
        "issued": pd.Series(issued, dtype="datetime64[ns]"),
        "Class": pd.Series(np.where(rng.random(n) < 0.2, "bad", "good"), dtype=object),
    })


SCHEMA = TableSchema((
    ColumnSpec("amount", "numeric", minimum=0.0),
    ColumnSpec("term", "categorical"),
    ColumnSpec("rate", "numeric", minimum=5.0, maximum=25.0),
    ColumnSpec("age", "integer", minimum=18.0, maximum=80.0),
    ColumnSpec("grade", "categorical"),
    ColumnSpec("issued", "date"),
    ColumnSpec("Class", "categorical"),
), target="Class")


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, TableTransformer]:
    frame = _frame()
    return frame, TableTransformer.fit(frame, SCHEMA, seed=3)


def _random_rows(tr: TableTransformer, n: int, rng: np.random.Generator,
                 alpha_scale: float = 1.0) -> np.ndarray:
    """Rows a generator could emit: alphas in [-s, s] and probability vectors (soft rows)."""
    m = np.empty((n, tr.width), dtype=np.float32)
    for span in tr.spans:
        cols = slice(span.start, span.start + span.width)
        if span.kind == "tanh":
            m[:, cols] = rng.uniform(-alpha_scale, alpha_scale, (n, 1))
        else:
            m[:, cols] = rng.dirichlet(np.ones(span.width), n)
    return m


def _alpha(tr: TableTransformer, matrix: np.ndarray, column: str) -> np.ndarray:
    span = next(s for s in tr.spans if s.column == column and s.kind == "tanh")
    return matrix[:, span.start]


def test_layout_spans_and_discrete(fitted):
    frame, tr = fitted
    starts = [s.start for s in tr.spans]
    assert starts == sorted(starts)
    assert sum(s.width for s in tr.spans) == tr.width
    for a, b in zip(tr.spans, tr.spans[1:], strict=False):
        assert a.start + a.width == b.start
    kinds = [(s.column, s.kind) for s in tr.spans]
    assert kinds[:3] == [("amount", "tanh"), ("amount", "softmax"), ("term", "softmax")]
    assert all(s.width == 1 for s in tr.spans if s.kind == "tanh")
    assert [d.column for d in tr.discrete] == ["term", "grade", "Class"]
    grade = next(d for d in tr.discrete if d.column == "grade")
    assert grade.labels == ("A", "B", "C", None)
    expected = frame["grade"].value_counts()
    assert grade.counts[:3] == tuple(int(expected[v]) for v in "ABC")
    assert grade.counts[3] == int(frame["grade"].isna().sum())
    assert sum(grade.counts) == len(frame)
    span = next(s for s in tr.spans if s.column == "grade")
    assert (grade.start, grade.width) == (span.start, span.width)


def test_bimodal_column_gets_both_modes(fitted):
    _, tr = fitted
    enc = tr.encoders[0]
    assert isinstance(enc, ContinuousEncoder) and enc.column == "amount"
    assert 2 <= enc.n_modes <= 10
    heavy = [m for m, w in zip(enc.means, enc.weights, strict=True) if w > 0.1]
    assert any(abs(m - 5_000) < 300 for m in heavy)
    assert any(abs(m - 20_000) < 600 for m in heavy)
    assert sum(enc.weights) == pytest.approx(1.0)
    assert not enc.has_missing
    # the missing slot is one more softmax column, only where missing values occurred
    rate = tr.encoders[2]
    assert rate.has_missing and rate.width == rate.n_modes + 2


def test_round_trip_reproduces_the_table(fitted):
    frame, tr = fitted
    matrix = tr.transform(frame, np.random.default_rng(1))
    assert matrix.dtype == np.float32 and matrix.shape == (len(frame), tr.width)
    back = tr.inverse(matrix)
    assert list(back.columns) == SCHEMA.names
    for col in ("amount", "rate"):
        alpha = _alpha(tr, matrix, col)
        inside = np.abs(alpha) < ALPHA_CLIP  # alpha at the clip loses the far tail
        assert inside.mean() > 0.99
        span = np.nanmax(frame[col]) - np.nanmin(frame[col])
        diff = np.abs(back[col].to_numpy() - frame[col].to_numpy())[inside]
        diff = diff[~np.isnan(diff)]
        assert diff.max() <= 1e-6 * span
        pd.testing.assert_series_equal(back[col].isna(), frame[col].isna())
    present = ~frame["age"].isna()
    assert (back["age"][present].astype("float64") == frame["age"][present]).all()
    assert (back["issued"] == frame["issued"]).all()
    for col in ("term", "grade", "Class"):
        assert back[col].tolist() == [None if pd.isna(v) else v for v in frame[col]]


def test_output_dtypes(fitted):
    frame, tr = fitted
    back = tr.inverse(tr.transform(frame, np.random.default_rng(0)))
    assert back["amount"].dtype == np.float64
    assert back["age"].dtype == pd.Int64Dtype()
    assert back["issued"].dtype == np.dtype("datetime64[ns]")
    for col in ("term", "grade", "Class"):
        assert back[col].dtype == object
        assert {type(v) for v in back[col]} <= {str, type(None)}
    assert back["grade"].isna().sum() == frame["grade"].isna().sum() > 0
    assert back["rate"].isna().sum() == frame["rate"].isna().sum() > 0


def test_random_rows_respect_bounds_and_dtypes(fitted):
    _, tr = fitted
    rng = np.random.default_rng(7)
    back = tr.inverse(_random_rows(tr, 5_000, rng, alpha_scale=1.0))
    rate = back["rate"].dropna()
    assert rate.between(5.0, 25.0).all()
    # the fitted mixture spreads beyond the bounds, so clipping really happened
    assert (rate == 5.0).any() or (rate == 25.0).any()
    assert (back["amount"] >= 0).all()
    age = back["age"].dropna()
    assert age.between(18, 80).all()
    assert (back["issued"].dropna().dt.normalize() == back["issued"].dropna()).all()
    assert set(back["grade"]) <= {"A", "B", "C", None}
    assert back["grade"].isna().any() and back["rate"].isna().any()


def test_integer_bounds_use_whole_numbers_inside():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"n": rng.integers(0, 10, 500).astype(np.float64)})
    schema = TableSchema((ColumnSpec("n", "integer", minimum=0.5, maximum=8.7),))
    tr = TableTransformer.fit(frame, schema, seed=0)
    back = tr.inverse(_random_rows(tr, 2_000, rng))
    assert back["n"].dtype == pd.Int64Dtype()
    assert back["n"].min() == 1 and back["n"].max() == 8


def test_soft_rows_decode_like_their_argmax(fitted):
    _, tr = fitted
    rng = np.random.default_rng(11)
    soft = _random_rows(tr, 300, rng)
    hard = soft.copy()
    for span in tr.spans:
        if span.kind == "softmax":
            block = soft[:, span.start:span.start + span.width]
            one_hot = np.zeros_like(block)
            one_hot[np.arange(len(block)), block.argmax(axis=1)] = 1.0
            hard[:, span.start:span.start + span.width] = one_hot
    pd.testing.assert_frame_equal(tr.inverse(soft), tr.inverse(hard))


def test_same_seed_same_transform_and_matrix():
    frame = _frame(600, seed=5)
    a = TableTransformer.fit(frame, SCHEMA, seed=9)
    b = TableTransformer.fit(frame, SCHEMA, seed=9)
    assert a.to_dict() == b.to_dict()
    m1 = a.transform(frame, np.random.default_rng(2))
    m2 = b.transform(frame, np.random.default_rng(2))
    np.testing.assert_array_equal(m1, m2)
    # the mode draws come from the generator passed in
    m3 = a.transform(frame, np.random.default_rng(3))
    assert not np.array_equal(m1, m3)


def test_mode_draws_follow_the_posterior():
    # two well separated, equally weighted modes: a value in the middle picks either mode
    # about half of the time, a value on a mode always picks that mode
    enc = ContinuousEncoder("x", "numeric", (0.0, 10.0), (1.0, 1.0), (0.5, 0.5), False,
                            -3.0, 13.0, 0)
    rng = np.random.default_rng(0)
    block = enc.encode(np.full(4_000, 5.0), rng)
    assert 0.45 < block[:, 1].mean() < 0.55
    block = enc.encode(np.full(1_000, 0.2), rng)
    assert block[:, 1].all() and block[:, 0] == pytest.approx(0.05)


def test_to_dict_round_trip_is_exact(fitted):
    frame, tr = fitted
    d = tr.to_dict()
    text = json.dumps(d)  # JSON-able: no numpy scalars, no pickles
    again = TableTransformer.from_dict(json.loads(text))
    assert again.to_dict() == d
    assert again.spans == tr.spans and again.discrete == tr.discrete
    assert again.width == tr.width and again.schema == tr.schema
    rows = _random_rows(tr, 1_000, np.random.default_rng(8))
    pd.testing.assert_frame_equal(again.inverse(rows), tr.inverse(rows))
    np.testing.assert_array_equal(again.transform(frame, np.random.default_rng(4)),
                                  tr.transform(frame, np.random.default_rng(4)))
    observed = d["columns"][0]["observed"]
    assert observed["min"] == pytest.approx(frame["amount"].min())
    assert observed["max"] == pytest.approx(frame["amount"].max())
    assert tr.observed()["rate"]["missing"] == int(frame["rate"].isna().sum())


def test_single_valued_columns():
    n = 50
    day = pd.Series([pd.Timestamp("2020-02-29")] * n, dtype="datetime64[ns]")
    frame = pd.DataFrame({"fee": np.full(n, 12.5), "count": np.full(n, 3.0), "day": day,
                          "kind": pd.Series(["only"] * n, dtype=object)})
    schema = TableSchema((ColumnSpec("fee", "numeric"), ColumnSpec("count", "integer"),
                          ColumnSpec("day", "date"), ColumnSpec("kind", "categorical")))
    tr = TableTransformer.fit(frame, schema, seed=0)
    assert all(e.n_modes == 1 for e in tr.encoders[:3])
    back = tr.inverse(tr.transform(frame, np.random.default_rng(0)))
    pd.testing.assert_frame_equal(back.astype({"count": "float64"}), frame)
    # whatever alpha a generator emits, a constant column stays constant
    rows = tr.inverse(_random_rows(tr, 200, np.random.default_rng(1)))
    assert (rows["fee"] == 12.5).all() and (rows["count"] == 3).all()
    assert (rows["day"] == pd.Timestamp("2020-02-29")).all() and (rows["kind"] == "only").all()


def test_date_column_with_missing_and_other_resolutions():
    rng = np.random.default_rng(2)
    days = rng.integers(-2_000, 20_000, 400)
    stamps = pd.Series((np.datetime64("1970-01-01", "D") + days).astype("datetime64[s]"))
    stamps[rng.random(400) < 0.1] = pd.NaT
    frame = pd.DataFrame({"d": stamps})
    tr = TableTransformer.fit(frame, TableSchema((ColumnSpec("d", "date"),)), seed=1)
    enc = tr.encoders[0]
    assert enc.has_missing and enc.observed_min == float(days[~stamps.isna()].min())
    matrix = tr.transform(frame, np.random.default_rng(0))
    back = tr.inverse(matrix)
    assert back["d"].dtype == np.dtype("datetime64[ns]")
    assert back["d"].isna().equals(frame["d"].isna())
    inside = (np.abs(_alpha(tr, matrix, "d")) < ALPHA_CLIP) & ~frame["d"].isna().to_numpy()
    assert inside.mean() > 0.85
    got = back["d"][inside].to_numpy()
    want = frame["d"][inside].to_numpy().astype("datetime64[ns]")
    np.testing.assert_array_equal(got, want)


def test_integer_column_with_missing_values():
    rng = np.random.default_rng(6)
    values = rng.poisson(4, 600).astype(np.float64)
    values[rng.random(600) < 0.2] = np.nan
    frame = pd.DataFrame({"inq": values, "home": pd.Series(
        rng.choice(np.array(["own", "rent", None], dtype=object), 600), dtype=object)})
    schema = TableSchema((ColumnSpec("inq", "integer", minimum=0),
                          ColumnSpec("home", "categorical")))
    tr = TableTransformer.fit(frame, schema, seed=0)
    assert tr.discrete[0].labels == ("own", "rent", None)
    back = tr.inverse(tr.transform(frame, np.random.default_rng(0)))
    assert back["inq"].dtype == pd.Int64Dtype()
    assert back["inq"].isna().equals(frame["inq"].isna())
    present = ~frame["inq"].isna()
    assert (back["inq"][present].astype("float64") == frame["inq"][present]).mean() > 0.99
    assert back["home"].tolist() == [None if pd.isna(v) else v for v in frame["home"]]


def test_accepts_pandas_string_and_nullable_integer_columns():
    frame = pd.DataFrame({"g": pd.Series(["x", "y", None, "x"], dtype="string"),
                          "k": pd.Series([1, None, 3, 4], dtype="Int64")})
    schema = TableSchema((ColumnSpec("g", "categorical"), ColumnSpec("k", "integer")))
    tr = TableTransformer.fit(frame, schema, seed=0)
    back = tr.inverse(tr.transform(frame, np.random.default_rng(0)))
    assert back["g"].tolist() == ["x", "y", None, "x"]
    assert back["k"].tolist()[0] == 1 and back["k"].isna().tolist() == [False, True, False,
                                                                        False]


def test_bad_input_is_reported(fitted):
    frame, tr = fitted
    unseen = frame.assign(term=frame["term"].where(frame.index != 3, "120"))
    with pytest.raises(GanjobsError, match="'term'.*'120'"):
        tr.transform(unseen, np.random.default_rng(0))
    holes = frame.assign(amount=frame["amount"].where(frame.index != 0))
    with pytest.raises(GanjobsError, match="'amount'.*missing"):
        tr.transform(holes, np.random.default_rng(0))
    with pytest.raises(GanjobsError, match="'Class'.*not in the table"):
        tr.transform(frame.drop(columns="Class"), np.random.default_rng(0))
    with pytest.raises(GanjobsError, match="no rows"):
        TableTransformer.fit(frame.iloc[:0], SCHEMA)
    with pytest.raises(GanjobsError, match="all values are missing"):
        TableTransformer.fit(frame.assign(rate=np.nan), SCHEMA)
    with pytest.raises(GanjobsError, match="format"):
        TableTransformer.from_dict({"format": "other"})
    with pytest.raises(GanjobsError, match="malformed"):
        TableTransformer.from_dict({**tr.to_dict(), "columns": [{"kind": "numeric"}]})
    swapped = tr.to_dict()
    swapped["columns"][0]["kind"] = "integer"
    with pytest.raises(GanjobsError, match="do not match"):
        TableTransformer.from_dict(swapped)
    with pytest.raises(ValueError, match="shape"):
        tr.inverse(np.zeros((2, tr.width + 1), dtype=np.float32))


def _bundled_schema(frame: pd.DataFrame, target: str) -> TableSchema:
    specs = []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_integer_dtype(dtype):
            specs.append(ColumnSpec(str(name), "integer", minimum=0.0))
        elif pd.api.types.is_float_dtype(dtype):
            specs.append(ColumnSpec(str(name), "numeric", minimum=0.0))
        else:
            specs.append(ColumnSpec(str(name), "categorical"))
    return TableSchema(tuple(specs), target=target)


@pytest.mark.parametrize(("name", "target"), [("credit_data", "Status"),
                                            ("lending_club", "Class")])
def test_bundled_credit_tables_round_trip(name: str, target: str):
    path = BUNDLED / f"{name}.parquet"
    if not path.exists():
        pytest.skip(f"the bundled table {path.name} is not in this checkout")
    frame = pd.read_parquet(path)
    schema = _bundled_schema(frame, target)
    tr = TableTransformer.fit(frame, schema, seed=0)
    matrix = tr.transform(frame, np.random.default_rng(0))
    assert matrix.shape == (len(frame), tr.width) and np.isfinite(matrix).all()
    back = tr.inverse(matrix)
    for spec in schema.columns:
        got, want = back[spec.name], frame[spec.name]
        assert got.isna().equals(want.isna()), spec.name
        if spec.kind == "categorical":
            assert got.tolist() == [None if pd.isna(v) else v for v in want], spec.name
            continue
        present = ~want.isna().to_numpy()
        inside = (np.abs(_alpha(tr, matrix, spec.name)) < ALPHA_CLIP) & present
        assert inside.sum() > 0.97 * present.sum(), spec.name
        g = got.astype("float64").to_numpy()[inside]
        w = want.astype("float64").to_numpy()[inside]
        tol = 1e-6 * (want.max() - want.min()) if spec.kind == "numeric" else 0.0
        assert np.abs(g - w).max() <= tol, spec.name
    rows = tr.inverse(_random_rows(tr, 2_000, np.random.default_rng(1)))
    for spec in schema.continuous:
        assert (rows[spec].dropna() >= 0).all(), spec


def test_point_masses_are_atoms_that_come_back_exactly():
    from ganjobs.tabular.schema import ColumnSpec, TableSchema
    from ganjobs.tabular.transform import TableTransformer

    rng = np.random.default_rng(3)
    debt = np.where(rng.random(2000) < 0.7, 0.0, np.rint(rng.lognormal(6, 1, 2000)))
    frame = pd.DataFrame({"debt": debt})
    schema = TableSchema((ColumnSpec("debt", "integer", minimum=0.0),), None)
    tf = TableTransformer.fit(frame, schema, seed=0)
    enc = tf.encoders[0]
    assert enc.atoms == (0.0,)
    back = tf.inverse(tf.transform(frame, np.random.default_rng(0)))
    assert (back["debt"].to_numpy(dtype=float) == 0).mean() == pytest.approx((debt == 0).mean())
    # Any row whose softmax picks the atom's slot decodes to exactly the atom.
    rows = rng.uniform(-1, 1, (500, tf.width))
    rows[:, 1:] = 0.0
    rows[:, 1 + enc.n_modes] = 1.0
    assert (tf.inverse(rows)["debt"].to_numpy(dtype=float) == 0).all()
    assert TableTransformer.from_dict(tf.to_dict()).to_dict() == tf.to_dict()
