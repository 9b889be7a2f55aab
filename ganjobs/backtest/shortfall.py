"""The Acerbi–Szekely backtest of Expected Shortfall (their second statistic, Z2).

Acerbi & Szekely (2014, "Backtesting Expected Shortfall", Risk) test an ES forecast through
the realized returns beyond the forecast VaR, scaled by the forecast ES::

    Z2 = Σ_t  r_t · 1{r_t < −VaR_t} / (T · alpha · ES_t)  +  1

with ``VaR_t`` and ``ES_t`` positive losses at the same level and ``alpha = 1 − level``. If the
forecasts are right, ``E[r_t · 1{hit}] = −alpha · ES_t`` and ``E[Z2] = 0``. Too many
exceptions or exceptions deeper than the forecast ES push ``Z2`` below zero, so the test is
one-sided: small values reject.

The exact null distribution of Z2 depends on the whole forecast distribution of each day,
of which a backtest only has the VaR and the ES. The p-value is therefore simulated under
a null that agrees with both: on each date, returns from a location-scale Student-t with
``df`` degrees of freedom (5 by default, a usual tail for daily returns) whose
``alpha``-quantile is ``−VaR_t`` and whose ES is ``ES_t``. Acerbi & Szekely report that the
5% critical value of Z2 hardly moves across such distributions and propose ``−0.70``; the
decision against that fixed value is reported beside the simulated p-value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ganjobs.backtest.coverage import tail_probability

#: Acerbi & Szekely's stable 5% critical value of Z2.
Z2_CRITICAL_5PCT = -0.70
#: Degrees of freedom of the Student-t null, and the number of simulated samples.
NULL_DF = 5.0
SIMULATIONS = 2000
# Simulated samples drawn at once: bounds memory at CHUNK × n floats.
_CHUNK = 250


def z2_statistic(realized: np.ndarray, var: np.ndarray, es: np.ndarray, alpha: float) -> float:
    """Acerbi–Szekely Z2 of realized returns against (VaR, ES) forecasts (positive losses).

    Parameters
    ----------
    realized, var, es : ndarray, shape (n,)
        Without NaN; ``es > 0``.
    alpha : float
        Tail probability, ``1 − level``.

    Returns
    -------
    float
    """
    tail = np.where(realized < -var, realized, 0.0)
    return float(np.sum(tail / (realized.size * alpha * es)) + 1.0)


def t_location_scale(var: np.ndarray, es: np.ndarray, alpha: float,
                     df: float = NULL_DF) -> tuple[np.ndarray, np.ndarray]:
    """Location and scale of the Student-t whose ``alpha``-quantile is ``−var`` and ES ``es``.

    For ``X = μ + s·T`` with ``T`` a standard t: ``q_α(X) = μ + s·q`` and
    ``ES(X) = −μ + s·m``, where ``q`` is the t quantile and ``m = f(q)(df + q²) / ((df − 1)α)``
    the standard t's ES. Solving the two equations gives ``s = (es − var)/(q + m)`` and
    ``μ = −var − s·q``.

    Parameters
    ----------
    var, es : ndarray
        Forecasts (positive losses); ``es < var`` is incoherent and gets scale 0.
    alpha : float
        Tail probability.
    df : float
        Degrees of freedom, more than 1.

    Returns
    -------
    loc, scale : ndarray
    """
    q = stats.t.ppf(alpha, df)
    m = stats.t.pdf(q, df) * (df + q * q) / ((df - 1.0) * alpha)
    scale = np.maximum(es - var, 0.0) / (q + m)
    return -var - scale * q, scale


def acerbi_szekely(realized: Any, var: Any, es: Any, level: float,
                   rng: np.random.Generator | int | None = 0, df: float = NULL_DF,
                   simulations: int = SIMULATIONS) -> dict[str, Any]:
    """Acerbi–Szekely Z2 test of ES forecasts, with a simulated p-value.

    Parameters
    ----------
    realized : array_like, shape (n,)
        Realized returns.
    var, es : array_like, shape (n,)
        VaR and ES forecasts at ``level``, positive losses.
    level : float
        Coverage level, e.g. 0.975.
    rng : numpy Generator or int
        Source of the null simulation (an int seeds ``np.random.default_rng``); the same
        seed gives the same p-value.
    df : float
        Degrees of freedom of the Student-t null.
    simulations : int
        Number of simulated samples under the null.

    Returns
    -------
    dict
        ``z2``; ``p``, the share of null samples with a Z2 at or below the observed one,
        ``(1 + count)/(1 + simulations)``; ``reject_5pct``, whether ``z2 < −0.70``; ``n``,
        the observations used: rows with NaN or with ``es ≤ 0`` (where Z2 is undefined) are
        left out. NaN values and ``None`` decision when no observation is usable.
    """
    r, v, e = (np.asarray(a, dtype=np.float64).ravel() for a in (realized, var, es))
    keep = np.isfinite(r) & np.isfinite(v) & np.isfinite(e) & (e > 0)
    r, v, e = r[keep], v[keep], e[keep]
    n = int(r.size)
    if n == 0:
        return {"z2": float("nan"), "p": float("nan"), "reject_5pct": None, "n": 0}
    alpha = tail_probability(level)
    z2 = z2_statistic(r, v, e, alpha)
    null = _null_z2(v, e, alpha, np.random.default_rng(rng), df, simulations)
    p = (1.0 + float(np.sum(null <= z2))) / (1.0 + simulations)
    return {"z2": z2, "p": p, "reject_5pct": bool(z2 < Z2_CRITICAL_5PCT), "n": n}


def _null_z2(var: np.ndarray, es: np.ndarray, alpha: float, rng: np.random.Generator,
             df: float, simulations: int) -> np.ndarray:
    """Z2 of ``simulations`` samples drawn from the Student-t null of each date."""
    loc, scale = t_location_scale(var, es, alpha, df)
    denom = var.size * alpha * es
    out = np.empty(simulations)
    for start in range(0, simulations, _CHUNK):
        k = min(_CHUNK, simulations - start)
        x = loc + scale * rng.standard_t(df, size=(k, var.size))
        out[start:start + k] = np.sum(np.where(x < -var, x, 0.0) / denom, axis=1) + 1.0
    return out
