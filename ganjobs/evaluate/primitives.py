"""Measures applied the same way to the real series and to every model's paths.

Each takes one series ``(L,)`` or a batch of paths ``(n, L)`` (windows never cross paths) and
is tested on its own against known answers. See :mod:`ganjobs.evaluate.definitions` for what
the scores built on them mean.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ganjobs.core.risk import var_es
from ganjobs.evaluate.definitions import (
    LEVERAGE_LAGS,
    SIGNAL_LOOKBACK,
    STRATEGIES,
    STRATEGY_WINDOW,
    VOL_CAP,
    VOL_LOOKBACK,
)


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


def acf_curves(x: np.ndarray, lags: int) -> dict[str, np.ndarray]:
    """ACF of r, |r|, r² and the leverage curve of rows ``x`` ``(m, L)``, lags ``1..lags``."""
    return {
        "acf_r": acf_rows(x, lags),
        "acf_abs": acf_rows(np.abs(x), lags),
        "acf_sq": acf_rows(x**2, lags),
        "leverage": leverage_rows(x, min(LEVERAGE_LAGS, lags)),
    }


def tail_stats(daily: np.ndarray, ten_day: np.ndarray) -> dict[str, float]:
    """VaR 99% and ES 97.5% of daily and 10-day returns, excess kurtosis and skew of daily."""
    var1, _ = var_es(daily, 0.01)
    _, es1 = var_es(daily, 0.025)
    var10, _ = var_es(ten_day, 0.01)
    _, es10 = var_es(ten_day, 0.025)
    return {
        "var99_1d": var1, "es975_1d": es1, "var99_10d": var10, "es975_10d": es10,
        "kurtosis": float(stats.kurtosis(daily, fisher=True)),
        "skew": float(stats.skew(daily)),
    }


def strategy_stats(x: np.ndarray, target_vol: float) -> dict[str, dict[str, float]]:
    """VaR 5% and ES 5% of each strategy's window P&L (:func:`strategy_pnl`)."""
    out = {}
    for name, pnl in strategy_pnl(x, target_vol).items():
        var5, es5 = var_es(pnl, 0.05)
        out[name] = {"var5": var5, "es5": es5}
    return out
