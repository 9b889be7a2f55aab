"""Unchanged prices: rounding prices to a tick, and where a history's zero returns sit.

Single stocks often close unchanged for days: coarse ticks (US quotes moved in eighths of a
dollar until 2001), stale quotes, adjusted prices rounded to cents. Their daily log returns
then hold a point mass at exactly zero, which indices almost never have. Ingest reports it
(:func:`zero_return_notes`) because the body calibration treats it specially (see
:mod:`ganjobs.model.marginal` and docs/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganjobs.errors import DataError

#: Share of exactly-zero daily returns above which ingest notes them. The body calibration's
#: knots are 1% of probability apart, so an atom holding more than 1% of the days can cover
#: two knots; below it the quantile function has no flat stretch on the knot grid.
ZERO_SHARE_NOTE = 0.01


def round_to_tick(prices: pd.DataFrame, tick: float, before: str | None = None) -> pd.DataFrame:
    """Round long-layout closes to multiples of ``tick``, on dates before ``before`` only.

    Parameters
    ----------
    prices : DataFrame
        Long layout: ``date``, ``symbol``, ``close``.
    tick : float
        The price increment, e.g. ``1/8`` or ``0.01``.
    before : str, optional
        ISO date; closes on this date and later are kept as they are. None rounds every date.

    Returns
    -------
    DataFrame
        A copy with ``close`` rounded (equal ticks give bit-equal floats, hence exact zero
        returns between them).

    Raises
    ------
    DataError
        ``tick`` is not a positive number, or a close rounds to zero.
    """
    if not np.isfinite(tick) or tick <= 0:
        raise DataError(f"tick must be a positive number, got {tick!r}")
    out = prices.copy()
    mask = (np.ones(len(out), bool) if before is None
            else (out["date"] < pd.Timestamp(before)).to_numpy())
    rounded = np.round(out.loc[mask, "close"].to_numpy("float64") / tick) * tick
    if np.any(rounded <= 0):
        raise DataError(f"a close rounds to 0 at tick {tick}: the tick is coarser than the price")
    out.loc[mask, "close"] = rounded
    return out


@dataclass(frozen=True)
class ZeroReturnProfile:
    """Where one symbol's exactly-zero daily returns sit.

    Attributes
    ----------
    count, total : int
        Zero returns and all returns.
    by_year : dict of int to float
        Share of zero returns per calendar year (of the return's date).
    half_by : str or None
        Date by which half of the zero returns have occurred (None without any).
    longest_run : int
        Most consecutive zero returns (``longest_run + 1`` equal closes in a row).
    longest_run_end : str or None
        Date of the last return of that run.
    """

    count: int
    total: int
    by_year: dict[int, float]
    half_by: str | None
    longest_run: int
    longest_run_end: str | None

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0


def zero_return_profile(returns: np.ndarray, dates: np.ndarray) -> ZeroReturnProfile:
    """Profile of the exact zeros in one symbol's daily log ``returns``.

    Parameters
    ----------
    returns : ndarray, shape (T,)
    dates : ndarray of datetime64, shape (T,)
        Date of each return (the later of its two closes).
    """
    r = np.asarray(returns, dtype=np.float64)
    zero = r == 0.0
    stamps = pd.DatetimeIndex(dates)
    by_year = pd.Series(zero, index=stamps.year).groupby(level=0).mean()
    idx = np.flatnonzero(zero)
    half_by = (str(stamps[idx[(len(idx) - 1) // 2]].date()) if len(idx) else None)
    run, end = _longest_run(zero)
    return ZeroReturnProfile(
        count=int(zero.sum()), total=int(len(r)),
        by_year={int(y): float(s) for y, s in by_year.items()},
        half_by=half_by, longest_run=run,
        longest_run_end=str(stamps[end].date()) if run else None)


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """Length and last index of the longest run of True (``(0, -1)`` when none)."""
    best, best_end, current = 0, -1, 0
    for i, flag in enumerate(flags):
        current = current + 1 if flag else 0
        if current > best:
            best, best_end = current, i
    return best, best_end


def zero_return_notes(returns: np.ndarray, dates: np.ndarray, symbols: list[str],
                      threshold: float = ZERO_SHARE_NOTE) -> list[str]:
    """One line per symbol whose share of exactly-zero returns exceeds ``threshold``.

    Parameters
    ----------
    returns : ndarray, shape (T, k)
        Aligned daily log returns, one column per symbol.
    dates : ndarray of datetime64, shape (T,)
        Date of each return.
    symbols : list of str
    threshold : float
        Share above which a symbol is reported (:data:`ZERO_SHARE_NOTE`).
    """
    notes = []
    for j, sym in enumerate(symbols):
        p = zero_return_profile(returns[:, j], dates)
        if p.share <= threshold:
            continue
        (lo_year, lo), (hi_year, hi) = (min(p.by_year.items(), key=lambda kv: kv[1]),
                                        max(p.by_year.items(), key=lambda kv: kv[1]))
        notes.append(
            f"{sym}: {p.share:.1%} of daily returns are exactly zero ({p.count} of {p.total}, "
            f"unchanged closes), half of them by {p.half_by}; by year {lo:.1%} ({lo_year}) to "
            f"{hi:.1%} ({hi_year}); longest run {p.longest_run} day(s) to {p.longest_run_end}. "
            f"Tick-rounded or stale prices: the body calibration spreads this point mass "
            f"instead of reproducing it")
    return notes
