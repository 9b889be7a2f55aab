"""Scenario-quality metrics, computed identically for the project's paths and every baseline.

Everything compares synthetic log-return paths ``(n, H, k)`` with the real returns of the
model's training window ``(T, k)``. The real side is prepared once (:func:`build_reference`)
and shared by all models, so every model is measured against exactly the same numbers.

Metric definitions (per symbol unless marked *joint*)
-----------------------------------------------------
``emd_{1,5,20,100}d``
    Wasserstein-1 distance between t-day aggregated returns, both sides divided by the real
    daily σ·√t (QuantGAN's EMD, unit free). Real: overlapping windows of the training series;
    synthetic: overlapping windows inside each path. Lags longer than H are skipped.
``acf_r``, ``acf_abs``, ``acf_sq``
    ‖mean ACF(synthetic) − mean ACF(real)‖₂ over lags 1–50 of r, |r| and r². The ACF is the
    usual biased estimator computed *per path*, and the real side is computed the same way on
    non-overlapping chunks of the training series of length H, then averaged, so both sides
    carry the same finite-length bias.
``leverage``
    The same norm for the per-path cross-correlation corr(r_t, r²_{t+k}), k = 1–20.
``*_floor`` (real side of the four curve scores)
    The score a *perfect* model would get in expectation: the real curve is a mean over only
    m chunks and carries sampling noise, so a model whose true curve equals the market's
    still scores √(Σ_k SE_k²), SE_k the standard error of the real mean at lag k over the m
    chunks (assumed independent, which understates it when volatility regimes span chunks).
    A score below the floor means reproducing this sample's noise — what a bootstrap of the
    same history does.
``acf_abs_monotone_floor``, ``acf_sq_monotone_floor``
    A hard bound instead of an expectation: the distance from the real curve to the nearest
    curve that does not rise with the lag from lag 2 on (lag 1 left free: index returns' |r|
    autocorrelation dips at lag 1), by isotonic regression. The ACF of |r| and r² of GARCH
    and stochastic-volatility models decays with the lag (and so do the project's curves, up
    to their estimation noise), so such a model cannot score below it on this sample; only
    one that reproduces the real curve's lag-to-lag noise can, which means reusing history.
``var99_1d``, ``es975_1d``, ``var99_10d``, ``es975_10d`` (+ ``_relerr``)
    Loss-side VaR 99% (−1% quantile) and ES 97.5% (−mean below the 2.5% quantile) of 1-day
    and overlapping 10-day returns, and their relative error |synthetic − real| / |real|.
``kurtosis``, ``skew``
    Excess kurtosis and skewness of daily returns (shown beside the real values).
``strategy_relerr``
    A small strategy book run over 100-day windows: buy-and-hold; 10-day momentum (position
    = sign of the last 10 days' return); 10-day mean reversion (minus that); volatility
    targeting (position = real daily σ / σ of the last 20 days, capped at 3). Positions use
    trailing data only; windows start after the 20-day warm-up. Mean relative error of the
    VaR 5% and ES 5% of the window P&L over the 4 strategies × 2 measures.
``discriminative``
    TimeGAN's post-hoc score |accuracy − 0.5| of a gradient-boosted classifier
    (:class:`sklearn.ensemble.HistGradientBoostingClassifier`) telling 20-day real windows from
    synthetic ones, 3-fold grouped cross-validation with balanced classes (accuracy pooled
    over the out-of-fold predictions). Features: the
    window divided by the real σ, plus per-window summaries (mean, std, min, max, mean |r|,
    lag-1 autocorrelation of r and |r|, and for several symbols the in-window correlations).
    Groups keep overlapping windows in one fold: real windows lie inside 100-day blocks
    (one group per block), synthetic windows are grouped by path. Also computed *joint*.
``copy_rate``
    Share of synthetic 20-day windows that equal a training window: max-abs difference
    ≤ 1e-8 after both are rounded to float32 (the scenario storage precision, so a copied
    value compares exactly). Also *joint* (all symbols of the window at once).
``dcr_ratio``
    Median Euclidean distance of synthetic 20-day windows to their nearest training window,
    over the same median for real holdout windows (after the training window). Windows are
    divided by the real σ per symbol. Also *joint*.
``corr_error`` (*joint*)
    Frobenius norm of the difference of the daily return correlation matrices.

Sampling: synthetic windows for copy rate/DCR (≤ 4,000), for the classifier (as many as the
real windows, ≤ 1,000 per class) and aggregated returns for the EMD (≤ 100,000 per lag) are
subsampled with a generator seeded from ``seed`` and the model's name, so results are
reproducible and adding a model does not change the others.
"""

from __future__ import annotations

import math
import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import wasserstein_distance

from ganjobs.errors import GanjobsError

FORMAT = "ganjobs.metrics/1"
PROJECT = "ganjobs"

EMD_LAGS = (1, 5, 20, 100)
ACF_LAGS = 50
LEVERAGE_LAGS = 20
WINDOW = 20
REAL_BLOCK = 100  # real classifier windows are grouped in blocks of this many days
STRATEGY_WINDOW = 100
SIGNAL_LOOKBACK = 10
VOL_LOOKBACK = 20
VOL_CAP = 3.0
STRATEGIES = ("buy_and_hold", "momentum_10d", "mean_reversion_10d", "vol_target")
COPY_TOL = 1e-8
MAX_EMD_SAMPLES = 100_000
MAX_NN_QUERIES = 4_000
MAX_DISC_PER_CLASS = 1_000
CV_FOLDS = 3


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric: its label, and which value is best.

    ``best`` is ``"min"`` (lower is better), ``"one"`` (closest to 1) or ``"real"`` (closest
    to the real value, for descriptive statistics such as kurtosis).
    """

    label: str
    best: str
    scope: str = "symbol"


METRICS: dict[str, MetricInfo] = {
    "emd_1d": MetricInfo("EMD 1-day returns", "min"),
    "emd_5d": MetricInfo("EMD 5-day returns", "min"),
    "emd_20d": MetricInfo("EMD 20-day returns", "min"),
    "emd_100d": MetricInfo("EMD 100-day returns", "min"),
    "acf_r": MetricInfo("ACF score r", "min"),
    "acf_abs": MetricInfo("ACF score |r| (vol. clustering)", "min"),
    "acf_sq": MetricInfo("ACF score r²", "min"),
    "leverage": MetricInfo("Leverage score", "min"),
    "var99_1d_relerr": MetricInfo("VaR 99% 1-day rel. error", "min"),
    "es975_1d_relerr": MetricInfo("ES 97.5% 1-day rel. error", "min"),
    "var99_10d_relerr": MetricInfo("VaR 99% 10-day rel. error", "min"),
    "es975_10d_relerr": MetricInfo("ES 97.5% 10-day rel. error", "min"),
    "kurtosis": MetricInfo("Excess kurtosis", "real"),
    "skew": MetricInfo("Skewness", "real"),
    "strategy_relerr": MetricInfo("Strategy book VaR/ES 5% rel. error", "min"),
    "discriminative": MetricInfo("Discriminative score", "min"),
    "copy_rate": MetricInfo("Copy rate", "min"),
    "dcr_ratio": MetricInfo("DCR ratio", "one"),
}
JOINT_METRICS: dict[str, MetricInfo] = {
    "corr_error": MetricInfo("Correlation matrix error", "min", "joint"),
    "discriminative": MetricInfo("Discriminative score", "min", "joint"),
    "copy_rate": MetricInfo("Copy rate", "min", "joint"),
    "dcr_ratio": MetricInfo("DCR ratio", "one", "joint"),
}


# ---------------------------------------------------------------------------------------------
# Building blocks (public: tested one by one against known answers)
# ---------------------------------------------------------------------------------------------


def aggregate(x: np.ndarray, lag: int) -> np.ndarray:
    """Overlapping ``lag``-day sums along the last axis, flattened.

    ``x`` is one series ``(L,)`` or a batch of paths ``(n, L)``; windows never cross paths.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if lag > x.shape[1]:
        return np.empty(0)
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    return (c[:, lag:] - c[:, :-lag]).ravel()


def acf_rows(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Mean over rows of the per-row (biased) autocorrelation at lags ``1..max_lag``.

    Each row is demeaned on its own, ρ(k) = Σ x_t x_{t+k} / Σ x_t², then averaged over rows
    (rows with zero variance are ignored).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    x = x - x.mean(axis=1, keepdims=True)
    den = np.einsum("ij,ij->i", x, x)
    ok = den > 0
    out = np.full(max_lag, np.nan)
    if not ok.any():
        return out
    x, den = x[ok], den[ok]
    for k in range(1, min(max_lag, x.shape[1] - 1) + 1):
        out[k - 1] = np.mean(np.einsum("ij,ij->i", x[:, :-k], x[:, k:]) / den)
    return out


def leverage_rows(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Mean over rows of the per-row cross-correlation corr(r_t, r²_{t+k}), k = 1..max_lag.

    Same biased estimator as :func:`acf_rows`: Σ a_t b_{t+k} / √(Σ a² Σ b²) with a, b the
    row-demeaned r and r².
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    a = x - x.mean(axis=1, keepdims=True)
    b = x**2
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    ok = den > 0
    out = np.full(max_lag, np.nan)
    if not ok.any():
        return out
    a, b, den = a[ok], b[ok], den[ok]
    for k in range(1, min(max_lag, x.shape[1] - 1) + 1):
        out[k - 1] = np.mean(np.einsum("ij,ij->i", a[:, :-k], b[:, k:]) / den)
    return out


def curve_score(synthetic: np.ndarray, real: np.ndarray) -> float:
    """‖synthetic − real‖₂ over the lags where both curves are defined (NaN if none is)."""
    d = np.asarray(synthetic, dtype=np.float64) - np.asarray(real, dtype=np.float64)
    ok = np.isfinite(d)
    return float(np.linalg.norm(d[ok])) if ok.any() else float("nan")


def chunks(x: np.ndarray, length: int) -> np.ndarray:
    """Non-overlapping chunks ``(m, length)`` of a series; the whole series if it is shorter."""
    x = np.asarray(x, dtype=np.float64)
    m = len(x) // length
    if m == 0:
        return x[None, :]
    return x[: m * length].reshape(m, length)


def var_es(x: np.ndarray, tail: float) -> tuple[float, float]:
    """Loss-side VaR and ES at tail probability ``tail`` (0.01 for VaR 99%).

    VaR = −q, ES = −mean(x | x ≤ q), with q the ``tail`` quantile of ``x`` (returns or P&L,
    gains positive). Both are positive numbers for a loss.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return float("nan"), float("nan")
    q = float(np.quantile(x, tail))
    return -q, -float(x[x <= q].mean())


def relative_error(value: float, real: float) -> float:
    """|value − real| / |real| (NaN when the real value is 0 or missing)."""
    if real is None or value is None or not np.isfinite(real) or real == 0:
        return float("nan")
    return abs(value - real) / abs(real)


def strategy_pnl(x: np.ndarray, target_vol: float, window: int = STRATEGY_WINDOW
                 ) -> dict[str, np.ndarray]:
    """P&L of each strategy of the book over overlapping ``window``-day windows.

    Parameters
    ----------
    x : ndarray, shape (L,) or (n, L)
        Daily log returns of one series or of ``n`` paths (windows stay inside a path).
    target_vol : float
        Daily volatility the volatility-targeting strategy aims for (the real σ).

    Returns
    -------
    dict
        Strategy name → 1-d array of window P&Ls (sum of position × return).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n, length = x.shape
    warm = max(SIGNAL_LOOKBACK, VOL_LOOKBACK)
    if length < warm + window:
        return {s: np.empty(0) for s in STRATEGIES}
    c1 = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1)], axis=1)
    c2 = np.concatenate([np.zeros((n, 1)), np.cumsum(x**2, axis=1)], axis=1)
    t = np.arange(warm, length)  # positions for day t use days [t - lookback, t)
    signal = np.sign(c1[:, t] - c1[:, t - SIGNAL_LOOKBACK])
    s1 = c1[:, t] - c1[:, t - VOL_LOOKBACK]
    s2 = c2[:, t] - c2[:, t - VOL_LOOKBACK]
    var = np.clip((s2 - s1**2 / VOL_LOOKBACK) / (VOL_LOOKBACK - 1), 0, None)
    with np.errstate(divide="ignore"):
        vt = np.clip(target_vol / np.sqrt(var), 0, VOL_CAP)
    positions = {
        "buy_and_hold": np.ones_like(signal),
        "momentum_10d": signal,
        "mean_reversion_10d": -signal,
        "vol_target": vt,
    }
    r = x[:, warm:]
    out = {}
    for name, pos in positions.items():
        pnl = np.concatenate([np.zeros((n, 1)), np.cumsum(pos * r, axis=1)], axis=1)
        out[name] = (pnl[:, window:] - pnl[:, :-window]).ravel()
    return out


def correlation_error(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Frobenius norm of corr(synthetic daily) − corr(real daily); NaN for one symbol.

    ``real`` is ``(T, k)``; ``synthetic`` is ``(n, H, k)`` or ``(N, k)`` (pooled over paths).
    """
    real = np.asarray(real, dtype=np.float64)
    syn = np.asarray(synthetic, dtype=np.float64).reshape(-1, real.shape[-1])
    if real.shape[-1] < 2:
        return float("nan")
    return float(np.linalg.norm(np.corrcoef(syn, rowvar=False)
                                - np.corrcoef(real, rowvar=False)))


def windows(x: np.ndarray, length: int) -> np.ndarray:
    """All overlapping windows ``(m, length, k)`` of a series ``(T, k)`` (a view)."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] < length:
        return np.empty((0, length, x.shape[1]), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, length, axis=0).transpose(0, 2, 1)


def sample_path_windows(paths: np.ndarray, length: int, m: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``m`` windows ``(m, length, k)`` drawn at random paths and offsets, and their path ids."""
    n, h, _ = paths.shape
    idx = rng.integers(0, n, size=m)
    off = rng.integers(0, h - length + 1, size=m)
    return paths[idx[:, None], off[:, None] + np.arange(length)], idx


def window_features(w: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Classifier features of windows ``(m, L, k)``: the scaled window plus summaries."""
    z = np.asarray(w, dtype=np.float64) / sigma
    m, length, k = z.shape
    a = np.abs(z)

    def lag1(v: np.ndarray) -> np.ndarray:
        v = v - v.mean(axis=1, keepdims=True)
        den = (v**2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num((v[:, :-1] * v[:, 1:]).sum(axis=1) / den)

    feats = [z.reshape(m, -1), z.mean(axis=1), z.std(axis=1), z.min(axis=1), z.max(axis=1),
             a.mean(axis=1), lag1(z), lag1(a)]
    if k > 1:
        zc = z - z.mean(axis=1, keepdims=True)
        sd = np.sqrt((zc**2).sum(axis=1))
        for i in range(k):
            for j in range(i + 1, k):
                with np.errstate(invalid="ignore", divide="ignore"):
                    c = (zc[:, :, i] * zc[:, :, j]).sum(axis=1) / (sd[:, i] * sd[:, j])
                feats.append(np.nan_to_num(c)[:, None])
    return np.concatenate(feats, axis=1)


def _group_folds(groups: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of each sample: whole groups are dealt round-robin in random order."""
    uniq, inv = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(uniq))
    return (order % folds)[inv]


def discriminative_score(real_w: np.ndarray, real_groups: np.ndarray, syn_w: np.ndarray,
                         syn_groups: np.ndarray, sigma: np.ndarray, seed: int = 0) -> float:
    """|cross-validated accuracy − 0.5| of a classifier telling real from synthetic windows.

    Parameters
    ----------
    real_w, syn_w : ndarray, shape (m, L, k)
        Real and synthetic windows; the caller balances the classes.
    real_groups, syn_groups : ndarray of int, shape (m,)
        Correlated windows (overlapping real windows of one block, windows of one synthetic
        path) share a group and therefore a fold, so the classifier cannot score by
        recognising a neighbour of a training sample.
    sigma : ndarray, shape (k,)
        Real daily σ per symbol (feature scaling).
    seed : int
        Seed of the fold assignment and the classifier.

    Returns
    -------
    float
        |accuracy − 0.5|, accuracy pooled over all out-of-fold predictions (0.5 is chance
        for balanced classes even when folds are not).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from threadpoolctl import threadpool_limits

    x = np.concatenate([window_features(real_w, sigma), window_features(syn_w, sigma)])
    y = np.r_[np.zeros(len(real_w), dtype=int), np.ones(len(syn_w), dtype=int)]
    folds = min(CV_FOLDS, len(np.unique(real_groups)), len(np.unique(syn_groups)))
    if folds < 2:
        return float("nan")
    rng = np.random.default_rng([seed, 0xD15C])
    test_fold = np.r_[_group_folds(real_groups, folds, rng), _group_folds(syn_groups, folds, rng)]
    clf = HistGradientBoostingClassifier(max_iter=50, learning_rate=0.1, max_leaf_nodes=15,
                                         early_stopping=False, random_state=seed)
    # One thread: OpenMP spinning on a busy shared machine costs far more than it gains here.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        pred = cross_val_predict(clf, x, y, cv=PredefinedSplit(test_fold))
    return abs(float(np.mean(pred == y)) - 0.5)


def chance_level(predictions: int) -> float:
    """Expected discriminative score of a classifier that can only guess.

    With ``predictions`` independent guesses on balanced classes the accuracy is
    Binomial(n, ½) / n, and E|accuracy − ½| ≈ ½·√(2 / (π n)). Overlapping windows grouped
    into folds are not independent, so the real chance level is higher (``make bench-null``
    measures it).
    """
    if predictions < 1:
        raise ValueError(f"predictions must be at least 1, got {predictions}")
    return 0.5 * math.sqrt(2.0 / (math.pi * predictions))


# ---------------------------------------------------------------------------------------------
# The real side, prepared once
# ---------------------------------------------------------------------------------------------


@dataclass
class _Scope:
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
    scopes: dict[str, _Scope] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _acf_curves(x: np.ndarray, lags: int) -> dict[str, np.ndarray]:
    """ACF of r, |r|, r² and leverage curves of rows ``x`` (m, L)."""
    return {
        "acf_r": acf_rows(x, lags),
        "acf_abs": acf_rows(np.abs(x), lags),
        "acf_sq": acf_rows(x**2, lags),
        "leverage": leverage_rows(x, min(LEVERAGE_LAGS, lags)),
    }


def _curve_floors(ch: np.ndarray, lags: int) -> dict[str, float]:
    """``<curve>_floor``: expected score of a model with the market's true curves (NaN for
    fewer than two chunks)."""
    per = [_acf_curves(row[None], lags) for row in ch]
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


def _tail_stats(daily: np.ndarray, ten_day: np.ndarray) -> dict[str, float]:
    var1, _ = var_es(daily, 0.01)
    _, es1 = var_es(daily, 0.025)
    var10, _ = var_es(ten_day, 0.01)
    _, es10 = var_es(ten_day, 0.025)
    return {
        "var99_1d": var1, "es975_1d": es1, "var99_10d": var10, "es975_10d": es10,
        "kurtosis": float(stats.kurtosis(daily, fisher=True)),
        "skew": float(stats.skew(daily)),
    }


def _strategy_stats(x: np.ndarray, target_vol: float) -> dict[str, dict[str, float]]:
    out = {}
    for name, pnl in strategy_pnl(x, target_vol).items():
        var5, es5 = var_es(pnl, 0.05)
        out[name] = {"var5": var5, "es5": es5}
    return out


def _real_disc_windows(train: np.ndarray, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Real 20-day windows that lie inside one 100-day block, and their block ids."""
    w = windows(train, WINDOW)
    starts = np.arange(len(w))
    inside = starts // REAL_BLOCK == (starts + WINDOW - 1) // REAL_BLOCK
    starts = starts[inside]
    if len(starts) > MAX_DISC_PER_CLASS:
        starts = np.sort(rng.choice(starts, MAX_DISC_PER_CLASS, replace=False))
    return np.ascontiguousarray(w[starts]), starts // REAL_BLOCK


def _scaled_flat(w: np.ndarray, sigma: np.ndarray) -> np.ndarray:
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
    rng = np.random.default_rng([seed, 0x5EA1])
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
        ref.curves[sym] = _acf_curves(ch, acf_lags)
        st = _tail_stats(x, aggregate(x, 10))
        st.update(_curve_floors(ch, acf_lags))
        for key in ("acf_abs", "acf_sq"):
            st[f"{key}_monotone_floor"] = monotone_floor(ref.curves[sym][key])
        st["sigma"] = float(sigma[j])
        st["strategies"] = _strategy_stats(x, float(sigma[j]))
        ref.real_stats[sym] = st
    if horizon < WINDOW:
        ref.notes.append(f"horizon {horizon} < {WINDOW}: no window metrics")
        return ref
    scopes = {sym: [j] for j, sym in enumerate(symbols)}
    if k > 1:
        scopes["joint"] = list(range(k))
    for name, cols in scopes.items():
        sub = train[:, cols]
        raw = np.ascontiguousarray(windows(sub, WINDOW)).astype(np.float32)
        nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(
            _scaled_flat(raw, sigma[cols]))
        hold_w = windows(holdout[:, cols], WINDOW)
        if len(hold_w):
            d, _ = nn.kneighbors(_scaled_flat(hold_w, sigma[cols]))
            hold_med = float(np.median(d))
        else:
            hold_med = float("nan")
        disc_w, disc_g = _real_disc_windows(sub, rng)
        ref.scopes[name] = _Scope(cols=cols, sigma=sigma[cols], train_raw=raw, nn=nn,
                                  holdout_median=hold_med, disc_real=disc_w, disc_groups=disc_g)
    if len(holdout) < WINDOW:
        ref.notes.append(f"holdout has {len(holdout)} returns (< {WINDOW}): no DCR ratio")
    return ref


# ---------------------------------------------------------------------------------------------
# One model against the reference
# ---------------------------------------------------------------------------------------------


def _model_rng(seed: int, name: str) -> np.random.Generator:
    # Seeded by the model's name too, so that adding a model never changes the others.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _window_scope(ref: Reference, scope: _Scope, paths: np.ndarray, rng: np.random.Generator
                  ) -> dict[str, float]:
    sub = paths[:, :, scope.cols]
    out: dict[str, float] = {}
    syn_w, _ = sample_path_windows(sub, WINDOW, MAX_NN_QUERIES, rng)
    dist, ind = scope.nn.kneighbors(_scaled_flat(syn_w, scope.sigma))
    nearest = scope.train_raw[ind[:, 0]]
    diff = np.abs(syn_w.astype(np.float32).astype(np.float64) - nearest.astype(np.float64))
    out["copy_rate"] = float(np.mean(diff.reshape(len(diff), -1).max(axis=1) <= COPY_TOL))
    med = float(np.median(dist[:, 0]))
    if np.isfinite(scope.holdout_median) and scope.holdout_median > 0:
        out["dcr_ratio"] = med / scope.holdout_median
    else:
        out["dcr_ratio"] = float("nan")
    m = len(scope.disc_real)
    disc_w, disc_g = sample_path_windows(sub, WINDOW, m, rng)
    out["discriminative"] = discriminative_score(scope.disc_real, scope.disc_groups, disc_w,
                                                 disc_g, scope.sigma, seed=ref.seed)
    return out


def model_metrics(ref: Reference, paths: np.ndarray, name: str) -> dict[str, Any]:
    """All metrics of one model's paths ``(n, H, k)`` against the reference.

    Returns
    -------
    dict
        ``{"per_symbol": {symbol: {metric: value}}, "joint": {...}, "curves": {...},
        "seconds": float}``.
    """
    t0 = time.perf_counter()
    paths = np.asarray(paths)
    if paths.ndim != 3 or paths.shape[2] != len(ref.symbols):
        raise GanjobsError(f"{name}: paths of shape {paths.shape} do not match "
                           f"{len(ref.symbols)} symbols")
    if paths.shape[1] != ref.horizon:
        raise GanjobsError(f"{name}: horizon {paths.shape[1]} differs from {ref.horizon}")
    if not np.all(np.isfinite(paths)):
        raise GanjobsError(f"{name}: paths contain NaN or infinite values")
    rng = _model_rng(ref.seed, name)
    x64 = paths.astype(np.float64)
    per_symbol: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    for j, sym in enumerate(ref.symbols):
        x = x64[:, :, j]
        real = ref.real_stats[sym]
        row: dict[str, Any] = {}
        for lag in EMD_LAGS:
            key = f"emd_{lag}d"
            if lag not in ref.emd_real:
                row[key] = float("nan")
                continue
            agg = aggregate(x, lag)
            if agg.size > MAX_EMD_SAMPLES:
                agg = rng.choice(agg, MAX_EMD_SAMPLES, replace=False)
            row[key] = float(wasserstein_distance(ref.emd_real[lag][j],
                                                  agg / (ref.sigma[j] * np.sqrt(lag))))
        c = _acf_curves(x, ref.acf_lags)
        rc = ref.curves[sym]
        for key in ("acf_r", "acf_abs", "acf_sq", "leverage"):
            row[key] = curve_score(c[key], rc[key])
        curves[sym] = {key: v.tolist() for key, v in c.items()}
        tails = _tail_stats(x.ravel(), aggregate(x, 10))
        for key in ("var99_1d", "es975_1d", "var99_10d", "es975_10d"):
            row[key] = tails[key]
            row[f"{key}_relerr"] = relative_error(tails[key], real[key])
        row["kurtosis"] = tails["kurtosis"]
        row["skew"] = tails["skew"]
        strat = _strategy_stats(x, real["sigma"])
        errs = []
        for s, vals in strat.items():
            for measure in ("var5", "es5"):
                e = relative_error(vals[measure], real["strategies"][s][measure])
                vals[f"{measure}_relerr"] = e
                errs.append(e)
        row["strategies"] = strat
        row["strategy_relerr"] = (float(np.mean(errs)) if errs and np.all(np.isfinite(errs))
                                  else float("nan"))
        if sym in ref.scopes:
            row.update(_window_scope(ref, ref.scopes[sym], paths, rng))
        else:
            row.update(copy_rate=float("nan"), dcr_ratio=float("nan"),
                       discriminative=float("nan"))
        per_symbol[sym] = row
    joint: dict[str, float] = {"corr_error": correlation_error(ref.train, x64)}
    if "joint" in ref.scopes:
        joint.update(_window_scope(ref, ref.scopes["joint"], paths, rng))
    elif len(ref.symbols) == 1:  # one symbol: the joint window metrics are the symbol's
        only = per_symbol[ref.symbols[0]]
        joint.update({key: only[key] for key in ("discriminative", "copy_rate", "dcr_ratio")})
    else:  # paths shorter than a window
        joint.update(discriminative=float("nan"), copy_rate=float("nan"),
                     dcr_ratio=float("nan"))
    return {"per_symbol": per_symbol, "joint": joint, "curves": curves,
            "seconds": time.perf_counter() - t0}


def summarize(per_symbol: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Mean over symbols of every numeric per-symbol metric."""
    out = {}
    for key in METRICS:
        vals = [float(v[key]) for v in per_symbol.values()
                if isinstance(v.get(key), (int, float))]
        vals = [v for v in vals if np.isfinite(v)]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def clean_json(obj: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN and infinities to ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else None
    return obj


def compute_metrics(real: np.ndarray, models: Mapping[str, np.ndarray],
                    symbols: Sequence[str], *, holdout: np.ndarray | None = None,
                    seed: int = 0, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every metric for every model, against the same real reference.

    Parameters
    ----------
    real : ndarray, shape (T, k)
        Real log returns of the training window.
    models : mapping of str to ndarray (n, H, k)
        Paths per model, e.g. ``{"ganjobs": ..., "gaussian": ..., ...}``; all of one horizon.
    symbols : sequence of str
        Column names, in the order of the last axis.
    holdout : ndarray, shape (T_h, k), optional
        Real returns after the training window, for the DCR ratio.
    seed : int
        Seed of every subsample and of the classifier.
    context : mapping, optional
        Extra JSON-able fields recorded under ``"context"`` (locations, dates, notes).

    Returns
    -------
    dict
        JSON-ready: ``format``, ``symbols``, ``horizon``, ``n_paths``, ``seed``, ``real``
        (per-symbol real statistics), ``models`` (name → ``per_symbol``, ``joint``,
        ``summary``, ``seconds``), ``curves`` (symbol → real/model → ACF and leverage
        curves), ``bars`` (issue 11's quality bars for the project model when present),
        ``notes`` and ``context``.
    """
    if not models:
        raise GanjobsError("no scenario paths to evaluate")
    shapes = {name: np.shape(p) for name, p in models.items()}
    horizons = {s[1] for s in shapes.values() if len(s) == 3}
    if len(horizons) != 1:
        raise GanjobsError(f"models must share one horizon; got shapes {shapes}")
    horizon = horizons.pop()
    t0 = time.perf_counter()
    ref = build_reference(real, symbols, horizon, holdout=holdout, seed=seed)
    out: dict[str, Any] = {
        "format": FORMAT,
        "symbols": list(symbols),
        "horizon": int(horizon),
        "n_paths": {name: int(s[0]) for name, s in shapes.items()},
        "seed": int(seed),
        "n_train_returns": int(len(ref.train)),
        "n_holdout_returns": int(len(ref.holdout)),
        "real": ref.real_stats,
        "models": {},
        "curves": {sym: {"real": {k: v.tolist() for k, v in ref.curves[sym].items()}}
                   for sym in ref.symbols},
    }
    for name, paths in models.items():
        res = model_metrics(ref, paths, name)
        out["models"][name] = {
            "per_symbol": res["per_symbol"], "joint": res["joint"],
            "summary": summarize(res["per_symbol"]), "seconds": res["seconds"],
        }
        for sym, c in res["curves"].items():
            out["curves"][sym][name] = c
    out["bars"] = check_bars(out) if PROJECT in out["models"] else []
    out["notes"] = list(ref.notes)
    out["context"] = dict(context or {})
    out["seconds"] = time.perf_counter() - t0
    return clean_json(out)


# ---------------------------------------------------------------------------------------------
# Issue 11's quality bars
# ---------------------------------------------------------------------------------------------

# (label, metric, scope, kind, reference): kind "baseline" compares with that baseline's value
# (plus an allowance), "max"/"min" with a fixed number.
BARS: tuple[tuple[str, str, str, str, Any], ...] = (
    ("EMD 1-day ≤ GARCH(1,1)-t", "emd_1d", "symbol", "baseline", ("garch-t", 0.0)),
    ("EMD 20-day ≤ GARCH(1,1)-t", "emd_20d", "symbol", "baseline", ("garch-t", 0.0)),
    ("ACF |r| ≤ stationary bootstrap", "acf_abs", "symbol", "baseline", ("bootstrap", 0.0)),
    ("Leverage ≤ GJR-GARCH-t", "leverage", "symbol", "baseline", ("gjr-garch-t", 0.0)),
    ("VaR 99% 1-day rel. error ≤ 10%", "var99_1d_relerr", "symbol", "max", 0.10),
    ("ES 97.5% 1-day rel. error ≤ 10%", "es975_1d_relerr", "symbol", "max", 0.10),
    ("VaR 99% 10-day rel. error ≤ 15%", "var99_10d_relerr", "symbol", "max", 0.15),
    ("ES 97.5% 10-day rel. error ≤ 15%", "es975_10d_relerr", "symbol", "max", 0.15),
    ("Discriminative ≤ GARCH(1,1)-t", "discriminative", "joint", "baseline", ("garch-t", 0.0)),
    ("Copy rate ≤ 1%", "copy_rate", "joint", "max", 0.01),
    ("DCR ratio ≥ 0.8", "dcr_ratio", "joint", "min", 0.8),
    ("Correlation error ≤ bootstrap + 0.05", "corr_error", "joint", "baseline",
     ("bootstrap", 0.05)),
)


def _value(models: Mapping[str, Any], model: str, scope: str, metric: str) -> float | None:
    block = models.get(model)
    if block is None:
        return None
    v = block["joint"].get(metric) if scope == "joint" else block["per_symbol"].get(
        scope, {}).get(metric)
    return None if v is None or not np.isfinite(v) else float(v)


def check_bars(metrics: Mapping[str, Any], model: str = PROJECT) -> list[dict[str, Any]]:
    """Issue 11's bars for ``model``: one row per (bar, symbol or ``joint``).

    Works on a :func:`compute_metrics` result or any dict of the same ``models`` layout
    (the benchmark passes means over seeds). Per-symbol bars are checked for every symbol;
    the correlation bar only when there are several symbols. ``met`` is ``None`` when a value
    is missing.
    """
    models = metrics["models"]
    symbols = list(metrics["symbols"])
    rows = []
    for label, metric, scope, kind, ref in BARS:
        if metric == "corr_error" and len(symbols) < 2:
            continue
        for where in (symbols if scope == "symbol" else ["joint"]):
            value = _value(models, model, where, metric)
            if kind == "baseline":
                base = _value(models, ref[0], where, metric)
                threshold = None if base is None else base + ref[1]
                met = None if value is None or threshold is None else value <= threshold
            else:
                threshold = float(ref)
                if value is None:
                    met = None
                else:
                    met = value <= threshold if kind == "max" else value >= threshold
            rows.append({"bar": label, "metric": metric, "scope": where, "value": value,
                         "threshold": threshold, "met": met})
    return rows
