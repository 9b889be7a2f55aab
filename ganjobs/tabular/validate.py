"""Loading a table for training or evaluation: read, schema (file or inferred), coerce, check.

Every rule broken raises one :class:`~ganjobs.errors.GanjobsError` naming the file, the
column and the rule, e.g. ``loans.csv: column 'income': mixed types (numbers and text, e.g.
'unknown' in row 17); ...``. Rows are numbered from 1 in table order (the header not counted).

Coerced dtypes: numeric and integer -> float64 (NaN missing; integer holds whole numbers);
categorical -> object of ``str`` (None missing); date -> datetime64[ns] (NaT missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.infer import (
    describe_schema,
    infer_schema,
    mixed_types,
    observed_kind,
    to_numbers,
    value_classes,
)
from ganjobs.tabular.schema import ColumnSpec, TableSchema, load_schema
from ganjobs.tabular.table_io import read_source


@dataclass
class LoadedTable:
    """A checked table: coerced frame (columns in schema order), schema, and provenance."""

    frame: pd.DataFrame
    schema: TableSchema
    source: str
    sha256: str
    notes: list[str] = field(default_factory=list)


def load_table(url: str, schema_url: str | None = None,
               target: str | None = None) -> LoadedTable:
    """Read the table at ``url``, give it a schema, coerce it and check every rule.

    Parameters
    ----------
    url
        A Parquet/CSV file or a published folder (see :func:`~ganjobs.tabular.table_io.read_table`).
    schema_url
        A YAML schema file; without one the schema is inferred
        (:func:`~ganjobs.tabular.infer.infer_schema`) and ``notes`` explains it line by line.
    target
        The label column; overrides the schema file's ``target``.

    Raises
    ------
    GanjobsError
        For an empty table, columns that do not match the schema, mixed types, values of the
        wrong type, an all-missing column, a category with one row, a target with one class or
        missing labels, and values outside the schema's bounds.
    """
    src = read_source(url)
    frame = src.frame
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise GanjobsError(f"{url}: empty table (no {'rows' if frame.shape[1] else 'columns'})")
    if schema_url is None:
        schema = infer_schema(frame, target, source=url)
    else:
        schema = _file_schema(url, frame, schema_url, target)
    coerced = coerce_frame(frame, schema, url, schema_url or "the inferred schema")
    notes = describe_schema(schema, coerced) if schema_url is None else []
    return LoadedTable(coerced, schema, url, src.sha256, notes)


def _file_schema(url: str, frame: pd.DataFrame, schema_url: str,
                 target: str | None) -> TableSchema:
    schema = load_schema(schema_url)
    for name in frame.columns:
        if name not in schema.names:
            raise GanjobsError(f"{url}: column {name!r}: not in the schema {schema_url}; "
                               f"add it there or drop the column")
    for name in schema.names:
        if name not in frame.columns:
            raise GanjobsError(f"{schema_url}: column {name!r}: missing from the table {url}")
    if target is None or target == schema.target:
        return schema
    if target not in schema.names:
        raise GanjobsError(f"{url}: column {target!r}: target not in the table")
    return TableSchema.from_dict({**schema.to_dict(), "target": target}, source=schema_url)


def coerce_frame(frame: pd.DataFrame, schema: TableSchema, source: str,
                 schema_source: str = "the schema") -> pd.DataFrame:
    """Coerce ``frame`` to the schema's dtypes and check every rule (see :func:`load_table`).

    Parameters
    ----------
    frame
        The table as read; it holds every column of ``schema``.
    schema
        Kinds, bounds and target.
    source, schema_source
        Name the table and the schema in error messages.
    """
    out = {}
    for spec in schema.columns:
        where = f"{source}: column {spec.name!r}"
        s = frame[spec.name].reset_index(drop=True)
        if s.isna().all():
            raise GanjobsError(f"{where}: all values are missing")
        out[spec.name] = coerce_column(s, spec, where)
        _check_bounds(out[spec.name], spec, where, schema_source)
        if spec.kind == "categorical":
            _check_categories(out[spec.name], where, spec.name == schema.target)
    return pd.DataFrame(out)


def coerce_column(s: pd.Series, spec: ColumnSpec, where: str) -> pd.Series:
    """One column as its kind's dtype; ``where`` prefixes error messages."""
    if spec.kind == "categorical":
        return _labels(s)
    if spec.kind == "date":
        return _dates(s, where)
    return _numbers(s, spec.kind, where)


def _numbers(s: pd.Series, kind: str, where: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        found = "true/false values" if pd.api.types.is_bool_dtype(s) else "dates"
        raise GanjobsError(f"{where}: declared {kind} but holds {found}")
    if not pd.api.types.is_numeric_dtype(s):
        classes = value_classes(s)
        if len(classes) > 1:
            raise mixed_types(where, s, classes)
        if "number" not in classes:
            row = next(iter(classes.values()))[0]
            raise GanjobsError(f"{where}: declared {kind} but holds text (e.g. "
                               f"{s.iloc[row]!r} in row {row + 1})")
    values = to_numbers(s)
    arr = values.to_numpy()
    bad = np.flatnonzero(np.isinf(arr))
    if bad.size:
        raise GanjobsError(f"{where}: infinite value in row {bad[0] + 1}")
    if kind == "integer":
        bad = np.flatnonzero(~np.isnan(arr) & (arr != np.round(arr)))
        if bad.size:
            raise GanjobsError(f"{where}: declared integer but holds {arr[bad[0]]:g} "
                               f"(row {bad[0] + 1})")
    return values


def _labels(s: pd.Series) -> pd.Series:
    """Category labels as ``str``: whole numbers without ``.0``, missing as None."""
    return pd.Series([_label(v) for v in s.to_numpy(dtype=object)], dtype=object, name=s.name)


def _label(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if value != value:
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _dates(s: pd.Series, where: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.astype("datetime64[ns]")
    kind = observed_kind(s, where)  # refuses mixed types
    parsed = pd.to_datetime(s.astype(object), format="ISO8601", utc=True, errors="coerce")
    failed = s.notna().to_numpy() & parsed.isna().to_numpy()
    if kind != "date" or failed.any():
        row = int(np.flatnonzero(failed)[0]) if failed.any() else 0
        raise GanjobsError(f"{where}: declared date but holds {s.iloc[row]!r} (row {row + 1}); "
                           f"dates are ISO (YYYY-MM-DD)")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def _check_bounds(s: pd.Series, spec: ColumnSpec, where: str, schema_source: str) -> None:
    if spec.minimum is None and spec.maximum is None:
        return
    arr = s.to_numpy(dtype="float64", na_value=np.nan)
    for bound, word, breaks in ((spec.minimum, "below min", np.less),
                                (spec.maximum, "above max", np.greater)):
        if bound is None:
            continue
        bad = np.flatnonzero(breaks(arr, bound))
        if bad.size:
            raise GanjobsError(f"{where}: value {arr[bad[0]]:g} (row {bad[0] + 1}) {word} "
                               f"{bound:g} of {schema_source} ({_rows(bad.size)} out of bounds)")


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _check_categories(s: pd.Series, where: str, is_target: bool) -> None:
    counts = s.value_counts(dropna=True)
    if is_target:
        missing = int(s.isna().sum())
        if missing:
            raise GanjobsError(f"{where}: the target is missing in {_rows(missing)}; label "
                               f"them or drop them")
        if len(counts) < 2:
            raise GanjobsError(f"{where}: the target has one class ({counts.index[0]!r}); "
                               f"two or more are needed")
    single = counts[counts == 1]
    if len(single):
        # Training-by-sampling would draw that row again and again: the GAN would copy it.
        extra = (f" ({len(single):,} categories have one row: an identifier? drop the column)"
                 if len(single) > 1 else "")
        raise GanjobsError(f"{where}: category {single.index[0]!r} has one row; merge it or "
                           f"drop the row{extra}")
