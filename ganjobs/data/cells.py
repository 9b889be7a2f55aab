"""Cell checks shared by every price layout: dates, prices, and the row that broke a rule.

Row numbers in messages count data rows from 0 (the header is not a row), as the file has
them, so that a user can find the bad cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganjobs.errors import DataError

#: Cell texts read as "no price on this date" in the single-symbol and wide layouts
#: (compared after stripping and lower-casing); ``.`` is how FRED downloads mark a gap.
MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "#n/a", "null", "none", "."})
#: Whole days that datetime64[ns] holds.
DATE_MIN = pd.Timestamp.min.ceil("D")
DATE_MAX = pd.Timestamp.max.floor("D")


def first_row(mask: pd.Series | np.ndarray) -> int:
    """Index of the first True in ``mask``."""
    return int(np.argmax(np.asarray(mask, dtype=bool)))


def parse_dates(display: str, col: pd.Series) -> pd.Series:
    """Dates as naive, day-normalised datetime64[ns]; time zones are converted to UTC first.

    Raises
    ------
    DataError
        Naming the first row whose cell is not a date.
    """
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col
    else:
        # utc: offsets that change within a file (summer time) are one column; a date
        # without an offset is taken as UTC, as the dates with one are converted to UTC.
        try:
            out = pd.to_datetime(col.astype("string"), errors="coerce", utc=True, format="mixed")
        except (ValueError, OverflowError, TypeError) as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise DataError(f"{display}: rule 'date is a date' broken ({first})") from exc
    bad = out.isna()
    if bad.any():
        i = first_row(bad)
        raise DataError(f"{display}: rule 'date is a date' broken at row {i} "
                        f"(date={col.iloc[i]!r})")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    out = out.dt.normalize()
    # Parsers may return a coarser unit that holds year 1 or 9999; prices are kept in ns.
    bad = ((out < DATE_MIN) | (out > DATE_MAX)).to_numpy(bool)
    if bad.any():
        i = first_row(bad)
        raise DataError(f"{display}: rule 'date between {DATE_MIN.date()} and "
                        f"{DATE_MAX.date()}' broken at row {i} (date={col.iloc[i]!r})")
    return out.astype("datetime64[ns]")


def parse_prices(display: str, col: pd.Series, column: str) -> np.ndarray:
    """Prices of one column as float64, NaN where the cell is blank or a missing marker.

    Parameters
    ----------
    display : str
        File name for messages.
    col : Series
        The cells, text or numbers.
    column : str
        Column name as the file spells it, for messages.

    Raises
    ------
    DataError
        At the first cell that is neither missing nor a finite positive number.
    """
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = pd.to_numeric(col, errors="coerce").astype("float64")
    else:
        text = col.astype("string").str.strip()
        missing = (text.isna() | text.str.lower().isin(MISSING_TEXT)).to_numpy(bool)
        values = pd.to_numeric(text.mask(missing), errors="coerce").astype("float64")
        bad = values.isna().to_numpy() & ~missing
        if bad.any():
            i = first_row(bad)
            raise DataError(f"{display}: rule 'price is a number or blank' broken at row {i}, "
                            f"column {column!r} (value={col.iloc[i]!r})")
    arr = values.to_numpy("float64")
    present = ~np.isnan(arr)
    for rule, bad in (("price is finite", present & np.isinf(arr)),
                      ("price > 0", present & (arr <= 0))):
        if bad.any():
            i = first_row(bad)
            raise DataError(f"{display}: rule '{rule}' broken at row {i}, column {column!r} "
                            f"(value={arr[i]})")
    return arr
