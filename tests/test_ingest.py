"""Market-data ingest: the bundled data, round trips, and every bad input (long layout)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ganjobs.cli import main
from ganjobs.data.prices import load_market_data
from ganjobs.data.sample import write_sample_data
from ganjobs.errors import DataError
from ganjobs.io.storage import write_bytes


def test_sample_data_reads_back_three_symbols(sample_dir):
    data = load_market_data(sample_dir)
    assert data.symbols == ["NDX", "SPX", "WTI"]
    assert data.returns.shape == (len(data.dates) - 1, 3)
    assert data.returns.dtype == np.float64
    assert np.isfinite(data.returns).all()
    assert data.first_date.startswith("1999-01") and data.last_date.startswith("2018-12")
    assert len(data.dates) > 4900
    assert len(data.fingerprint) == 64


def test_symbol_selection_and_order(sample_dir):
    data = load_market_data(sample_dir, ["WTI", "SPX"])
    assert data.symbols == ["WTI", "SPX"]
    with pytest.raises(DataError, match="unknown symbol"):
        load_market_data(sample_dir, ["XYZ"])


def test_csv_and_parquet_give_same_returns_and_fingerprint(tmp_path, sample_dir):
    base = load_market_data(sample_dir)
    long = pd.concat(pd.read_parquet(f"{sample_dir}/symbol={s}/prices.parquet").assign(symbol=s)
                     for s in base.symbols)
    long = long.sample(frac=1.0, random_state=0)  # unsorted dates are sorted, not refused
    long.to_csv(tmp_path / "prices.csv", index=False)
    other = load_market_data(str(tmp_path / "prices.csv"))
    np.testing.assert_array_equal(other.returns, base.returns)
    assert other.fingerprint == base.fingerprint


def test_local_and_s3_round_trip_identical(s3_env, sample_dir):
    url = f"s3://{s3_env}/lake/prices"
    write_sample_data(url)
    local, remote = load_market_data(sample_dir), load_market_data(url)
    np.testing.assert_array_equal(local.returns, remote.returns)
    assert local.fingerprint == remote.fingerprint
    assert remote.symbols == ["NDX", "SPX", "WTI"]


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


GOOD = "date,symbol,close\n2020-01-02,A,10\n2020-01-03,A,11\n2020-01-02,B,5\n2020-01-03,B,6\n"
BAD_INPUTS = {
    "missing_column": (b"date,symbol\n2020-01-02,A\n", "missing column(s) close"),
    "empty_file": (b"", "empty file"),
    "header_only": (b"date,symbol,close\n", "empty file"),
    "non_numeric": (b"date,symbol,close\n2020-01-02,A,abc\n2020-01-03,A,1\n",
                    "close is a finite number' broken at row 0"),
    "nan_close": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,NaN\n",
                  "close is a finite number' broken at row 1"),
    "inf_close": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,inf\n",
                  "close is finite' broken at row 1"),
    "close_not_positive": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,0\n",
                           "close > 0' broken at row 1"),
    "duplicate": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-02,A,2\n2020-01-03,A,2\n",
                  "duplicate (A, 2020-01-02)"),
    "bad_date": (b"date,symbol,close\n2020-01-02,A,1\nnot-a-date,A,2\n",
                 "date is a date' broken at row 1"),
    "one_row_symbol": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,2\n2020-01-02,B,1\n",
                       "symbol 'B' has 1 row"),
    "no_common_dates": (b"date,symbol,close\n2020-01-02,A,1\n2020-01-03,A,2\n"
                        b"2021-01-02,B,1\n2021-01-03,B,2\n", "0 common date"),
    "not_csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" * 3, "prices.csv"),
    "empty_symbol": (b"date,symbol,close\n2020-01-02,,1\n2020-01-03,A,2\n",
                     "symbol is non-empty"),
    "date_out_of_range": (b"date,symbol,close\n2020-01-02,A,1\n9999-12-31,A,2\n",
                          "date between 1677-09-22 and 2262-04-11' broken at row 1"),
}


def _write_case(root: str, name: str) -> str:
    body, _ = BAD_INPUTS[name]
    url = f"{root}/{name}/prices.csv"
    write_bytes(url, body)
    return url


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("where", ["local", "s3"])
def test_bad_input_refused_by_cli(name, where, tmp_path, request, capsys):
    root = str(tmp_path) if where == "local" else f"s3://{request.getfixturevalue('s3_env')}"
    url = _write_case(root, name)
    code = main(["validate", url])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert "prices.csv" in lines[0]  # names the file
    assert BAD_INPUTS[name][1] in lines[0]


def test_good_csv_accepted(tmp_path, capsys):
    (tmp_path / "p.csv").write_text(GOOD)
    assert main(["validate", str(tmp_path / "p.csv")]) == 0
    assert "symbols A, B" in capsys.readouterr().out


def test_hive_partitions_and_parquet(tmp_path):
    for sym in ("A", "B"):
        df = pd.DataFrame({"date": pd.to_datetime(["2020-01-03", "2020-01-02", "2020-01-06"]),
                           "close": [2.0, 1.0, 3.0], "volume": [1, 2, 3]})
        (tmp_path / f"symbol={sym}").mkdir()
        (tmp_path / f"symbol={sym}" / "x.parquet").write_bytes(_parquet(df))
    data = load_market_data(str(tmp_path))
    assert data.symbols == ["A", "B"]
    np.testing.assert_allclose(data.returns[:, 0], np.diff(np.log([1.0, 2.0, 3.0])))


@pytest.mark.parametrize("url,msg", [
    ("gs://bucket/prices", "unsupported URL scheme 'gs://'"),
    ("ftp://host/prices.csv", "unsupported URL scheme 'ftp://'"),
])
def test_unknown_scheme(url, msg, capsys):
    assert main(["validate", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and msg in err and len(err.splitlines()) == 1


def test_missing_local_path(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


def test_s3_missing_bucket(s3_env, capsys):
    assert main(["validate", "s3://bucket-that-does-not-exist-42/prices"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "bucket-that-does-not-exist-42" in err


def test_s3_bad_credentials(s3_env, sample_dir, monkeypatch, capsys):
    from moto import settings

    url = f"s3://{s3_env}/prices"
    write_sample_data(url)
    # Turn on moto's request authentication, then present a key it does not know.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "topsecret-value-never-printed")
    assert main(["validate", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "access denied" in err
    assert "topsecret-value-never-printed" not in err and "AKIAUNKNOWNKEY000001" not in err


def test_sample_data_cli(tmp_path, capsys):
    assert main(["sample-data", str(tmp_path / "lake")]) == 0
    assert "symbols NDX, SPX, WTI" in capsys.readouterr().out
    assert main(["sample-data", "gs://x/y"]) == 2


def test_dates_with_changing_offsets_become_utc_days(tmp_path):
    # Exports with times carry the local offset, which changes with summer time.
    (tmp_path / "p.csv").write_text("date,symbol,close\n2020-01-02T23:30:00-05:00,A,1\n"
                                    "2020-06-02T10:00:00+02:00,A,2\n2020-06-03,A,4\n")
    data = load_market_data(str(tmp_path / "p.csv"))
    assert [str(d)[:10] for d in data.dates] == ["2020-01-03", "2020-06-02", "2020-06-03"]
    np.testing.assert_allclose(data.returns[:, 0], np.log([2.0, 2.0]))
