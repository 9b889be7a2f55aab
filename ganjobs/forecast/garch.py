"""GARCH(1,1)-t forecaster: parametric paths from today's filtered volatility.

Per symbol a constant-mean GARCH(1,1) with unit-variance Student-t innovations (degrees of
freedom fitted per symbol). At origin ``t`` the variance is filtered with the parameters of
the last fit up to ``t``; every path starts from the known ``σ²_{t+1}`` and runs the GARCH
recursion with fresh i.i.d. shocks, joined across symbols by a Gaussian copula
(:mod:`ganjobs.forecast.copula`) fitted on the standardised residuals of the fit sample.
"""

from __future__ import annotations

import numpy as np

from ganjobs.core.seeds import stream
from ganjobs.forecast.base import fit_sample, scenario_request
from ganjobs.forecast.copula import StudentQuantile, copula_cholesky, correlate
from ganjobs.forecast.filters import (
    GarchParams,
    filter_variance,
    fit_garch_t,
    fitted,
    simulate_paths,
    standardized_residuals,
)


class GarchT:
    """GARCH(1,1)-t forecaster ``"garch-t"`` with a Gaussian copula across symbols."""

    name = "garch-t"

    def __init__(self) -> None:
        self.params: GarchParams | None = None
        self.chol: np.ndarray | None = None
        self._quantiles: list[StudentQuantile] = []

    def fit(self, returns: np.ndarray) -> None:
        """Fit GARCH(1,1)-t per symbol and the copula on daily log returns ``(T, k)``."""
        sample = fit_sample(returns, self.name)
        params = fit_garch_t(sample, asymmetric=False, name=self.name)
        self.chol = copula_cholesky(standardized_residuals(params, sample), params.nu)
        self._quantiles = [StudentQuantile(nu) for nu in params.nu]
        self.params = params

    def scenarios(self, returns: np.ndarray, origins: np.ndarray, n: int, horizon: int,
                  keys: list[str], seed: int) -> np.ndarray:
        """Paths ``(len(origins), n, horizon, k)``, as ``Forecaster.scenarios`` says."""
        history, origins, n, horizon, seed = scenario_request(
            self.name, returns, origins, n, horizon, keys, seed)
        params = fitted(self.params, self.name, history)
        assert self.chol is not None
        shocks = np.empty((origins.size, n, horizon, params.k))
        if origins.size == 0:
            return shocks
        for i, key in enumerate(keys):
            rng = stream(seed, f"{self.name}:{key}")
            shocks[i] = correlate(rng.standard_normal((n, horizon, params.k)), self.chol)
        for j, quantile in enumerate(self._quantiles):
            shocks[..., j] = quantile(shocks[..., j])
        _, sigma2 = filter_variance(params, history)
        return simulate_paths(params, sigma2[origins + 1], shocks)
