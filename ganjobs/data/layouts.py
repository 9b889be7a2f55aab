"""Price file layouts, each converted to the long layout as soon as the file is read.

Three layouts are read, decided per file (docs/formats.md):

long
    Columns ``date``, ``symbol``, ``close`` (names matched case-insensitively; a
    ``symbol=XXX/`` folder may supply the symbol). Other columns are ignored. A file with a
    symbol column, or in a symbol folder, is always read in this layout.
single-symbol
    No symbol column, a ``Close`` or ``Adj Close`` column: a download of one ticker such as
    ``Date,Open,High,Low,Close,Adj Close,Volume``. Prices come from ``Adj Close`` when the
    file has it (also spelt ``adj_close``, ``adjclose``), else from ``Close``; other columns
    are ignored. The symbol is the one requested when exactly one is requested and the
    input is this one file, else the file name without its extension (``SPY.csv`` → SPY).
wide
    No symbol column and no close column: a date column and one price column per symbol,
    named by the symbol (``Date,SPX,NDX,WTI``).

In the last two a blank or NaN price (see :data:`~ganjobs.data.cells.MISSING_TEXT`) means
that the symbol has no price on that date; alignment on the dates common to all requested
symbols follows as for the long layout. The date column is the one named ``date`` in any
case; in Parquet it may also be the stored pandas index.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganjobs.data.cells import parse_dates, parse_prices
from ganjobs.errors import DataError

LONG = "long"
SINGLE = "single-symbol"
WIDE = "wide"

#: Column keys (lower case, spaces, dots, dashes and underscores removed) of a download.
ADJ_CLOSE, CLOSE = "adjclose", "close"
OTHER_DOWNLOAD_COLUMNS = frozenset({"open", "high", "low", "volume"})
EXTENSIONS = (".csv.gz", ".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class LongFrame:
    """A file's rows in the long layout, with how they were read.

    Attributes
    ----------
    frame : DataFrame
        Columns ``date``, ``symbol``, ``close`` (a long-layout file is passed on as read,
        its columns still to be checked).
    layout : str
        ``"long"``, ``"single-symbol"`` or ``"wide"``.
    note : str or None
        One line for the user saying what was used; None for the long layout.
    """

    frame: pd.DataFrame
    layout: str
    note: str | None = None


def _name(column: object) -> str:
    return str(column).strip().lower()


def _key(column: object) -> str:
    return re.sub(r"[\s._\-]+", "", _name(column))


def is_long(columns: Iterable[object], hive: Mapping[str, str]) -> bool:
    """Whether a file with these columns, in these ``key=value`` folders, is long layout."""
    return (any(_name(c) == "symbol" for c in columns)
            or any(k.lower() == "symbol" for k in hive))


def file_stem(display: str) -> str:
    """File name without its data extension: ``s3://b/x/SPY.csv.gz`` → ``SPY``."""
    base = posixpath.basename(display.rstrip("/"))
    for ext in EXTENSIONS:
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def to_long(display: str, df: pd.DataFrame, hive: Mapping[str, str],
            symbol: str | None = None) -> LongFrame:
    """Detect the layout of one file and convert its rows to the long layout.

    Parameters
    ----------
    display : str
        File name for messages and notes.
    df : DataFrame
        The file as read (text cells for CSV, stored types for Parquet).
    hive : mapping of str to str
        ``key=value`` folder segments above the file.
    symbol : str, optional
        Name for a single-symbol file: the one requested symbol when the input is this file.

    Raises
    ------
    DataError
        Naming the file and the rule: no date column, a repeated column, no rows, an
        unnamed or repeated price column, a bad cell, a symbol with fewer than 2 prices.
    """
    if is_long(df.columns, hive):
        return LongFrame(df, LONG)
    df = _date_index_as_column(df)
    names = [_name(c) for c in df.columns]
    at = [j for j, n in enumerate(names) if n == "date"]
    if len(at) > 1:
        raise DataError(f"{display}: column(s) date appear more than once")
    if not at:
        missing = [c for c in ("date", "symbol", "close") if c not in names]
        raise DataError(f"{display}: missing column(s) {', '.join(missing)}; required: date, "
                        f"symbol, close (long layout), or a date column with Close or Adj Close "
                        f"(single-symbol file) or with one price column per symbol (wide table)")
    if len(df) == 0:
        raise DataError(f"{display}: empty file (no rows)")
    dates = parse_dates(display, df.iloc[:, at[0]]).to_numpy("datetime64[ns]")
    others = [j for j in range(df.shape[1]) if j != at[0]]
    keys = {j: _key(df.columns[j]) for j in others}
    if any(k in (CLOSE, ADJ_CLOSE) for k in keys.values()):
        return _single(display, df, dates, keys, symbol)
    return _wide(display, df, dates, others, keys)


def _date_index_as_column(df: pd.DataFrame) -> pd.DataFrame:
    """A Parquet file written from a date-indexed pandas frame keeps its dates in the index."""
    if any(_name(c) == "date" for c in df.columns):
        return df
    idx = df.index
    if isinstance(idx, pd.DatetimeIndex) or (idx.name is not None and _name(idx.name) == "date"):
        return df.rename_axis("date").reset_index()
    return df


def _single(display: str, df: pd.DataFrame, dates: np.ndarray, keys: dict[int, str],
            symbol: str | None) -> LongFrame:
    for wanted in (ADJ_CLOSE, CLOSE):
        found = [j for j, k in keys.items() if k == wanted]
        if len(found) > 1:
            spelt = ", ".join(repr(str(df.columns[j])) for j in found)
            raise DataError(f"{display}: columns {spelt} all name the same price; a "
                            f"single-symbol file has one Close and at most one Adj Close")
    j = next(j for wanted in (ADJ_CLOSE, CLOSE) for j, k in keys.items() if k == wanted)
    if symbol:
        name, origin = symbol, "as requested"
    else:
        name, origin = file_stem(display).strip(), "from the file name"
        if not name:
            raise DataError(f"{display}: rule 'a single-symbol file is named' broken: no "
                            f"symbol column, no single requested symbol, no file name to use")
    column = str(df.columns[j])
    frame, blanks = _symbol_rows(display, df.iloc[:, j], column, name, dates)
    note = f"{display}: single-symbol file, symbol {name} {origin}, prices from {column!r}"
    return LongFrame(frame, SINGLE, note + _skipped(blanks))


def _wide(display: str, df: pd.DataFrame, dates: np.ndarray, others: list[int],
          keys: dict[int, str]) -> LongFrame:
    if not others:
        raise DataError(f"{display}: no price column; a wide table has a date column and one "
                        f"price column per symbol, named by the symbol")
    download = [str(df.columns[j]) for j in others if keys[j] in OTHER_DOWNLOAD_COLUMNS]
    if download:
        raise DataError(f"{display}: column(s) {', '.join(download)} look like a single-symbol "
                        f"download, but the file has no Close or Adj Close column")
    symbols = [str(df.columns[j]).strip() for j in others]
    for pos, sym in zip(others, symbols, strict=True):
        if not sym:
            raise DataError(f"{display}: column {pos} has no name; in a wide table each price "
                            f"column is named by its symbol")
    dup = sorted({s for s in symbols if symbols.count(s) > 1})
    if dup:
        raise DataError(f"{display}: column(s) {', '.join(dup)} appear more than once")
    frames, blanks = [], 0
    for j, sym in zip(others, symbols, strict=True):
        frame, n = _symbol_rows(display, df.iloc[:, j], str(df.columns[j]), sym, dates)
        frames.append(frame)
        blanks += n
    note = f"{display}: wide table, symbols {', '.join(symbols)}"
    return LongFrame(pd.concat(frames, ignore_index=True), WIDE, note + _skipped(blanks))


def _symbol_rows(display: str, cells: pd.Series, column: str, symbol: str,
                 dates: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Long rows of one symbol from one price column, and how many cells were blank."""
    prices = parse_prices(display, cells.reset_index(drop=True), column)
    keep = ~np.isnan(prices)
    if keep.sum() < 2:
        raise DataError(f"{display}: rule 'at least 2 rows per symbol' broken: symbol "
                        f"{symbol!r} has {int(keep.sum())} price(s) in column {column!r}")
    frame = pd.DataFrame({"date": dates[keep], "symbol": symbol, "close": prices[keep]})
    return frame, int((~keep).sum())


def _skipped(blanks: int) -> str:
    return f"; {blanks} blank price(s) skipped" if blanks else ""
