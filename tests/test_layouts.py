"""Single-symbol downloads and wide tables: read to the same prices as the long layout."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ganjobs.cli import main
from ganjobs.data.layouts import file_stem
from ganjobs.data.prices import load_market_data, read_prices
from ganjobs.errors import DataError
from ganjobs.io.storage import write_bytes


@pytest.fixture(scope="module")
def bundled(sample_dir) -> pd.DataFrame:
    """The bundled prices in the long layout, on their last 300 common dates."""
    wide = read_prices(sample_dir).pivot(index="date", columns="symbol", values="close")
    long = wide.dropna().tail(300).stack().rename("close").reset_index()
    return long.sort_values(["symbol", "date"]).reset_index(drop=True)[["date", "symbol", "close"]]


def _download(closes: pd.DataFrame, adj: bool = True) -> pd.DataFrame:
    """One symbol as a market-data site exports it; Close differs when Adj Close is there."""
    out = pd.DataFrame({"Date": closes["date"].dt.strftime("%Y-%m-%d"),
                        "Open": closes["close"] * 0.99, "High": closes["close"] * 1.02,
                        "Low": closes["close"] * 0.98,
                        "Close": closes["close"] * (1.5 if adj else 1.0)})
    if adj:
        out["Adj Close"] = closes["close"]
    out["Volume"] = 1000
    return out


def _parquet(df: pd.DataFrame, index: bool = False) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=index), buf)
    return buf.getvalue()


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.closes, b.closes)
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.dates, b.dates)
    assert a.symbols == b.symbols and a.fingerprint == b.fingerprint


def test_single_symbol_csv_reads_adj_close_like_long(tmp_path, bundled):
    spx = bundled[bundled["symbol"] == "SPX"]
    spx.to_csv(tmp_path / "long.csv", index=False)
    _download(spx).to_csv(tmp_path / "SPX.csv", index=False)
    single = load_market_data(str(tmp_path / "SPX.csv"))
    _same(single, load_market_data(str(tmp_path / "long.csv")))
    assert single.notes == [f"{tmp_path}/SPX.csv: single-symbol file, symbol SPX from the file "
                            f"name, prices from 'Adj Close'"]
    assert single.data_record()["layouts"] == {f"{tmp_path}/SPX.csv": "single-symbol"}


def test_single_symbol_without_adj_close_uses_close(tmp_path, bundled):
    wti = bundled[bundled["symbol"] == "WTI"]
    _download(wti, adj=False).to_csv(tmp_path / "WTI.csv.gz", index=False, compression="gzip")
    wti.to_csv(tmp_path / "long.csv", index=False)
    single = load_market_data(str(tmp_path / "WTI.csv.gz"))
    _same(single, load_market_data(str(tmp_path / "long.csv")))
    assert "symbol WTI from the file name, prices from 'Close'" in single.notes[0]


def test_single_symbol_parquet_with_date_index_and_snake_case(tmp_path, bundled):
    ndx = bundled[bundled["symbol"] == "NDX"]
    frame = pd.DataFrame({"open": ndx["close"].to_numpy(), "adj_close": ndx["close"].to_numpy()},
                         index=pd.DatetimeIndex(ndx["date"].to_numpy(), name="Date"))
    (tmp_path / "ndx.parquet").write_bytes(_parquet(frame, index=True))
    ndx.to_parquet(tmp_path / "long.parquet")
    single = load_market_data(str(tmp_path / "ndx.parquet"), ["NDX"])
    _same(single, load_market_data(str(tmp_path / "long.parquet")))
    assert "symbol NDX as requested" in single.notes[0] and "'adj_close'" in single.notes[0]


def test_requested_symbol_names_only_a_lone_file(tmp_path, bundled):
    spx = bundled[bundled["symbol"] == "SPX"]
    _download(spx).to_csv(tmp_path / "download.csv", index=False)
    assert load_market_data(str(tmp_path / "download.csv"), ["SPY"]).symbols == ["SPY"]
    # two files in the folder: each is named by its file, the request only selects
    _download(spx).to_csv(tmp_path / "other.csv", index=False)
    data = load_market_data(str(tmp_path), ["download"])
    assert data.symbols == ["download"] and len(data.notes) == 2
    with pytest.raises(DataError, match="unknown symbol.*SPY"):
        load_market_data(str(tmp_path), ["SPY"])


def test_wide_csv_with_blanks_reads_like_long(tmp_path, bundled):
    wide = bundled.pivot(index="date", columns="symbol", values="close")
    cells = wide.map(repr).reset_index().rename(columns={"date": "Date"})
    # gaps: no price for a symbol on a date, written blank, as NaN and as FRED's "."
    gaps = {(5, "NDX"): "", (9, "SPX"): "NaN", (12, "WTI"): "."}
    for (row, sym), text in gaps.items():
        cells.loc[row, sym] = text
    cells.to_csv(tmp_path / "wide.csv", index=False)
    long = bundled.drop(index=[bundled.index[(bundled["symbol"] == sym)
                                             & (bundled["date"] == wide.index[row])][0]
                               for row, sym in gaps])
    long.sample(frac=1.0, random_state=1).to_csv(tmp_path / "long.csv", index=False)
    a = load_market_data(str(tmp_path / "wide.csv"))
    _same(a, load_market_data(str(tmp_path / "long.csv")))
    assert len(a.dates) == len(wide) - 3
    assert a.notes == [f"{tmp_path}/wide.csv: wide table, symbols NDX, SPX, WTI; "
                       f"3 blank price(s) skipped"]


def test_wide_parquet_on_s3_reads_like_long(s3_env, bundled):
    wide = bundled.pivot(index="date", columns="symbol", values="close").reset_index()
    wide.loc[3, "WTI"] = np.nan
    url = f"s3://{s3_env}/lake/wide/prices.parquet"
    write_bytes(url, _parquet(wide))
    long = bundled.drop(index=bundled.index[(bundled["symbol"] == "WTI")
                                            & (bundled["date"] == wide.loc[3, "date"])])
    write_bytes(f"s3://{s3_env}/lake/long/prices.parquet", _parquet(long))
    a = load_market_data(url, ["WTI", "SPX"])
    _same(a, load_market_data(f"s3://{s3_env}/lake/long/prices.parquet", ["WTI", "SPX"]))
    assert a.data_record()["layouts"] == {url: "wide"}


def test_folder_mixes_layouts_and_notes_only_the_others(tmp_path, bundled):
    lake = tmp_path / "lake"
    (lake / "symbol=SPX").mkdir(parents=True)
    bundled[bundled["symbol"] == "SPX"][["date", "close"]].to_parquet(lake / "symbol=SPX" / "p.pq")
    _download(bundled[bundled["symbol"] == "NDX"]).to_csv(lake / "NDX.csv", index=False)
    wti = bundled[bundled["symbol"] == "WTI"][["date", "close"]].rename(columns={"close": "WTI"})
    wti.to_csv(lake / "wti_wide.csv", index=False)
    bundled.to_csv(tmp_path / "all.csv", index=False)
    data = load_market_data(str(lake))
    _same(data, load_market_data(str(tmp_path / "all.csv")))
    assert data.layouts == {f"{lake}/NDX.csv": "single-symbol", f"{lake}/wti_wide.csv": "wide"}
    assert data.notes == [f"{lake}/NDX.csv: single-symbol file, symbol NDX from the file name, "
                          f"prices from 'Adj Close'",
                          f"{lake}/wti_wide.csv: wide table, symbols WTI"]


def test_long_layout_has_no_notes_and_the_same_record_keys(sample_dir):
    data = load_market_data(sample_dir)
    assert data.notes == [] and data.layouts == {}
    assert list(data.data_record()) == ["location", "sha256", "first_date", "last_date"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_markers_in_number_and_text_columns(tmp_path, fmt):
    # AAA: numbers and "NA" (a CSV reader's null); BBB: text with FRED's "." and " null ".
    frame = pd.DataFrame({"DATE": ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"],
                          "AAA": ["1.5", "NA", "2", "2.5"], "BBB": ["3", ".", "4", " null "]})
    if fmt == "csv":
        frame.to_csv(tmp_path / "f.csv", index=False)
    else:
        frame.assign(AAA=[1.5, None, 2.0, 2.5]).to_parquet(tmp_path / "f.parquet")
    data = load_market_data(str(next(tmp_path.iterdir())))
    assert data.symbols == ["AAA", "BBB"]
    assert data.closes.tolist() == [[1.5, 3.0], [2.0, 4.0]]
    assert data.notes[0].endswith("wide table, symbols AAA, BBB; 3 blank price(s) skipped")


@pytest.mark.parametrize("stem,name", [("SPY.csv", "SPY"), ("x/^GSPC.csv.gz", "^GSPC"),
                                       ("s3://b/k/brent.PARQUET", "brent"), ("a.b.pq", "a.b")])
def test_file_stem(stem, name):
    assert file_stem(stem) == name


D = "2020-01-02", "2020-01-03", "2020-01-06"
BAD = {
    "symbol_and_price_columns": (f"Date,Symbol,SPX,NDX\n{D[0]},A,1,2\n{D[1]},A,1,2\n",
                                 "missing column(s) close; required: date, symbol, close (a "
                                 "file with a symbol column"),
    "no_date_column": ("Day,SPX\n1,2\n2,3\n", "missing column(s) date, symbol, close"),
    "ohlc_without_close": (f"Date,Open,High\n{D[0]},1,2\n{D[1]},1,2\n",
                           "Open, High look like a single-symbol download"),
    "unnamed_column": (f"Date,,SPX\n{D[0]},1,2\n{D[1]},1,2\n", "column 1 has no name"),
    "repeated_symbol": (f"Date,SPX,SPX\n{D[0]},1,2\n{D[1]},1,2\n",
                        "column(s) SPX appear more than once"),
    "repeated_date": (f"Date,DATE,SPX\n{D[0]},{D[0]},2\n{D[1]},{D[1]},2\n",
                      "column(s) date appear more than once"),
    "two_adj_close": (f"Date,Adj Close,adj_close\n{D[0]},1,2\n{D[1]},1,2\n",
                      "columns 'Adj Close', 'adj_close' all name the same price"),
    "text_price": (f"Date,SPX,NDX\n{D[0]},1,2\n{D[1]},1,lots\n",
                   "rule 'price is a number or blank' broken at row 1, column 'NDX' "
                   "(value='lots')"),
    "zero_price": (f"Date,Close\n{D[0]},1\n{D[1]},0\n",
                   "rule 'price > 0' broken at row 1, column 'Close'"),
    "infinite_price": (f"Date,SPX\n{D[0]},1\n{D[1]},-inf\n",
                       "rule 'price is finite' broken at row 1, column 'SPX'"),
    "bad_date": (f"Date,SPX\n{D[0]},1\nsoon,2\n", "rule 'date is a date' broken at row 1"),
    "one_price": (f"Date,SPX,NDX\n{D[0]},1,\n{D[1]},2,NaN\n{D[2]},3,4\n",
                  "rule 'at least 2 rows per symbol' broken: symbol 'NDX' has 1 price(s)"),
    "duplicate_date": (f"Date,SPX\n{D[0]},1\n{D[0]},2\n{D[1]},2\n", "duplicate (SPX, 2020-01-02)"),
    "no_rows": ("Date,Adj Close\n", "empty file (no rows)"),
    "date_only": (f"Date\n{D[0]}\n{D[1]}\n", "no price column"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_refused_naming_file_and_rule(tmp_path, capsys, case):
    body, message = BAD[case]
    (tmp_path / "SPX.csv").write_text(body)
    assert main(["validate", str(tmp_path / "SPX.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path}/SPX.csv: ") and len(err.splitlines()) == 1
    assert message in err


def test_single_symbol_file_without_a_name_refused(tmp_path):
    (tmp_path / " .csv").write_text(f"Date,Close\n{D[0]},1\n{D[1]},2\n")
    with pytest.raises(DataError, match="rule 'a single-symbol file is named' broken"):
        load_market_data(str(tmp_path / " .csv"))
    assert load_market_data(str(tmp_path / " .csv"), ["X"]).symbols == ["X"]


def test_cli_validate_reads_a_download(tmp_path, capsys, bundled):
    _download(bundled[bundled["symbol"] == "SPX"]).to_csv(tmp_path / "SPY.csv", index=False)
    assert main(["validate", str(tmp_path / "SPY.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "symbols SPY" in out[0]
    # The user is told what was used: the symbol's source and the price column.
    assert out[1].startswith("note: ") and "symbol SPY from the file name" in out[1]
    assert "'Adj Close'" in out[1]
