"""Scoring functions of risk forecasts and the test that compares two models' scores.

A coverage test asks whether one forecast is right; a scoring function asks which of two
forecasts is better. The scores below are *consistent* for their target: their expected
value is smallest at the true VaR (tick loss) or the true pair (VaR, ES) (FZ0 loss), so the
model with the lower mean score is the better forecaster, and the Diebold–Mariano test says
whether the difference in means is larger than chance.

Inputs follow the backtest's convention: ``var`` and ``es`` are positive losses; internally
they become return quantiles ``v = −var`` and ``e = −es``. Losses are returned per
observation (NaN where an input is NaN); the caller takes means and tests differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ganjobs.backtest.coverage import tail_probability


def _floats(*arrays: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def tick_loss(realized: Any, var: Any, level: float) -> np.ndarray:
    """Quantile (pinball) loss of a VaR forecast as the ``alpha``-quantile of the return.

    ``L = (alpha − 1{r < q}) (r − q)`` with ``q = −var`` and ``alpha = 1 − level``: zero on
    the quantile, growing linearly on each side, with slope ``1 − alpha`` below it and
    ``alpha`` above it, so its expectation is smallest at the true quantile.

    Parameters
    ----------
    realized : array_like, shape (n,)
        Realized returns.
    var : array_like, shape (n,)
        VaR forecasts (positive losses).
    level : float
        Coverage level, e.g. 0.99.

    Returns
    -------
    ndarray, shape (n,)
        Non-negative losses; NaN where an input is NaN.
    """
    r, v = _floats(realized, var)
    alpha = tail_probability(level)
    q = -v
    return (alpha - (r < q)) * (r - q)


def fz0_loss(realized: Any, var: Any, es: Any, level: float) -> np.ndarray:
    """Fissler–Ziegel FZ0 loss of a (VaR, ES) forecast (Patton, Ziegel & Chen, 2019).

    With ``v = −var``, ``e = −es < 0`` and ``alpha = 1 − level``::

        L = −1/(alpha·e) · 1{r ≤ v} · (v − r) + v/e + log(−e) − 1

    the member of the Fissler–Ziegel class of joint scoring functions whose loss
    differences do not depend on the units of the returns. Its expectation is smallest at
    the true pair; values can be negative, only differences matter.

    Parameters
    ----------
    realized : array_like, shape (n,)
        Realized returns.
    var, es : array_like, shape (n,)
        VaR and ES forecasts at ``level`` (positive losses).
    level : float
        Coverage level, e.g. 0.975.

    Returns
    -------
    ndarray, shape (n,)
        NaN where an input is NaN or ``es ≤ 0`` (the loss is only defined for a negative
        ES quantile ``e``).
    """
    r, v_loss, e_loss = _floats(realized, var, es)
    alpha = tail_probability(level)
    v, e = -v_loss, -e_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(e < 0, e, np.nan)
        return -1.0 / (alpha * e) * (r <= v) * (v - r) + v / e + np.log(-e) - 1.0


def _long_run_variance(d: np.ndarray, lags: int) -> float:
    """Long-run variance of ``d``: autocovariances up to ``lags`` with equal weights.

    Equal (truncated) weights are Diebold and Mariano's choice and the one the
    Harvey–Leybourne–Newbold factor is derived for; they are unbiased when ``d`` is
    autocorrelated up to lag h−1 only, as overlapping h-day losses are. Bartlett
    (Newey–West) weights shrink those lags and, for 10-day losses, reject a true null about
    twice as often as the nominal level. Equal weights can give a negative estimate in a
    small sample; the Bartlett estimate, never negative, is used then.
    """
    n = d.size
    u = d - d.mean()
    gamma = [float(u[k:] @ u[:n - k]) / n for k in range(min(lags, n - 1) + 1)]
    lrv = gamma[0] + 2.0 * sum(gamma[1:])
    if lrv <= 0.0:
        lrv = gamma[0] + 2.0 * sum((1.0 - k / (lags + 1)) * g
                                   for k, g in enumerate(gamma) if k)
    return lrv


def diebold_mariano(loss_a: Any, loss_b: Any, horizon: int = 1) -> tuple[float, float]:
    """Diebold–Mariano test of equal predictive accuracy, two-sided.

    ``d = loss_a − loss_b``; ``DM = mean(d) / sqrt(LRV/n)`` with a long-run variance (HAC)
    over ``horizon − 1`` lags (h-day forecasts made every day overlap, so their loss
    differences are autocorrelated up to lag h−1; see :func:`_long_run_variance` for the
    weights), times the Harvey–Leybourne–Newbold small-sample factor
    ``sqrt((n + 1 − 2h + h(h−1)/n) / n)``, compared with Student-t with ``n − 1`` degrees
    of freedom. A negative statistic means model A has the lower
    loss.

    Parameters
    ----------
    loss_a, loss_b : array_like, shape (n,)
        Per-observation losses of two models on the same dates; rows where either is NaN
        are left out.
    horizon : int
        Forecast horizon in observations, at least 1.

    Returns
    -------
    stat, p : float
        ``(0.0, 1.0)`` when the losses are identical (a model compared with itself);
        ``(±inf, 0.0)`` when they differ by a non-zero constant; NaN, NaN with fewer than
        2 usable rows.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon!r}")
    a, b = _floats(loss_a, loss_b)
    d = (a - b).ravel()
    d = d[~np.isnan(d)]
    n = d.size
    if n < 2:
        return float("nan"), float("nan")
    if not d.any():
        return 0.0, 1.0
    lrv = _long_run_variance(d, horizon - 1)
    mean = float(d.mean())
    if lrv <= 0.0:
        # Every row favours the same model by the same amount: no sampling noise at all.
        return float(np.copysign(np.inf, mean)), 0.0
    hln = np.sqrt(max(n + 1 - 2 * horizon + horizon * (horizon - 1) / n, 0.0) / n)
    stat = mean / np.sqrt(lrv / n) * hln
    return float(stat), float(2.0 * stats.t.sf(abs(stat), n - 1))
