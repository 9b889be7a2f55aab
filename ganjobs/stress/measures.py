"""Risk measures of one P&L vector: distribution summary, VaR, ES, loss probability.

Quantiles, VaR and ES are those of :mod:`ganjobs.core.risk` (one rule for the stress test,
the evaluation and the benchmarks). Losses are positive numbers: with ``q_p`` the
``⌈n·p⌉``-th smallest P&L,

- ``VaR_α = −q_{1−α}``;
- ``ES_α = −mean(P&L | P&L ≤ −VaR_α)``: the tail includes the VaR scenario itself, so it
  is never empty and ``ES_α ≥ VaR_α``.

A negative VaR means the portfolio gains even in that tail. A scenario *breaches* the loss
threshold ``L`` when ``P&L ≤ −L``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganjobs.core.risk import expected_shortfall, level_key, lower_quantiles, value_at_risk

#: Confidence levels of the reported VaR and ES.
VAR_LEVELS = (0.95, 0.99)
ES_LEVELS = (0.975, 0.99)
#: Levels of the reported P&L quantiles.
QUANTILE_LEVELS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def risk_measures(pnl: np.ndarray, threshold: float, base_value: float) -> dict[str, Any]:
    """Distribution summary, VaR, ES and exceedance probability of one P&L vector.

    Parameters
    ----------
    pnl : ndarray, shape (n,)
        P&L per scenario, base currency.
    threshold : float
        Positive loss amount; a scenario breaches it when ``P&L ≤ −threshold``.
    base_value : float
        Portfolio value; ``*_pct`` entries are amounts divided by it.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std`` (ddof 1), ``min``, ``max``, ``quantiles`` (keyed by level),
        ``var`` / ``es`` (keyed by level in percent, e.g. ``"99"``, ``"97.5"``),
        ``var_pct`` / ``es_pct`` and ``prob_loss_beyond_threshold``.
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    n = len(pnl)
    qs = lower_quantiles(pnl, QUANTILE_LEVELS)
    var = {level_key(a): value_at_risk(pnl, a) for a in VAR_LEVELS}
    es = {level_key(a): expected_shortfall(pnl, a) for a in ES_LEVELS}
    return {
        "n": int(n),
        "mean": float(pnl.mean()),
        "std": float(pnl.std(ddof=1)) if n > 1 else 0.0,
        "min": float(pnl.min()),
        "max": float(pnl.max()),
        "quantiles": {f"{p:g}": float(v) for p, v in zip(QUANTILE_LEVELS, qs, strict=True)},
        "var": var,
        "es": es,
        "var_pct": {k: v / base_value for k, v in var.items()},
        "es_pct": {k: v / base_value for k, v in es.items()},
        "prob_loss_beyond_threshold": float(np.mean(pnl <= -threshold)),
    }
