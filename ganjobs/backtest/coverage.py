"""Coverage backtests of a VaR forecast: exceptions, their count, their clustering, zones.

A VaR forecast is a positive loss ``var``; an *exception* (a hit) is a realized return below
its negative, ``realized < -var``. At coverage level ``level`` (0.99) the tail probability
is ``alpha = 1 - level`` and a correct forecast has exceptions that are independent
Bernoulli(``alpha``) draws. The tests below check the two halves of that claim:

- :func:`kupiec_pof`: the number of exceptions (unconditional coverage), Kupiec (1995);
- :func:`christoffersen_independence`: whether an exception makes the next one more or less
  likely (first-order Markov alternative), Christoffersen (1998);
- :func:`conditional_coverage`: both at once, Christoffersen (1998);
- :func:`basel_zones`: the Basel Committee's traffic light on blocks of 250 observations.

Every test returns the likelihood-ratio statistic and its asymptotic chi-squared p-value.
NaN rows are left out and not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special, stats

#: Basel traffic light for 99% 1-day VaR over 250 observations: green up to 4 exceptions,
#: yellow from 5, red from 10 (Basel Committee, 1996). These are the counts whose binomial
#: Bin(250, 0.01) cumulative probability first reaches 95% and 99.99%.
BASEL_BLOCK = 250
BASEL_YELLOW_FROM = 5
BASEL_RED_FROM = 10


def tail_probability(level: float) -> float:
    """``1 - level`` without its representation error (``1 - 0.99`` is ``0.010000000000000009``).

    Parameters
    ----------
    level : float
        Coverage level in (0, 1), e.g. 0.99.

    Returns
    -------
    float
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    return round(1.0 - float(level), 12)


def hits(realized: Any, var: Any) -> np.ndarray:
    """Exceptions: ``realized < -var``, with ``var`` a positive loss.

    Parameters
    ----------
    realized : array_like, shape (n,)
        Realized simple returns over the forecast horizon.
    var : array_like, shape (n,)
        VaR forecasts for the same origins, as positive losses.

    Returns
    -------
    ndarray of bool, shape (n,)
        False where either input is NaN (a comparison with NaN is false); callers that
        must not count such rows drop them first.
    """
    r = np.asarray(realized, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    return r < -v


def non_overlapping(index: Any, horizon: int) -> np.ndarray:
    """Observations whose h-day horizons do not overlap: every h-th, starting at the first.

    Parameters
    ----------
    index : array_like of int, shape (n,)
        Increasing positions of the observations in the series of forecast origins (row
        numbers, not dates).
    horizon : int
        Forecast horizon h in observations, at least 1.

    Returns
    -------
    ndarray
        The kept positions. With consecutive positions this is ``index[::horizon]``; where
        positions are missing the next one kept is the first at least ``horizon`` after the
        last kept, so that kept horizons never overlap.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon!r}")
    index = np.asarray(index)
    kept: list[int] = []
    nxt = None
    for i, pos in enumerate(index.tolist()):
        if nxt is None or pos >= nxt:
            kept.append(i)
            nxt = pos + horizon
    return index[kept]


def _clean_hits(hit_seq: Any) -> np.ndarray:
    """Hits as a bool array without NaN rows (a float array may carry NaN for unknowns)."""
    h = np.asarray(hit_seq)
    if h.dtype.kind == "f":
        h = h[~np.isnan(h)]
    return h.astype(bool).ravel()


def _chi2_p(lr: float, dof: int) -> float:
    return float(stats.chi2.sf(lr, dof))


def _bernoulli_loglik(ones: float, zeros: float, p: float) -> float:
    """``ones·log p + zeros·log(1 − p)`` with ``0·log 0 = 0``."""
    return float(special.xlogy(ones, p) + special.xlog1py(zeros, -p))


def kupiec_pof(hit_seq: Any, level: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures test of the number of exceptions.

    ``LR = −2 [log L(alpha) − log L(x/n)]`` for ``x`` exceptions in ``n`` observations of a
    Bernoulli likelihood, asymptotically chi2(1) under ``P(exception) = alpha``. No
    exceptions and all exceptions are defined (``0·log 0 = 0``).

    Parameters
    ----------
    hit_seq : array_like of bool, shape (n,)
        Exceptions; NaN entries of a float array are left out.
    level : float
        Coverage level, e.g. 0.99.

    Returns
    -------
    lr, p : float
        NaN, NaN when there are no observations.
    """
    h = _clean_hits(hit_seq)
    n, x = h.size, int(h.sum())
    if n == 0:
        return float("nan"), float("nan")
    alpha = tail_probability(level)
    lr = -2.0 * (_bernoulli_loglik(x, n - x, alpha) - _bernoulli_loglik(x, n - x, x / n))
    lr = max(lr, 0.0)  # the unrestricted likelihood is the larger: only rounding goes below 0
    return lr, _chi2_p(lr, 1)


def _transitions(h: np.ndarray) -> tuple[int, int, int, int]:
    """Counts n00, n01, n10, n11 of consecutive pairs (state today → state tomorrow)."""
    prev, nxt = h[:-1], h[1:]
    n01 = int(np.sum(~prev & nxt))
    n10 = int(np.sum(prev & ~nxt))
    n11 = int(np.sum(prev & nxt))
    return len(prev) - n01 - n10 - n11, n01, n10, n11


def christoffersen_independence(hit_seq: Any) -> tuple[float, float]:
    """Christoffersen's test that exceptions do not cluster (first-order Markov alternative).

    Compares the likelihood of the transitions with one exception probability ``π`` against
    one with ``π01 = P(hit | no hit yesterday)`` and ``π11 = P(hit | hit yesterday)``;
    asymptotically chi2(1) under independence.

    Degenerate samples carry no information about clustering and give ``LR = 0, p = 1``:
    no exceptions at all, exceptions only, or no transition out of an exception (a single
    exception on the last observation). The likelihoods with ``0·log 0 = 0`` give that
    value directly.

    Parameters
    ----------
    hit_seq : array_like of bool, shape (n,)
        Exceptions in time order; NaN entries of a float array are left out.

    Returns
    -------
    lr, p : float
        NaN, NaN with fewer than 2 observations (no transition).
    """
    h = _clean_hits(hit_seq)
    if h.size < 2:
        return float("nan"), float("nan")
    n00, n01, n10, n11 = _transitions(h)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _bernoulli_loglik(n01 + n11, n00 + n10, pi)
    unrestricted = _bernoulli_loglik(n01, n00, pi01) + _bernoulli_loglik(n11, n10, pi11)
    lr = max(-2.0 * (restricted - unrestricted), 0.0)
    return lr, _chi2_p(lr, 1)


def conditional_coverage(hit_seq: Any, level: float) -> tuple[float, float]:
    """Christoffersen's conditional coverage test: ``LR_pof + LR_ind``, chi2(2).

    Rejects a forecast whose exceptions are too many, too few, or clustered.

    Parameters
    ----------
    hit_seq : array_like of bool, shape (n,)
        Exceptions in time order; NaN entries of a float array are left out.
    level : float
        Coverage level, e.g. 0.99.

    Returns
    -------
    lr, p : float
        NaN, NaN with fewer than 2 observations.
    """
    lr_pof, _ = kupiec_pof(hit_seq, level)
    lr_ind, _ = christoffersen_independence(hit_seq)
    lr = lr_pof + lr_ind
    if np.isnan(lr):
        return float("nan"), float("nan")
    return lr, _chi2_p(lr, 2)


def basel_zone(exceptions: int) -> str:
    """Traffic-light zone of a count of 99% 1-day VaR exceptions in 250 observations.

    Parameters
    ----------
    exceptions : int

    Returns
    -------
    str
        ``"green"`` (0–4), ``"yellow"`` (5–9) or ``"red"`` (10 or more).
    """
    if exceptions >= BASEL_RED_FROM:
        return "red"
    return "yellow" if exceptions >= BASEL_YELLOW_FROM else "green"


def _iso(dates: Any) -> np.ndarray:
    return np.asarray(dates, dtype="datetime64[D]")


def basel_zones(dates: Sequence[Any] | np.ndarray, hit_seq: Any,
                block: int = BASEL_BLOCK) -> list[dict[str, Any]]:
    """Basel traffic-light zones of consecutive, non-overlapping blocks of observations.

    The blocks are cut from the first observation on: rows ``0..block-1``, ``block..``, and
    so on. The zone thresholds are those of the Basel Committee for 99% 1-day VaR over 250
    observations, so a shorter final block is reported with its dates and counts, marked
    ``"complete": False``, and given no zone (``None``): rescaling the thresholds to fewer
    observations would make one exception in a few days a "yellow" year.

    Parameters
    ----------
    dates : sequence of datetime.date, numpy datetime64 or ISO strings, shape (n,)
        Forecast origin dates, aligned with ``hit_seq``.
    hit_seq : array_like of bool, shape (n,)
        Exceptions of the 99% 1-day VaR.
    block : int
        Observations per block; zones are only given for complete blocks of 250.

    Returns
    -------
    list of dict
        One per block: ``start``, ``end`` (ISO dates), ``n``, ``exceptions``, ``zone``,
        ``complete``.
    """
    days = _iso(dates)
    h = np.asarray(hit_seq).astype(bool)
    if days.shape != h.shape:
        raise ValueError(f"dates and hits differ in length: {days.shape} vs {h.shape}")
    rows = []
    for start in range(0, h.size, block):
        part = h[start:start + block]
        complete = part.size == block
        x = int(part.sum())
        rows.append({
            "start": str(days[start]),
            "end": str(days[start + part.size - 1]),
            "n": int(part.size),
            "exceptions": x,
            "zone": basel_zone(x) if complete and block == BASEL_BLOCK else None,
            "complete": bool(complete),
        })
    return rows
