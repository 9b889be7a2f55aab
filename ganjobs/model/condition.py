"""The market's state at an origin date, as the conditional model reads it.

At an origin ``t`` the model sees the last ``past`` daily returns up to and including ``t``
(in the networks' standardised space) divided by an exponentially weighted volatility
``sigma_t`` of those returns, and ``log sigma_t`` itself (the volatility level relative to the
training years', which are 1 in that space). Its paths come out in units of ``sigma_t``.
Dividing by ``sigma_t`` is what desks call volatility filtering (FHS does the same with a
GARCH volatility): it lets the generator learn the *shape* of what follows a calm or a
turbulent past, and the critic judge (past, future) pairs on one scale.

``sigma_t`` is causal: it uses returns up to ``t`` only, and its recursion starts from the
training years' variance (1), so a state never depends on a price after its origin.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganjobs.errors import GanjobsError

#: Floor of ``sigma_t`` relative to the training years' volatility: a stretch of unchanged
#: prices must not turn the next ordinary return into a hundred-sigma event.
VOL_FLOOR = 0.05
#: Bound of ``|log sigma_t|`` fed to the networks (a factor e^3 = 20 either way).
LEVEL_BOUND = 3.0
#: Returns before the first usable origin: the EWMA's start no longer matters after them.
WARMUP = 60
#: Trailing window (days) of the realized volatility a scenario set's manifest records.
SUMMARY_WINDOW = 20
#: Trading days per year, to annualise the recorded realized volatility.
TRADING_DAYS = 252


def ewma_vol(x: np.ndarray, decay: float) -> np.ndarray:
    """Causal exponentially weighted volatility of ``x`` ``(T, k)``, floored.

    ``v_t = decay v_{t-1} + (1 - decay) x_t**2`` from ``v_{-1} = 1`` (the standardised
    training variance); returns ``sqrt(v_t)`` per day and symbol, at least
    :data:`VOL_FLOOR`.
    """
    from scipy.signal import lfilter

    x = np.asarray(x, dtype=np.float64)
    # lfilter runs the recursion in C: y_t = decay y_{t-1} + (1 - decay) x_t**2, with the
    # initial state that makes y_{-1} = 1.
    v, _ = lfilter([1.0 - decay], [1.0, -decay], x * x, axis=0,
                   zi=np.full((1, x.shape[1]), decay))
    return np.maximum(np.sqrt(v), VOL_FLOOR)


def first_origin(past: int) -> int:
    """Index of the first return that can be an origin: ``past`` returns and the warm-up."""
    return max(past - 1, WARMUP)


@dataclass(frozen=True)
class States:
    """Conditioning inputs of a set of origins (float32, ready for the networks).

    Attributes
    ----------
    past : ndarray, shape (m, past, k)
        The last ``past`` standardised returns up to each origin, over ``sigma``.
    level : ndarray, shape (m, k)
        ``log sigma`` at each origin, bounded by :data:`LEVEL_BOUND`.
    sigma : ndarray, shape (m, k)
        The scale of each origin's paths (float64).
    """

    past: np.ndarray
    level: np.ndarray
    sigma: np.ndarray


def states(x: np.ndarray, origins: np.ndarray, past: int, decay: float) -> States:
    """The states at ``origins`` (indices into ``x``, the standardised history ``(T, k)``).

    Raises
    ------
    GanjobsError
        An origin with fewer than ``first_origin(past)`` returns before it.
    """
    origins = np.asarray(origins, dtype=np.int64)
    lo = first_origin(past)
    if origins.size and (origins.min() < lo or origins.max() >= len(x)):
        raise GanjobsError(f"conditioning needs at least {lo + 1} returns up to the origin "
                           f"date; the history has {int(origins.min()) + 1}")
    sigma = ewma_vol(x[: int(origins.max()) + 1] if origins.size else x[:0], decay)
    s = sigma[origins]
    idx = origins[:, None] + np.arange(-past + 1, 1)[None, :]
    window = x[idx] / s[:, None, :]
    level = np.clip(np.log(s), -LEVEL_BOUND, LEVEL_BOUND)
    return States(past=window.astype(np.float32), level=level.astype(np.float32), sigma=s)


def futures(x: np.ndarray, origins: np.ndarray, length: int, sigma: np.ndarray) -> np.ndarray:
    """The ``length`` returns after each origin over its ``sigma`` (the critic's real
    samples), ``(m, length, k)`` float32."""
    idx = np.asarray(origins)[:, None] + np.arange(1, length + 1)[None, :]
    return (x[idx] / sigma[:, None, :]).astype(np.float32)


def summary(log_returns: np.ndarray, symbols: list[str]) -> dict[str, Any]:
    """What a manifest records of the state: each symbol's trailing realized volatility
    (annualised, over :data:`SUMMARY_WINDOW` days) and its last daily return."""
    tail = np.asarray(log_returns, dtype=np.float64)[-SUMMARY_WINDOW:]
    vol = tail.std(axis=0, ddof=1) * np.sqrt(TRADING_DAYS) if len(tail) > 1 else None
    return {
        "realized_vol_window": SUMMARY_WINDOW,
        "realized_vol_annualised": ({s: float(vol[j]) for j, s in enumerate(symbols)}
                                    if vol is not None else None),
        "last_return": {s: float(tail[-1, j]) for j, s in enumerate(symbols)},
    }


def history_sha256(dates: np.ndarray, log_returns: np.ndarray) -> str:
    """sha256 of the conditioning history: its dates and returns as float64 bytes."""
    h = hashlib.sha256()
    h.update(np.asarray(dates, dtype="datetime64[D]").astype(np.int64).tobytes())
    h.update(np.ascontiguousarray(log_returns, dtype=np.float64).tobytes())
    return h.hexdigest()
