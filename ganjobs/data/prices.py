"""Market-price ingest (CONTRACTS §2): read, validate, align, log returns, fingerprint."""

from __future__ import annotations

import hashlib
import io
import posixpath
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
        sha256 of the canonical (symbol, date, close) table, independent of file format.
    """

    returns: np.ndarray
    dates: np.ndarray
    symbols: list[str]
    closes: np.ndarray
    fingerprint: str
    source: str

    @property
    def first_date(self) -> str:
        return str(pd.Timestamp(self.dates[0]).date())

    @property
    def last_date(self) -> str:
        return str(pd.Timestamp(self.dates[-1]).date())

    def data_record(self) -> dict[str, str]:
        """The ``data`` block that manifests and model folders record."""
        return {
            "location": self.source,
            "sha256": self.fingerprint,
            "first_date": self.first_date,
            "last_date": self.last_date,
        }


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
                        f"required: date, symbol, close")
    if len(df) == 0:
        raise DataError(f"{display}: empty file (no rows)")
    df = df[list(REQUIRED)].copy()

    sym = df["symbol"].astype("string").str.strip()
    bad = sym.isna() | (sym == "")
    if bad.any():
        raise DataError(f"{display}: rule 'symbol is non-empty' broken at row {_row(bad)}")
    df["symbol"] = sym.astype(str)

    close = pd.to_numeric(df["close"], errors="coerce")
    bad = close.isna()
    if bad.any():
        i = _row(bad)
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

    dates = _parse_dates(display, df["date"])
    df["date"] = dates
    return df


def _parse_dates(display: str, col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col
    else:
        out = pd.to_datetime(col.astype("string"), errors="coerce", utc=False, format="mixed")
    bad = out.isna()
    if bad.any():
        i = _row(bad)
        raise DataError(f"{display}: rule 'date is a date' broken at row {i} "
                        f"(date={col.iloc[i]!r})")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.dt.normalize().astype("datetime64[ns]")


def _row(mask: pd.Series) -> int:
    return int(np.argmax(mask.to_numpy()))


def read_prices(url: str) -> pd.DataFrame:
    """Read and validate long-layout prices from a file or folder/prefix.

    Returns
    -------
    DataFrame
        Columns ``date`` (datetime64), ``symbol`` (str), ``close`` (float64), sorted by
        (symbol, date). Unsorted input is sorted; duplicates are refused.
    """
    fs, root = filesystem(url)
    frames = []
    for display, path in _list_files(url):
        rel = posixpath.relpath(path, root) if path != root else posixpath.basename(path)
        df = _read_table(display, fs, path)
        df = _validate_frame(display, df, _hive_values(rel))
        df["_file"] = display
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["symbol", "date"], keep="first")
    if dup.any():
        i = _row(dup)
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
    return (df.drop(columns="_file").sort_values(["symbol", "date"], kind="stable")
            .reset_index(drop=True))


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

    Raises
    ------
    DataError
        When the input breaks CONTRACTS §2, a requested symbol is absent, or the symbols
        share fewer than 2 dates.
    """
    prices = read_prices(url)
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
    return MarketData(
        returns=returns,
        dates=common.index.to_numpy("datetime64[ns]"),
        symbols=list(order),
        closes=closes,
        fingerprint=fingerprint(prices),
        source=url,
    )
