"""What every conditional forecaster accepts and returns, and the checks they share.

A conditional forecaster starts from the market's state at an origin date ``t`` (the returns
up to and including ``t``) and produces joint scenario paths of the next ``horizon`` daily
log returns. The backtest fits it at refit dates and asks it for scenarios at every origin in
between; see docs/baselines.md.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ganjobs.core.seeds import check_seed
from ganjobs.errors import GanjobsError

#: The fewest daily returns a fit accepts: about one trading year, the least on which a
#: GARCH fit's persistence is estimated at all reliably.
MIN_FIT_RETURNS = 250


@runtime_checkable
class Forecaster(Protocol):
    """A scenario generator conditioned on the history up to each origin."""

    name: str

    def fit(self, returns: np.ndarray) -> None:
        """Estimate on daily log returns ``(T, k)`` (float64): the data strictly before a
        refit date."""

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        """Joint paths ``(len(origins), m, horizon, k)`` of daily log returns after each origin.

        ``returns`` is the history ``(T, k)`` known so far; ``origins`` are integer positions
        into it, and the paths of origin ``o`` use ``returns[: o + 1]`` only. ``keys`` (one
        string per origin, its ISO date) name each origin's random stream
        ``stream(seed, f"{name}:{key}")``, so an origin's paths do not depend on the other
        origins of the batch or on the length of ``returns``. ``m = n`` for simulating models,
        the number of ``horizon``-day windows for historical simulation.
        """


def as_returns(returns: np.ndarray, what: str) -> np.ndarray:
    """``returns`` as a finite float64 array ``(T, k)``; a 1-d array is one symbol."""
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise GanjobsError(f"{what} must be daily log returns of shape (T, k), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GanjobsError(f"{what} contain NaN or infinite values")
    return arr


def fit_sample(returns: np.ndarray, name: str) -> np.ndarray:
    """The fit sample, refused when shorter than :data:`MIN_FIT_RETURNS`."""
    arr = as_returns(returns, f"{name}: fit returns")
    if arr.shape[0] < MIN_FIT_RETURNS:
        raise GanjobsError(f"{name}: fitting needs at least {MIN_FIT_RETURNS} daily returns, "
                           f"got {arr.shape[0]}")
    return arr


def scenario_request(name: str, returns: np.ndarray, origins: np.ndarray, n: int,
                     horizon: int, keys: list[str], seed: int
                     ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Check a scenario request and cut the history at the last origin.

    Cutting at ``max(origins) + 1`` makes the absence of look-ahead structural: nothing after
    the last origin is even read (and a NaN there does not matter).

    Returns
    -------
    history : ndarray, shape (max(origins) + 1, k)
    origins : ndarray of int64
    n, horizon, seed : int
    """
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    org = np.asarray(origins)
    if org.ndim != 1 or (org.size and not np.issubdtype(org.dtype, np.integer)):
        raise GanjobsError(f"{name}: origins must be a 1-d array of integer positions")
    org = org.astype(np.int64)
    if arr.ndim != 2:
        raise GanjobsError(f"{name}: returns must have shape (T, k), got {arr.shape}")
    if org.size and (org.min() < 0 or org.max() >= arr.shape[0]):
        raise GanjobsError(f"{name}: origins must lie in [0, {arr.shape[0] - 1}], the "
                           f"positions of the {arr.shape[0]} returns given")
    if len(keys) != org.size:
        raise GanjobsError(f"{name}: {len(keys)} keys for {org.size} origins; give one per "
                           "origin")
    if isinstance(n, bool) or int(n) != n or n < 1 or isinstance(horizon, bool) \
            or int(horizon) != horizon or horizon < 1:
        raise GanjobsError(f"{name}: n and horizon must be integers >= 1, got n={n!r}, "
                           f"horizon={horizon!r}")
    seed = check_seed(seed, "seed")
    last = int(org.max()) + 1 if org.size else 0
    history = as_returns(arr[:last], f"{name}: returns") if last else arr[:0]
    return history, org, int(n), int(horizon), seed
