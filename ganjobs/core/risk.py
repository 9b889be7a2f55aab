"""Risk measures: one quantile, VaR and ES definition for every caller.

The stress test, the evaluation and anything that reports a VaR or an ES use these
functions, so that "VaR 99%" of one scenario set is the same number in every output.

Definition
----------
For ``n`` outcomes ``x`` (P&L or returns, gains positive) and a tail probability ``p``:

- the lower quantile ``q_p`` is the ``⌈n·p⌉``-th smallest outcome (at least the first): the
  smallest value whose empirical CDF is ≥ ``p`` (NumPy's ``inverted_cdf``). It is always
  one of the outcomes, never an interpolation between two;
- ``VaR_α = −q_{1−α}``, a positive number for a loss;
- ``ES_α = −mean(x | x ≤ q_{1−α})``, the mean loss at or beyond the VaR (ties included).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def level_key(level: float) -> str:
    """``0.975 -> "97.5"``, ``0.99 -> "99"``: how levels name keys in JSON outputs."""
    return f"{level * 100:g}"


def lower_quantiles(x: np.ndarray, levels: Any) -> np.ndarray:
    """Empirical lower quantiles: ``q_p`` is the ``⌈n·p⌉``-th smallest value (at least the 1st).

    Written out rather than ``np.quantile(..., method="inverted_cdf")`` because ``1 − 0.95``
    is ``0.05000000000000004`` in floating point, which would move ``⌈n·p⌉`` one rank up
    whenever ``n·0.05`` is an integer.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Outcomes; flattened if it has more dimensions.
    levels : array_like of float in (0, 1]

    Returns
    -------
    ndarray, shape (len(levels),)
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = len(x)
    # round() strips the representation error of levels such as 1 - 0.95 before the ceiling.
    ranks = [min(max(int(np.ceil(round(n * float(p), 9))), 1), n) - 1
             for p in np.atleast_1d(levels)]
    part = np.partition(x, sorted(set(ranks)))
    return part[ranks]


def value_at_risk(pnl: np.ndarray, alpha: float) -> float:
    """VaR at confidence ``alpha`` (e.g. 0.99) as a positive loss: ``−q_{1−α}(P&L)``."""
    return float(-lower_quantiles(pnl, [1.0 - alpha])[0])


def expected_shortfall(pnl: np.ndarray, alpha: float) -> float:
    """ES at confidence ``alpha`` (e.g. 0.975) as a positive loss: ``−mean(P&L | P&L ≤ q)``."""
    pnl = np.asarray(pnl, dtype=np.float64).ravel()
    q = lower_quantiles(pnl, [1.0 - alpha])[0]
    return float(-pnl[pnl <= q].mean())


def var_es(x: np.ndarray, tail: float) -> tuple[float, float]:
    """VaR and ES at tail probability ``tail`` (0.01 for the 99% level), both as losses.

    Parameters
    ----------
    x : ndarray
        Outcomes (returns or P&L, gains positive); flattened.
    tail : float
        ``1 − α``.

    Returns
    -------
    var, es : float
        NaN, NaN for no outcomes.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return float("nan"), float("nan")
    q = float(lower_quantiles(x, [tail])[0])
    return -q, -float(x[x <= q].mean())


def var_es_rows(x: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`var_es` of each row of ``x`` ``(rows, n)``: the same rank rule, vectorised.

    Returns
    -------
    var, es : ndarray, shape (rows,)
        Positive losses (NaN for rows with no outcomes).
    """
    x = np.asarray(x, dtype=np.float64)
    rows, n = x.shape
    if n == 0:
        return np.full(rows, np.nan), np.full(rows, np.nan)
    rank = min(max(int(np.ceil(round(n * float(tail), 9))), 1), n) - 1
    q = np.partition(x, rank, axis=1)[:, rank]
    # Row by row, so that each ES is the same float as var_es gives (summation order).
    es = np.array([row[row <= qi].mean() for row, qi in zip(x, q, strict=True)])
    return -q, -es
