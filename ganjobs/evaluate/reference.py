"""The real side of every metric, prepared once and shared by all the compared models.

:func:`build_reference` computes, from the real returns of the model's training window (and
the later holdout), everything the models are measured against: the aggregated returns of
the EMD, the ACF and leverage curves with their floors (the scores a model with the market's
own curves gets: see :mod:`ganjobs.evaluate.definitions`), the tail and strategy statistics,
and per symbol (and jointly) the nearest-neighbour index of training windows for the copy
rate and DCR ratio and the real windows of the discriminative score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganjobs.core.seeds import stream
from ganjobs.core.windows import chunks, sliding_windows
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.definitions import ACF_LAGS, EMD_LAGS, MAX_DISC_PER_CLASS, REAL_BLOCK, WINDOW
from ganjobs.evaluate.primitives import acf_curves, aggregate, strategy_stats, tail_stats

#: Random stream of the real windows' subsample for the classifier.
REAL_WINDOWS_STREAM = "real-windows"


@dataclass
class WindowScope:
    """Nearest-neighbour index over training windows of one symbol (or all: joint)."""

    cols: list[int]
    sigma: np.ndarray
    train_raw: np.ndarray  # (N, W, c) float32
    nn: Any
    holdout_median: float
    disc_real: np.ndarray  # (m, W, c)
    disc_groups: np.ndarray


@dataclass
class Reference:
    """Everything computed from the real training (and holdout) returns, shared by models."""

    symbols: list[str]
    horizon: int
    train: np.ndarray
    holdout: np.ndarray
    seed: int
    sigma: np.ndarray
    acf_lags: int
    emd_real: dict[int, list[np.ndarray]] = field(default_factory=dict)
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    real_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    scopes: dict[str, WindowScope] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _curve_floors(ch: np.ndarray, lags: int) -> dict[str, float]:
    """``<curve>_floor``: expected score of a model with the market's true curves (NaN for
    fewer than two chunks)."""
    per = [acf_curves(row[None], lags) for row in ch]
    out = {}
    for key in per[0]:
        c = np.stack([p[key] for p in per])
        if len(c) < 2:
            out[f"{key}_floor"] = float("nan")
            continue
        c = c[:, (np.isfinite(c).sum(axis=0) >= 2)]  # lags a short chunk cannot reach
        se2 = np.nanvar(c, axis=0, ddof=1) / len(c)
        out[f"{key}_floor"] = float(np.sqrt(np.nansum(se2)))
    return out


def monotone_floor(curve: np.ndarray) -> float:
    """Lowest :func:`curve_score` against ``curve`` of any curve that is non-increasing from
    lag 2 on (lag 1 free); NaN when fewer than two lags are defined."""
    from scipy.optimize import isotonic_regression

    c = np.asarray(curve, dtype=np.float64)[1:]
    c = c[np.isfinite(c)]
    if len(c) < 2:
        return float("nan")
    return float(np.linalg.norm(c - isotonic_regression(c, increasing=False).x))


def _real_disc_windows(train: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Real 20-day windows that lie inside one 100-day block, and their block ids."""
    w = sliding_windows(train, WINDOW)
    starts = np.arange(len(w))
    inside = starts // REAL_BLOCK == (starts + WINDOW - 1) // REAL_BLOCK
    starts = starts[inside]
    if len(starts) > MAX_DISC_PER_CLASS:
        starts = np.sort(rng.choice(starts, MAX_DISC_PER_CLASS, replace=False))
    return np.ascontiguousarray(w[starts]), starts // REAL_BLOCK


def scaled_flat(w: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Windows ``(m, L, c)`` divided by σ per symbol, flattened to ``(m, L·c)`` (float64)."""
    return (np.asarray(w, dtype=np.float64) / sigma).reshape(len(w), -1)


def build_reference(train: np.ndarray, symbols: Sequence[str], horizon: int,
                    holdout: np.ndarray | None = None, seed: int = 0) -> Reference:
    """Prepare the real side of every metric once.

    Parameters
    ----------
    train : ndarray, shape (T, k)
        Real log returns of the model's training window.
    symbols : sequence of str
        Column names of ``train``.
    horizon : int
        Path length H of the scenarios that will be compared.
    holdout : ndarray, shape (T_h, k), optional
        Real returns after the training window (for the DCR ratio).
    seed : int
        Seed of the real-window subsampling.

    Returns
    -------
    Reference

    Raises
    ------
    GanjobsError
        Symbol names that do not match the columns, or fewer than 30 training returns.
    """
    from sklearn.neighbors import NearestNeighbors

    train = np.asarray(train, dtype=np.float64)
    if train.ndim == 1:
        train = train[:, None]
    k = train.shape[1]
    if len(symbols) != k:
        raise GanjobsError(f"{len(symbols)} symbol names for {k} return columns")
    if train.shape[0] < max(WINDOW + 1, 30):
        raise GanjobsError(f"training window has {train.shape[0]} returns; need at least 30")
    holdout = (np.empty((0, k)) if holdout is None
               else np.asarray(holdout, dtype=np.float64).reshape(-1, k))
    rng = stream(seed, REAL_WINDOWS_STREAM)
    sigma = train.std(axis=0, ddof=1)
    acf_lags = max(1, min(ACF_LAGS, horizon - 2))
    ref = Reference(symbols=list(symbols), horizon=int(horizon), train=train, holdout=holdout,
                    seed=seed, sigma=sigma, acf_lags=acf_lags)
    if len(train) < horizon:
        ref.notes.append(f"training window ({len(train)} returns) is shorter than the horizon "
                         f"({horizon}); the real ACF uses the whole window as one chunk")
    for lag in EMD_LAGS:
        if lag <= horizon and lag < len(train):
            ref.emd_real[lag] = [aggregate(train[:, j], lag) / (sigma[j] * np.sqrt(lag))
                                 for j in range(k)]
    for j, sym in enumerate(symbols):
        x = train[:, j]
        ch = chunks(x, horizon)
        ref.curves[sym] = acf_curves(ch, acf_lags)
        st = tail_stats(x, aggregate(x, 10))
        st.update(_curve_floors(ch, acf_lags))
        for key in ("acf_abs", "acf_sq"):
            st[f"{key}_monotone_floor"] = monotone_floor(ref.curves[sym][key])
        st["sigma"] = float(sigma[j])
        st["strategies"] = strategy_stats(x, float(sigma[j]))
        ref.real_stats[sym] = st
    if horizon < WINDOW:
        ref.notes.append(f"horizon {horizon} < {WINDOW}: no window metrics")
        return ref
    scopes = {sym: [j] for j, sym in enumerate(symbols)}
    if k > 1:
        scopes["joint"] = list(range(k))
    for name, cols in scopes.items():
        sub = train[:, cols]
        raw = np.ascontiguousarray(sliding_windows(sub, WINDOW)).astype(np.float32)
        nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(
            scaled_flat(raw, sigma[cols]))
        hold_w = sliding_windows(holdout[:, cols], WINDOW)
        if len(hold_w):
            d, _ = nn.kneighbors(scaled_flat(hold_w, sigma[cols]))
            hold_med = float(np.median(d))
        else:
            hold_med = float("nan")
        disc_w, disc_g = _real_disc_windows(sub, rng)
        ref.scopes[name] = WindowScope(cols=cols, sigma=sigma[cols], train_raw=raw, nn=nn,
                                       holdout_median=hold_med, disc_real=disc_w,
                                       disc_groups=disc_g)
    if len(holdout) < WINDOW:
        ref.notes.append(f"holdout has {len(holdout)} returns (< {WINDOW}): no DCR ratio")
    return ref
