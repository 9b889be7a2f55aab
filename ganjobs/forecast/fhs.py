"""Filtered historical simulation (FHS) with GJR-GARCH(1,1)-t volatility per symbol.

Barone-Adesi, Giannopoulos and Vosper (1999): the volatility model rescales history to
today's volatility, and the standardised residuals of the past — not a parametric
distribution — supply the shocks. At origin ``t``:

1. each symbol's variance is filtered with the parameters of the last fit up to ``t``, which
   gives its standardised residuals ``z_s = ε_s / σ_s`` for every ``s ≤ t`` and its next-day
   variance ``σ²_{t+1}``;
2. every step of every path draws one past date ``s ≤ t`` uniformly and takes the residual
   *vector* ``z_s`` of all symbols on that date, which keeps their cross-correlation and
   joint tail behaviour;
3. each symbol's GJR recursion runs forward from ``σ²_{t+1}`` with the drawn shocks, so a
   large negative shock raises the next day's volatility in the path.

The Student-t likelihood is only the estimator of the volatility parameters; the shocks are
the empirical residuals.
"""

from __future__ import annotations

import numpy as np

from ganjobs.core.seeds import stream
from ganjobs.forecast.base import fit_sample, scenario_request
from ganjobs.forecast.filters import (
    GarchParams,
    filter_variance,
    fit_garch_t,
    fitted,
    simulate_paths,
)


class FilteredHistoricalSimulation:
    """FHS forecaster ``"fhs"``: GJR-GARCH(1,1)-t filter, bootstrapped residual vectors."""

    name = "fhs"

    def __init__(self) -> None:
        self.params: GarchParams | None = None

    def fit(self, returns: np.ndarray) -> None:
        """Fit a GJR-GARCH(1,1)-t per symbol on daily log returns ``(T, k)``, ``T ≥ 250``."""
        self.params = fit_garch_t(fit_sample(returns, self.name), asymmetric=True,
                                  name=self.name)

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        """Paths ``(len(origins), n, horizon, k)``, as ``Forecaster.scenarios`` says."""
        history, origins, n, horizon, seed = scenario_request(
            self.name, returns, origins, n, horizon, keys, seed)
        params = fitted(self.params, self.name, history)
        if origins.size == 0:
            return np.empty((0, n, horizon, params.k))
        eps, sigma2 = filter_variance(params, history)
        z = eps / np.sqrt(sigma2[:-1])
        shocks = np.empty((origins.size, n, horizon, params.k))
        for i, (origin, key) in enumerate(zip(origins, keys, strict=True)):
            rng = stream(seed, f"{self.name}:{key}")
            shocks[i] = z[rng.integers(0, origin + 1, size=(n, horizon))]
        return simulate_paths(params, sigma2[origins + 1], shocks)

