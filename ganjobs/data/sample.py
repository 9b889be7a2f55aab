"""The real daily series bundled with the ``arch`` package, in the input layout."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.io.storage import join, split_url, write_bytes

# (symbol, arch dataset module, column): adjusted closes for the indices, spot for WTI.
SERIES = (
    ("SPX", "sp500", "Adj Close"),
    ("NDX", "nasdaq", "Adj Close"),
    ("WTI", "wti", "DCOILWTICO"),
)


def bundled_prices() -> pd.DataFrame:
    """Long-layout prices (date, symbol, close) of S&P 500, NASDAQ and WTI crude.

    Rows whose value is missing or not positive in the source (market holidays in the FRED
    WTI series) are dropped, so the result satisfies the input layout (docs/formats.md §2).
    """
    import importlib

    frames = []
    for symbol, module, column in SERIES:
        raw = importlib.import_module(f"arch.data.{module}").load()
        s = pd.to_numeric(raw[column], errors="coerce").dropna()
        s = s[s > 0]
        frames.append(pd.DataFrame({
            "date": pd.to_datetime(s.index).normalize().astype("datetime64[ns]"),
            "symbol": symbol,
            "close": s.to_numpy("float64"),
        }))
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "date"]).reset_index(
        drop=True)


def write_sample_data(out: str) -> list[str]:
    """Write one Hive partition per symbol, ``<out>/symbol=XXX/prices.parquet``."""
    split_url(out)  # refuse a bad location before any work
    prices = bundled_prices()
    written = []
    for symbol, grp in prices.groupby("symbol", sort=True):
        table = pa.Table.from_pandas(grp[["date", "close"]].reset_index(drop=True),
                                     preserve_index=False)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        url = join(out, f"symbol={symbol}", "prices.parquet")
        write_bytes(url, buf.getvalue())
        written.append(url)
    return written
