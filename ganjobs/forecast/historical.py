"""Historical simulation over the last ``W`` days, with overlapping ``h``-day windows.

At origin ``t`` the scenarios are the actual joint daily returns of the ``W`` days up to and
including ``t``, cut into every overlapping window of ``h`` consecutive days: ``W − h + 1``
paths of ``h`` steps, all symbols on the same dates. For ``h = 1`` these are the ``W`` last
daily return vectors. Overlapping windows are what desks call HS with overlapping ``h``-day
returns: they use every ``h``-day move of the window (non-overlapping ones would leave only
``W / h``), at the price of paths that share days and are therefore not independent.

Nothing is estimated and nothing is random: ``seed`` and ``keys`` do not change the paths.
"""

from __future__ import annotations

import numpy as np

from ganjobs.core.windows import sliding_windows
from ganjobs.errors import GanjobsError
from ganjobs.forecast.base import fit_sample, scenario_request


class HistoricalSimulation:
    """HS forecaster ``"hs-W"`` over the last ``window`` daily returns.

    Parameters
    ----------
    window : int
        ``W``, the number of daily returns up to each origin that scenarios come from.
    """

    def __init__(self, window: int) -> None:
        if isinstance(window, bool) or int(window) != window or window < 1:
            raise GanjobsError(f"historical simulation needs a window >= 1 day, got {window!r}")
        self.window = int(window)
        self.name = f"hs-{self.window}"

    def fit(self, returns: np.ndarray) -> None:
        """Nothing to estimate; the fit sample is checked like every forecaster's."""
        fit_sample(returns, self.name)

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        """Paths ``(len(origins), W − horizon + 1, horizon, k)``, a copy of actual returns.

        ``n`` is checked but not used: the number of paths is the number of windows.
        """
        history, origins, n, horizon, seed = scenario_request(
            self.name, returns, origins, n, horizon, keys, seed)
        if horizon > self.window:
            raise GanjobsError(f"{self.name}: a horizon of {horizon} days does not fit in the "
                               f"{self.window}-day window")
        short = origins < self.window - 1
        if short.any():
            i = int(np.argmax(short))
            raise GanjobsError(f"{self.name}: needs {self.window} daily returns up to and "
                               f"including each origin; origin {keys[i]} has "
                               f"{int(origins[i]) + 1}")
        m = self.window - horizon + 1
        windows = sliding_windows(history, horizon)  # a view: window s holds days s..s+h-1
        first = origins - self.window + 1
        return windows[first[:, None] + np.arange(m)]
