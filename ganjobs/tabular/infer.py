"""A schema inferred from the data, when no schema file is given, and the lines that explain it.

Rules, column by column (missing values are ignored; a column of missing values only is
refused):

- true/false values, or text -> ``categorical``;
- numbers (or text that all parses as numbers, as CSV cells do) -> ``integer`` when every
  value is whole, else ``numeric``. Numbers never become categorical by inference, however
  few their values: counts such as "inquiries in the last 6 months" keep their order, and a
  rare value is not oversampled by the GAN's training-by-sampling. Declare the column
  ``categorical`` in a schema file when the numbers are codes;
- dates, or text that all parses as ISO dates (``YYYY-MM-DD``, optionally with a time)
  -> ``date``;
- a numeric or integer column without negative values gets ``min 0`` (amounts, counts and
  rates are not negative); no maximum is inferred;
- the target is categorical: text, true/false, or whole numbers with at most
  :data:`MAX_TARGET_CLASSES` values (class codes such as 0/1).

A column whose values are of different types (some parse as numbers, others do not; or
Python objects of different types) is refused: the data is ambiguous, so the user decides.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.schema import ColumnSpec, TableSchema

#: Most distinct whole numbers a numeric target may hold (more is not a class label).
MAX_TARGET_CLASSES = 20
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"


def infer_schema(df: pd.DataFrame, target: str | None = None, *,
                 source: str = "table") -> TableSchema:
    """Infer each column's kind and bounds (rules in the module docstring).

    Parameters
    ----------
    df
        The table as read (see :func:`ganjobs.tabular.table_io.read_table`).
    target
        The label column (good/bad), made categorical; ``None`` for none.
    source
        Names the table in error messages.

    Raises
    ------
    GanjobsError
        For an unknown target, a column with no values, a column of mixed types, or a target
        that cannot be a class label.
    """
    if target is not None and target not in df.columns:
        raise GanjobsError(f"{source}: column {target!r}: target not in the table "
                           f"(columns: {', '.join(map(str, df.columns))})")
    specs = tuple(_infer_column(str(name), df[name], source, name == target)
                  for name in df.columns)
    return TableSchema(specs, target)


def _infer_column(name: str, s: pd.Series, source: str, is_target: bool) -> ColumnSpec:
    where = f"{source}: column {name!r}"
    values = s.dropna()
    if values.empty:
        raise GanjobsError(f"{where}: all values are missing")
    kind = observed_kind(s, where)
    if is_target:
        _check_label(s, kind, where)
        return ColumnSpec(name, "categorical")
    if kind in ("numeric", "integer"):
        numbers = to_numbers(s)
        minimum = 0.0 if float(numbers.min()) >= 0 else None
        return ColumnSpec(name, kind, minimum=minimum)
    return ColumnSpec(name, kind)


def _check_label(s: pd.Series, kind: str, where: str) -> None:
    """Refuse a target that cannot be a class label."""
    if kind == "categorical":
        return
    if kind == "integer":
        distinct = to_numbers(s).nunique()
        if distinct <= MAX_TARGET_CLASSES:
            return
        raise GanjobsError(f"{where}: cannot be the target: it holds {distinct} distinct "
                           f"numbers; a target is a class label such as good/bad")
    raise GanjobsError(f"{where}: cannot be the target: it holds {kind} values; a target is "
                       f"a class label such as good/bad")


def observed_kind(s: pd.Series, where: str) -> str:
    """The kind the values of ``s`` show: numeric, integer, categorical or date.

    Raises
    ------
    GanjobsError
        For a column of mixed types.
    """
    if pd.api.types.is_bool_dtype(s):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if pd.api.types.is_numeric_dtype(s):
        return _number_kind(s)
    classes = value_classes(s)
    if len(classes) > 1:
        raise mixed_types(where, s, classes)
    only = next(iter(classes))
    if only == "number":
        return _number_kind(to_numbers(s))
    if only == "date" or (only == "text" and _all_iso_dates(s)):
        return "date"
    return "categorical"


def _number_kind(s: pd.Series) -> str:
    values = s.dropna().to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    return "integer" if np.all(finite == np.round(finite)) else "numeric"


def value_classes(s: pd.Series) -> dict[str, tuple[int, int]]:
    """For each class of value in ``s`` (number, text, bool, date): its first row and count.

    Text that parses as a number counts as a number, as a CSV cell does. Rows are numbered
    from 0 in table order; missing values are skipped.
    """
    out: dict[str, tuple[int, int]] = {}
    for pos, value in enumerate(s.to_numpy(dtype=object)):
        cls = _value_class(value)
        if cls is not None:
            first, count = out.get(cls, (pos, 0))
            out[cls] = (first, count + 1)
    return out


def _value_class(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.number):
        return None if value != value else "number"  # NaN is missing
    if isinstance(value, dt.date | pd.Timestamp | np.datetime64):
        return "date"
    if isinstance(value, str):
        return "number" if _parses_as_number(value) else "text"
    return "text"


def _parses_as_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def mixed_types(where: str, s: pd.Series,
                classes: dict[str, tuple[int, int]]) -> GanjobsError:
    """The error for a column whose values are of several classes (see :func:`value_classes`)."""
    names = {"number": "numbers", "text": "text", "bool": "true/false", "date": "dates"}
    kinds = sorted(classes, key=lambda k: classes[k][0])
    odd = min(kinds, key=lambda k: classes[k][1])  # the rarest class is the likeliest intruder
    row = classes[odd][0]
    return GanjobsError(
        f"{where}: mixed types ({' and '.join(names[k] for k in kinds)}, e.g. "
        f"{s.iloc[row]!r} in row {row + 1}); fix the values or declare the column's type "
        f"in a schema file")


def to_numbers(s: pd.Series) -> pd.Series:
    """``s`` as float64 (text parsed as numbers; anything else becomes NaN)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    return pd.to_numeric(s.astype(object).map(_number_or_nan), errors="coerce").astype(
        "float64")


def _number_or_nan(value: object) -> float:
    if isinstance(value, bool | np.bool_) or value is None or value is pd.NA:
        return np.nan
    if isinstance(value, int | float | np.number):
        return float(value)
    if isinstance(value, str) and _parses_as_number(value):
        return float(value.strip())
    return np.nan


def _all_iso_dates(s: pd.Series) -> bool:
    text = s.dropna().astype(str)
    if not text.str.match(_ISO_DATE).all():
        return False
    return bool(pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).notna().all())


def describe_schema(schema: TableSchema, frame: pd.DataFrame | None = None) -> list[str]:
    """One printable line per column: name, type, bounds and, given the frame, why.

    Parameters
    ----------
    schema
        The schema to describe.
    frame
        The (coerced) table the schema was inferred from; when given, each line says what in
        the data led to the type and the bounds, e.g.
        ``annual_inc: numeric, min 0 (1,459 distinct values; no negative values seen)``.
    """
    return [_describe(spec, schema, frame) for spec in schema.columns]


def _describe(spec: ColumnSpec, schema: TableSchema, frame: pd.DataFrame | None) -> str:
    text = f"{spec.name}: {spec.kind}"
    if spec.name == schema.target:
        text += ", target"
    if spec.minimum is not None:
        text += f", min {spec.minimum:g}"
    if spec.maximum is not None:
        text += f", max {spec.maximum:g}"
    if frame is None or spec.name not in frame.columns:
        return text
    return f"{text} ({_why(spec, frame[spec.name])})"


def _why(spec: ColumnSpec, s: pd.Series) -> str:
    values = s.dropna()
    missing = len(s) - len(values)
    parts: list[str] = []
    if spec.kind == "categorical":
        counts = values.astype(str).value_counts()
        shown = ", ".join(f"{k} {v:,}" for k, v in counts.head(3).items())
        more = ", ..." if len(counts) > 3 else ""
        parts.append(f"{len(counts)} values: {shown}{more}")
    elif spec.kind == "date":
        dates = pd.to_datetime(values)
        parts.append(f"dates {dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}")
    else:
        what = "whole numbers" if spec.kind == "integer" else "decimals"
        parts.append(f"{what}, {values.nunique():,} distinct values")
        if spec.minimum == 0.0 and float(to_numbers(values).min()) >= 0:
            parts.append("no negative values seen")
    if missing:
        parts.append(f"{missing:,} missing")
    return "; ".join(parts)
