"""Market-price ingest: read, convert to the long layout, validate, align, log returns, fingerprint.

The layouts read (long, single-symbol download, wide table) are described in
:mod:`ganjobs.data.layouts` and docs/formats.md; every file is converted to the long layout
(date, symbol, close) right after it is read, and the long-layout rules apply to all.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ganjobs.data.cells import first_row, parse_dates
from ganjobs.data.layouts import LONG, to_long
from ganjobs.data.ticks import zero_return_notes
from ganjobs.errors import DataError
from ganjobs.io.storage import filesystem, storage_errors

REQUIRED = ("date", "symbol", "close")
PARQUET_EXT = (".parquet", ".pq")
CSV_EXT = (".csv", ".csv.gz")


@dataclass(frozen=True)
class MarketData:
    """Aligned prices and log returns of several symbols.

    Attributes
    ----------
    returns : ndarray, shape (T - 1, k), float64
        Daily log returns of ``close``; row ``t`` is the return ending on ``dates[t + 1]``.
    dates : ndarray of datetime64[ns], shape (T,)
        Common dates of all symbols, ascending.
    symbols : list of str
        Column order of ``returns``.
    closes : ndarray, shape (T, k)
    fingerprint : str
        sha256 of the canonical (symbol, date, close) table, independent of file format
        and layout.
    source : str
        The location read.
    notes : list of str
        One line per file not in the long layout saying how it was read (layout, where the
        symbol came from, which price column), then one per symbol with more than 1% of
        exactly-zero returns (see :mod:`ganjobs.data.ticks`); empty when neither applies.
    layouts : dict of str to str
        Layout of each file not in the long layout, by file location.
    """

    returns: np.ndarray
    dates: np.ndarray
    symbols: list[str]
    closes: np.ndarray
    fingerprint: str
    source: str
    notes: list[str] = field(default_factory=list)
    layouts: dict[str, str] = field(default_factory=dict)

    @property
    def first_date(self) -> str:
        return str(pd.Timestamp(self.dates[0]).date())

    @property
    def last_date(self) -> str:
        return str(pd.Timestamp(self.dates[-1]).date())

    def data_record(self) -> dict[str, Any]:
        """The ``data`` block that manifests and model folders record.

        ``layouts`` (file → layout) is present only when a file is not in the long layout,
        so the block of long-layout data is unchanged.
        """
        record: dict[str, Any] = {
            "location": self.source,
            "sha256": self.fingerprint,
            "first_date": self.first_date,
            "last_date": self.last_date,
        }
        if self.layouts:
            record["layouts"] = dict(self.layouts)
        return record


def _list_files(url: str) -> list[tuple[str, str]]:
    """Data files under ``url`` as ``(display_url, fs_path)``, sorted."""
    fs, path = filesystem(url)
    with storage_errors(url):
        if not fs.exists(path):
            raise DataError(f"{url}: not found")
        if fs.isdir(path):
            found = sorted(p for p in fs.find(path) if _is_data_file(p))
            if not found:
                raise DataError(f"{url}: folder holds no .parquet or .csv files")
            prefix = url.rstrip("/")
            return [(prefix + "/" + posixpath.relpath(p, path), p) for p in found]
        if not _is_data_file(path):
            raise DataError(f"{url}: not a .parquet or .csv file")
    return [(url, path)]


def _is_data_file(path: str) -> bool:
    name = posixpath.basename(path).lower()
    if name.startswith(("_", ".")):
        return False
    return name.endswith(PARQUET_EXT + CSV_EXT)


def _hive_values(root_rel: str) -> dict[str, str]:
    """``key=value`` folder segments of a relative path (Hive partitions)."""
    out = {}
    for seg in posixpath.dirname(root_rel).split("/"):
        if "=" in seg:
            k, v = seg.split("=", 1)
            out[k] = v
    return out


def _read_table(display: str, fs, path: str) -> pd.DataFrame:
    with storage_errors(display):
        raw = fs.cat_file(path)
    if not raw:
        raise DataError(f"{display}: empty file")
    name = path.lower()
    try:
        if name.endswith(PARQUET_EXT):
            table = pq.read_table(io.BytesIO(raw))
        else:
            if name.endswith(".gz"):
                import gzip

                raw = gzip.decompress(raw)
            # Everything as text first so that the validation below names the bad value.
            opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in REQUIRED})
            table = pacsv.read_csv(io.BytesIO(raw), convert_options=opts)
        return table.to_pandas()
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
        kind = "Parquet" if name.endswith(PARQUET_EXT) else "CSV"
        first = str(exc).splitlines()[0][:200]
        raise DataError(f"{display}: not a readable {kind} file ({first})") from exc


def _validate_frame(display: str, df: pd.DataFrame, hive: dict[str, str]) -> pd.DataFrame:
    names = [str(c).strip().lower() for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1 and n in REQUIRED})
    if dup:
        raise DataError(f"{display}: column(s) {', '.join(dup)} appear more than once")
    df.columns = names
    for key, value in hive.items():
        if key.lower() not in df.columns:
            df[key.lower()] = value
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{display}: missing column(s) {', '.join(missing)}; "
                        f"required: date, symbol, close (a file with a symbol column, or in "
                        f"a symbol=XXX/ folder, is read in the long layout)")
    if len(df) == 0:
        raise DataError(f"{display}: empty file (no rows)")
    df = df[list(REQUIRED)].copy()

    sym = df["symbol"].astype("string").str.strip()
    bad = sym.isna() | (sym == "")
    if bad.any():
        raise DataError(f"{display}: rule 'symbol is non-empty' broken at row {first_row(bad)}")
    df["symbol"] = sym.astype(str)

    close = pd.to_numeric(df["close"], errors="coerce")
    bad = close.isna()
    if bad.any():
        i = first_row(bad)
        raise DataError(f"{display}: rule 'close is a finite number' broken at row {i} "
                        f"(close={df['close'].iloc[i]!r})")
    close = close.astype("float64")
    bad = ~np.isfinite(close.to_numpy())
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{display}: rule 'close is finite' broken at row {i} "
                        f"(close={close.iloc[i]})")
    bad = (close <= 0).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{display}: rule 'close > 0' broken at row {i} (close={close.iloc[i]})")
    df["close"] = close

    dates = parse_dates(display, df["date"])
    df["date"] = dates
    return df


@dataclass(frozen=True)
class _Read:
    prices: pd.DataFrame
    notes: list[str]
    layouts: dict[str, str]


def read_prices(url: str, symbol: str | None = None) -> pd.DataFrame:
    """Read and validate prices from a file or folder/prefix, in the long layout.

    Parameters
    ----------
    url : str
        File, folder or ``s3://`` prefix; each file in any layout of
        :mod:`ganjobs.data.layouts`.
    symbol : str, optional
        Symbol of a single-symbol file when ``url`` is that one file; else the file name
        names it.

    Returns
    -------
    DataFrame
        Columns ``date`` (datetime64), ``symbol`` (str), ``close`` (float64), sorted by
        (symbol, date). Unsorted input is sorted; duplicates are refused.
    """
    return _read(url, symbol).prices


def _read(url: str, symbol: str | None) -> _Read:
    fs, root = filesystem(url)
    files = _list_files(url)
    # A requested name can only name the file when there is no other file to name.
    symbol = symbol if len(files) == 1 else None
    frames, notes, layouts = [], [], {}
    for display, path in files:
        rel = posixpath.relpath(path, root) if path != root else posixpath.basename(path)
        hive = _hive_values(rel)
        converted = to_long(display, _read_table(display, fs, path), hive, symbol)
        if converted.layout != LONG:
            layouts[display] = converted.layout
            notes.append(converted.note)
        df = _validate_frame(display, converted.frame, hive)
        df["_file"] = display
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["symbol", "date"], keep="first")
    if dup.any():
        i = first_row(dup)
        row = df.iloc[i]
        raise DataError(f"{row['_file']}: rule 'one row per (symbol, date)' broken: "
                        f"duplicate ({row['symbol']}, {row['date'].date()})")
    counts = df.groupby("symbol").size()
    short = counts[counts < 2]
    if len(short):
        s = short.index[0]
        f = df.loc[df["symbol"] == s, "_file"].iloc[0]
        raise DataError(f"{f}: rule 'at least 2 rows per symbol' broken: symbol {s!r} "
                        f"has {int(short.iloc[0])} row")
    prices = (df.drop(columns="_file").sort_values(["symbol", "date"], kind="stable")
              .reset_index(drop=True))
    return _Read(prices, notes, layouts)


def fingerprint(prices: pd.DataFrame) -> str:
    """sha256 of the canonical long table: symbol, ISO date and close, one line each."""
    h = hashlib.sha256()
    ordered = prices.sort_values(["symbol", "date"], kind="stable")
    for sym, grp in ordered.groupby("symbol", sort=True):
        h.update(f"{sym}\n".encode())
        h.update(grp["date"].to_numpy("datetime64[D]").astype("int64").tobytes())
        h.update(grp["close"].to_numpy("float64").tobytes())
    return h.hexdigest()


def load_market_data(url: str, symbols: list[str] | None = None) -> MarketData:
    """Read ``url``, keep ``symbols`` (all when None), align on common dates, log returns.

    A single-symbol file read alone takes its symbol from ``symbols`` when exactly one is
    requested; :attr:`MarketData.notes` says how each file not in the long layout was read,
    and which symbols' aligned returns are often exactly zero (unchanged closes).

    Raises
    ------
    DataError
        When a file breaks the rules of its layout (docs/formats.md), a requested symbol is
        absent, or the symbols share fewer than 2 dates.
    """
    requested = list(dict.fromkeys(symbols or []))
    read = _read(url, requested[0] if len(requested) == 1 else None)
    prices = read.prices
    available = sorted(prices["symbol"].unique())
    if symbols:
        unknown = [s for s in symbols if s not in available]
        if unknown:
            raise DataError(f"{url}: unknown symbol(s) {', '.join(unknown)}; "
                            f"available: {', '.join(available)}")
        prices = prices[prices["symbol"].isin(symbols)]
        order = list(dict.fromkeys(symbols))
    else:
        order = available
    wide = prices.pivot(index="date", columns="symbol", values="close")[order]
    common = wide.dropna(how="any").sort_index()
    if len(common) < 2:
        raise DataError(f"{url}: rule 'symbols share common dates' broken: symbols "
                        f"{', '.join(order)} have {len(common)} common date(s)")
    closes = common.to_numpy("float64")
    returns = np.diff(np.log(closes), axis=0)
    dates = common.index.to_numpy("datetime64[ns]")
    return MarketData(
        returns=returns,
        dates=dates,
        symbols=list(order),
        closes=closes,
        fingerprint=fingerprint(prices),
        source=url,
        notes=read.notes + zero_return_notes(returns, dates[1:], list(order)),
        layouts=read.layouts,
    )
