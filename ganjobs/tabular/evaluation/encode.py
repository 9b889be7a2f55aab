"""One numeric encoding of a table, fitted on the real train rows.

Two views of the same fitted statistics:

*Model features* (classifiers: detection and the default models)
    continuous columns (numeric, integer, dates as days) go through a quantile-normal map of the
    real train values, missing values take the median (0 after the map) plus a 0/1 missing
    indicator; categorical columns are one-hot with missing as a level of its own and levels
    unseen in real train ignored (all zeros). The quantile-normal map was chosen over
    standardising because credit amounts are heavy-tailed: standardised, a few large incomes
    would dominate a logistic regression and a synthetic value far outside the real range
    would be a huge leverage point; after the map every column is on the same bounded normal
    scale. Gradient boosting is unaffected (the map is monotone).
*Tree features* (gradient boosting: detection and the boosting default model)
    the same fitted statistics, without expansion: continuous columns quantile-normal with
    missing values left missing (the trees learn a branch for them), categorical columns as
    level codes for native categorical splits (missing: its level; unseen: one more code). It
    holds the information of the model features in a few times fewer columns, which is what
    makes five-fold detection affordable on wide tables.
*Distance features* (privacy: distances to the closest record)
    all columns, the target included; a continuous column is centred on its real train median
    and divided by its interquartile range (the range when the IQR is 0, 1 when both are), a
    missing value is the median plus an indicator worth 1; a categorical column is one-hot
    divided by sqrt(2), so two rows with different levels are at distance exactly 1 on it (an
    extra slot takes levels unseen in real train). The distance is Euclidean.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

from ganjobs.errors import GanjobsError

#: Categorical level standing for a missing value.
MISSING = "\x00missing"
_NS_PER_DAY = 86_400 * 10**9
_QUANTILES = 1000
_P_CLIP = 1e-4  # the quantile-normal map stays within about +-3.7
_MAX_TREE_LEVELS = 254  # levels + the unseen code must fit HistGradientBoosting's 255 bins


Columns = dict[str, np.ndarray]
"""A table as arrays: continuous columns float64 (NaN missing, dates in days since the epoch),
categorical columns object arrays of ``str`` with ``None`` for missing."""


@contextmanager
def single_thread() -> Iterator[None]:
    """Native libraries (OpenMP, BLAS) on one thread.

    On a shared machine OpenMP's spinning threads slow gradient boosting down tenfold when
    another process holds a core; alone, one thread costs about 20%.
    """
    with threadpool_limits(limits=1):
        yield


def canonical(frame: pd.DataFrame, schema, source: str = "table") -> Columns:
    """The schema's columns of ``frame`` as plain arrays (see :data:`Columns`).

    Accepts the contract's input dtypes (integers as whole floats) and output dtypes
    (``Int64``) alike, so real and synthetic tables compare value for value.

    Raises
    ------
    GanjobsError
        If a schema column is absent or a continuous column holds text.
    """
    out: Columns = {}
    for spec in schema.columns:
        if spec.name not in frame.columns:
            raise GanjobsError(f"{source}: column {spec.name} of the schema is missing")
        col = frame[spec.name]
        if spec.kind == "categorical":
            out[spec.name] = _text(col)
        elif spec.kind == "date":
            out[spec.name] = _days(col, source)
        else:
            try:
                out[spec.name] = col.to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise GanjobsError(f"{source}: column {spec.name}: {spec.kind} column holds "
                                   "values that are not numbers") from exc
    return out


def _text(col: pd.Series) -> np.ndarray:
    values = col.astype(object).to_numpy()
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[:] = [None if m else str(v) for v, m in zip(values, missing, strict=True)]
    return out


def _days(col: pd.Series, source: str) -> np.ndarray:
    try:
        stamps = pd.to_datetime(col)
    except (TypeError, ValueError) as exc:
        raise GanjobsError(f"{source}: column {col.name}: date column holds values that are "
                           "not dates") from exc
    ns = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
    ns[stamps.isna().to_numpy()] = np.nan
    return ns / _NS_PER_DAY


def days_to_dates(days: np.ndarray) -> pd.Series:
    """Inverse of the date encoding: days since the epoch (NaN missing) to ``datetime64[ns]``."""
    ns = np.where(np.isnan(days), 0.0, np.round(days * _NS_PER_DAY))
    out = pd.Series(ns.astype(np.int64).astype("datetime64[ns]"))
    out[np.isnan(days)] = pd.NaT
    return out


def to_frame(columns: Mapping[str, np.ndarray], schema) -> pd.DataFrame:
    """A frame in the synthetic output dtypes of the contract from :data:`Columns`.

    numeric -> float64; integer -> ``Int64`` (rounded); categorical -> object of str with
    None for missing; date -> ``datetime64[ns]``.
    """
    data = {}
    for spec in schema.columns:
        values = np.asarray(columns[spec.name])
        if spec.kind == "categorical":
            data[spec.name] = pd.Series(values, dtype=object)
        elif spec.kind == "date":
            data[spec.name] = days_to_dates(values.astype(np.float64))
        elif spec.kind == "integer":
            data[spec.name] = pd.array(np.round(values.astype(np.float64)), dtype="Int64")
        else:
            data[spec.name] = values.astype(np.float64)
    return pd.DataFrame(data)


def text_codes(values: np.ndarray, levels: Mapping[str, int]) -> np.ndarray:
    """Integer codes of categorical values; missing -> ``levels[MISSING]``, unseen -> -1."""
    return np.fromiter((levels.get(MISSING if v is None else v, -1) for v in values),
                       dtype=np.int64, count=len(values))


@dataclass(frozen=True)
class _Continuous:
    name: str
    median: float
    scale: float
    quantiles: np.ndarray
    references: np.ndarray

    def normal(self, x: np.ndarray) -> np.ndarray:
        """Quantile-normal map (ties take the middle of their quantile range)."""
        q, r = self.quantiles, self.references
        p = 0.5 * (np.interp(x, q, r) - np.interp(-x, -q[::-1], -r[::-1]))
        return special.ndtri(np.clip(p, _P_CLIP, 1.0 - _P_CLIP))


@dataclass(frozen=True)
class TableEncoder:
    """Encoding statistics fitted on real train (build with :meth:`fit`).

    ``features`` leaves out ``excluded`` (the target for the default models); ``distances``
    always covers every column.
    """

    continuous: tuple[_Continuous, ...]
    categorical: tuple[tuple[str, dict[str, int]], ...]
    excluded: frozenset[str]

    @classmethod
    def fit(cls, train: Columns, schema, *, exclude: tuple[str, ...] = ()) -> TableEncoder:
        """Fit on the canonical real train columns (:func:`canonical`)."""
        cont = []
        for name in schema.continuous:
            cont.append(_fit_continuous(name, train[name]))
        cats = []
        for name in schema.categorical:
            seen = sorted({v for v in train[name] if v is not None})
            cats.append((name, {level: i for i, level in enumerate([*seen, MISSING])}))
        return cls(tuple(cont), tuple(cats), frozenset(exclude))

    def features(self, cols: Columns) -> np.ndarray:
        """Model features ``(n, d)`` float64."""
        blocks = []
        for c in self.continuous:
            if c.name in self.excluded:
                continue
            x = cols[c.name]
            miss = np.isnan(x)
            blocks.append(np.where(miss, 0.0, c.normal(np.where(miss, c.median, x)))[:, None])
            blocks.append(miss[:, None].astype(np.float64))
        for name, levels in self.categorical:
            if name in self.excluded:
                continue
            blocks.append(_one_hot(text_codes(cols[name], levels), len(levels)))
        return np.hstack(blocks) if blocks else np.zeros((_rows(cols), 0))

    def tree_features(self, cols: Columns) -> np.ndarray:
        """Tree features ``(n, d)`` float64; :meth:`tree_categorical` marks their columns."""
        blocks = []
        for c in self.continuous:
            if c.name not in self.excluded:
                x = cols[c.name]
                blocks.append(np.where(np.isnan(x), np.nan, c.normal(x)))
        for name, levels in self.categorical:
            if name not in self.excluded:
                codes = text_codes(cols[name], levels)
                blocks.append(np.where(codes < 0, len(levels), codes).astype(np.float64))
        return np.column_stack(blocks) if blocks else np.zeros((_rows(cols), 0))

    def tree_categorical(self) -> np.ndarray:
        """Boolean mask of the tree features given as categorical codes.

        Native categorical splits take at most 255 codes; a column with more levels keeps
        its codes as ordinal values.
        """
        mask = [False for c in self.continuous if c.name not in self.excluded]
        mask += [len(levels) < _MAX_TREE_LEVELS for name, levels in self.categorical
                 if name not in self.excluded]
        return np.array(mask, dtype=bool)

    def distances(self, cols: Columns) -> np.ndarray:
        """Distance features ``(n, d)`` float64 (every column, target included)."""
        blocks = []
        for c in self.continuous:
            x = cols[c.name]
            miss = np.isnan(x)
            blocks.append(((np.where(miss, c.median, x) - c.median) / c.scale)[:, None])
            blocks.append(miss[:, None].astype(np.float64))
        for name, levels in self.categorical:
            codes = text_codes(cols[name], levels)
            codes = np.where(codes < 0, len(levels), codes)  # the unseen slot
            blocks.append(_one_hot(codes, len(levels) + 1) / np.sqrt(2.0))
        return np.hstack(blocks)


def _fit_continuous(name: str, x: np.ndarray) -> _Continuous:
    v = x[~np.isnan(x)]
    if v.size == 0:
        raise GanjobsError(f"real train rows: column {name} has no values")
    q25, median, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    scale = q75 - q25
    if scale <= 0:
        scale = float(v.max() - v.min()) or 1.0
    refs = np.linspace(0.0, 1.0, min(_QUANTILES, v.size))
    return _Continuous(name, float(median), float(scale), np.quantile(v, refs), refs)


def _one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((codes.size, width))
    ok = codes >= 0
    out[np.flatnonzero(ok), codes[ok]] = 1.0
    return out


def _rows(cols: Columns) -> int:
    return len(next(iter(cols.values())))


def take(cols: Columns, rows: np.ndarray) -> Columns:
    """The given rows of every column."""
    return {name: values[rows] for name, values in cols.items()}
