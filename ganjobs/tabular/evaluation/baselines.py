"""Baseline synthetic tables a model must beat, all built from the real train rows only.

``independent``
    every column resampled on its own from the train values (missing values included, so
    each column keeps its missing rate); all dependence between columns is lost.
``gaussian_copula``
    the approach of the Synthetic Data Vault: each column is mapped to a normal score
    (continuous: its empirical CDF; categorical: levels get consecutive intervals of [0, 1]
    by frequency, a row a uniform draw inside its level's interval), the normal scores'
    correlation is estimated and sampled from, and the samples go back through the empirical
    quantiles (categoricals: the level whose interval holds the draw). A continuous column with
    missing values gets a missing/present pseudo column treated like a categorical one, and
    its missing rows' normal score is 0 for the correlation.
``smote``
    SMOTE-style interpolation: a random train row and one of its 5 nearest neighbours of the
    same target class (distance features of :mod:`.encode`); continuous values are
    interpolated with one ``u ~ U(0, 1)`` per new row (taken from either side when one is
    missing), categorical values copied from either row at random.
``real_train``
    the train rows themselves, drawn without replacement (at most every train row): the
    ceiling of fidelity and utility and the floor of privacy.

Every table has the schema's columns in the synthetic output dtypes and stays within the
schema's bounds (values are interpolated between, or copied from, real values).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special
from sklearn.neighbors import NearestNeighbors

from ganjobs.core.seeds import stream
from ganjobs.errors import GanjobsError
from ganjobs.tabular.evaluation.encode import (
    MISSING,
    Columns,
    TableEncoder,
    canonical,
    take,
    to_frame,
)

BASELINES: tuple[str, ...] = ("independent", "gaussian_copula", "smote", "real_train")
_NEIGHBOURS = 5
_U_CLIP = 1e-6


def baseline_tables(train: pd.DataFrame, schema, n: int, seed: int) -> dict[str, pd.DataFrame]:
    """Every baseline table, ``n`` rows each (``real_train``: at most the train rows).

    Parameters
    ----------
    train : pandas.DataFrame
        The real train rows (coerced dtypes).
    schema : TableSchema
        Columns and target of the table.
    n : int
        Rows per table (usually the synthetic set's size).
    seed : int
        Seed; each baseline draws from its own stream of it.

    Returns
    -------
    dict of str to pandas.DataFrame
        Keyed by :data:`BASELINES`, in that order.
    """
    if n < 1:
        raise GanjobsError(f"baselines: the number of rows must be positive, got {n}")
    if len(train) < 2:
        raise GanjobsError("baselines: the real train part needs at least 2 rows")
    cols = canonical(train.reset_index(drop=True), schema, "real train rows")
    makers: dict[str, Callable[[Columns, object, int, np.random.Generator], Columns]] = {
        "independent": independent, "gaussian_copula": gaussian_copula, "smote": smote,
        "real_train": real_train}
    out = {}
    for name, make in makers.items():
        out[name] = to_frame(make(cols, schema, n, stream(seed, f"baseline-{name}")), schema)
    return out


def independent(cols: Columns, schema, n: int, rng: np.random.Generator) -> Columns:
    """Each column drawn with replacement from its own train values."""
    m = len(next(iter(cols.values())))
    return {name: cols[name][rng.integers(0, m, n)] for name in schema.names}


def real_train(cols: Columns, schema, n: int, rng: np.random.Generator) -> Columns:
    """Train rows without replacement, at most all of them, in a random order."""
    m = len(next(iter(cols.values())))
    rows = rng.permutation(m)[: min(n, m)]
    return take(cols, rows)


# --------------------------------------------------------------------------------------------
# Gaussian copula
# --------------------------------------------------------------------------------------------


def gaussian_copula(cols: Columns, schema, n: int, rng: np.random.Generator) -> Columns:
    """Gaussian copula over normal scores with empirical marginals (see the module doc)."""
    scores, inverses = [], []
    for spec in schema.columns:
        x = cols[spec.name]
        if spec.kind == "categorical":
            z, inv = _categorical_scores(x, rng)
            scores.append(z)
            inverses.append(inv)
            continue
        miss = np.isnan(x)
        z, inv = _continuous_scores(x, miss, spec.kind)
        scores.append(z)
        if miss.any():
            flags = np.where(miss, "missing", "present").astype(object)
            mz, minv = _categorical_scores(flags, rng)
            scores.append(mz)
            inverses.append(_with_missing(inv, minv))
        else:
            inverses.append(inv)
    corr = _correlation(np.column_stack(scores))
    draws = rng.multivariate_normal(np.zeros(len(corr)), corr, size=n, method="eigh")
    u = np.clip(special.ndtr(draws), _U_CLIP, 1.0 - _U_CLIP)
    out, j = {}, 0
    for spec, inv in zip(schema.columns, inverses, strict=True):
        width = getattr(inv, "width", 1)
        out[spec.name] = inv(u[:, j:j + width])
        j += width
    return out


def _categorical_scores(x: np.ndarray, rng: np.random.Generator):
    """Normal scores of a categorical column and the function mapping uniforms back."""
    keys = np.array([MISSING if v is None else v for v in x], dtype=object)
    levels, counts = np.unique(keys, return_counts=True)
    order = np.lexsort((levels, -counts))  # most frequent first, ties by name
    levels, counts = levels[order], counts[order]
    upper = np.cumsum(counts) / counts.sum()
    lower = upper - counts / counts.sum()
    index = {level: i for i, level in enumerate(levels)}
    codes = np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))
    u = lower[codes] + rng.random(len(keys)) * (upper[codes] - lower[codes])
    values = np.array([None if level == MISSING else level for level in levels], dtype=object)

    def inverse(uu: np.ndarray) -> np.ndarray:
        pick = np.minimum(np.searchsorted(upper, uu[:, 0], side="right"), len(values) - 1)
        return values[pick]

    return special.ndtri(np.clip(u, _U_CLIP, 1.0 - _U_CLIP)), inverse


def _continuous_scores(x: np.ndarray, miss: np.ndarray, kind: str):
    v = np.sort(x[~miss])
    ranks = (np.searchsorted(v, x, side="left") + np.searchsorted(v, x, side="right")) / 2.0
    z = special.ndtri(np.clip(ranks / v.size, _U_CLIP, 1.0 - _U_CLIP))
    z = np.where(miss, 0.0, z)
    whole = kind == "integer" or (kind == "date" and np.all(v == np.round(v)))

    def inverse(uu: np.ndarray) -> np.ndarray:
        out = np.quantile(v, uu[:, 0])
        return np.round(out) if whole else out

    return z, inverse


def _with_missing(value_inverse, missing_inverse):
    """Inverse over (value, missing-flag) columns: NaN where the flag says missing."""

    def inverse(uu: np.ndarray) -> np.ndarray:
        values = value_inverse(uu[:, :1])
        flags = missing_inverse(uu[:, 1:2])
        return np.where(flags == "missing", np.nan, values)

    inverse.width = 2  # type: ignore[attr-defined]
    return inverse


def _correlation(z: np.ndarray) -> np.ndarray:
    """Correlation of the normal scores, made positive definite (constant columns: 0)."""
    sd = z.std(axis=0)
    zc = (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    corr = (zc.T @ zc) / len(z)
    np.fill_diagonal(corr, 1.0)
    w, vecs = np.linalg.eigh(corr)
    corr = (vecs * np.maximum(w, 1e-6)) @ vecs.T
    d = np.sqrt(np.diag(corr))
    return corr / np.outer(d, d)


# --------------------------------------------------------------------------------------------
# SMOTE
# --------------------------------------------------------------------------------------------


def smote(cols: Columns, schema, n: int, rng: np.random.Generator) -> Columns:
    """SMOTE-style interpolation within target classes (see the module doc)."""
    m = len(next(iter(cols.values())))
    feats = TableEncoder.fit(cols, schema).distances(cols)
    neighbour_of = _class_neighbours(cols, schema.target, feats, m)
    base = rng.integers(0, m, n)
    mate = neighbour_of[base, rng.integers(0, neighbour_of.shape[1], n)]
    u = rng.random(n)
    out = {}
    for spec in schema.columns:
        a, b = cols[spec.name][base], cols[spec.name][mate]
        pick_b = rng.random(n) < 0.5
        if spec.kind == "categorical":
            out[spec.name] = np.where(pick_b, b, a)
            continue
        both = ~(np.isnan(a) | np.isnan(b))
        mixed = a + u * (b - a)
        if spec.kind == "integer" or (spec.kind == "date" and _whole(cols[spec.name])):
            mixed = np.round(mixed)
        out[spec.name] = np.where(both, mixed, np.where(pick_b, b, a))
    return out


def _whole(x: np.ndarray) -> bool:
    v = x[~np.isnan(x)]
    return bool(np.all(v == np.round(v)))


def _class_neighbours(cols: Columns, target: str | None, feats: np.ndarray,
                      m: int) -> np.ndarray:
    """``(m, k)`` row indices of each row's nearest same-class rows (itself if alone)."""
    if target is None:
        groups = [np.arange(m)]
    else:
        keys = np.array([MISSING if v is None else v for v in cols[target]], dtype=object)
        groups = [np.flatnonzero(keys == level) for level in np.unique(keys)]
    out = np.empty((m, _NEIGHBOURS), dtype=np.int64)
    for rows in groups:
        if rows.size == 1:
            out[rows] = rows[0]
            continue
        k = min(_NEIGHBOURS + 1, rows.size)
        nn = NearestNeighbors(n_neighbors=k).fit(feats[rows])
        idx = nn.kneighbors(feats[rows], return_distance=False)[:, 1:]
        # Fewer than 5 same-class neighbours: repeat them to fill the table.
        idx = np.resize(idx.T, (_NEIGHBOURS, rows.size)).T if idx.shape[1] < _NEIGHBOURS else idx
        out[rows] = rows[idx]
    return out
