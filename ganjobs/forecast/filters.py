"""GJR-GARCH(1,1)-t: the fit (with ``arch``), the filter and the forward simulation.

Parameters are estimated with :func:`arch.arch_model` at refit dates only. Between refits the
conditional variance is filtered with the fixed parameters by a first-order linear recursion
(:func:`scipy.signal.lfilter`, one call per symbol), and scenario paths are simulated by the
same recursion vectorised over origins, paths and symbols. Everything is in percent units
(returns × 100, as fitted, for the optimiser's numerical stability) until the paths are
scaled back.

The recursion, for one symbol with ``ε_s = 100·r_s − μ``::

    σ²_{s+1} = ω + (α + γ·1{ε_s < 0})·ε_s² + β·σ²_s

started, as in ``arch``, from ``σ²_0 = ω + (α + γ/2 + β)·b`` where ``b`` is the fit sample's
backcast (the exponentially weighted mean of its first 75 squared residuals). ``γ = 0`` gives
GARCH(1,1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import signal

from ganjobs.errors import GanjobsError

#: Returns are fitted in percent; paths are divided by this factor at the end.
SCALE = 100.0


@dataclass(frozen=True)
class GarchParams:
    """Per-symbol parameters, each an array of shape ``(k,)``, in percent units.

    Attributes
    ----------
    mu, omega, alpha, gamma, beta : ndarray
        Constant mean and variance recursion; ``gamma`` is zero for GARCH(1,1).
    nu : ndarray
        Degrees of freedom of the unit-variance Student-t innovations.
    backcast : ndarray
        The fit sample's backcast ``b``: the filter starts from it.
    """

    mu: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    backcast: np.ndarray

    @property
    def k(self) -> int:
        """Number of symbols."""
        return int(self.mu.shape[0])


def _fit_one(x: np.ndarray, asymmetric: bool, label: str) -> dict[str, float]:
    from arch import arch_model

    model = arch_model(x, mean="Constant", vol="GARCH", p=1, o=1 if asymmetric else 0, q=1,
                       dist="t", rescale=False)
    # arch's own default backcast (its starting mean is the sample mean), passed explicitly
    # so that the filter can start from the very same value.
    backcast = float(model.volatility.backcast(x - x.mean()))
    with warnings.catch_warnings():
        # Overflow while the optimiser tries extreme parameters: the outcome is judged by the
        # convergence flag below.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = model.fit(disp="off", show_warning=False, backcast=backcast)
    if res.convergence_flag != 0:
        # No restart from other starting values: where SLSQP stalls (series with many zero
        # returns) the likelihood is degenerate, and a restart's "optimum" moves again when
        # restarted from itself; a clear refusal is more useful than such parameters.
        raise GanjobsError(f"{label} did not converge on {x.shape[0]} returns (optimizer "
                           f"status {res.convergence_flag}: {res.optimization_result.message})"
                           "; returns that are mostly zero or nearly constant leave the "
                           "volatility model unidentified")
    p = res.params
    return {"mu": float(p["mu"]), "omega": float(p["omega"]), "alpha": float(p["alpha[1]"]),
            "gamma": float(p["gamma[1]"]) if asymmetric else 0.0,
            "beta": float(p["beta[1]"]), "nu": float(p["nu"]), "backcast": backcast}


def fit_garch_t(returns: np.ndarray, asymmetric: bool, name: str) -> GarchParams:
    """Fit a constant-mean (GJR-)GARCH(1,1) with Student-t innovations to each column.

    Parameters
    ----------
    returns : ndarray, shape (T, k)
        Daily log returns (checked by the caller).
    asymmetric : bool
        GJR-GARCH(1,1,1) when true, GARCH(1,1) otherwise.
    name : str
        The forecaster's name, for messages.

    Returns
    -------
    GarchParams

    Raises
    ------
    GanjobsError
        A constant column, or an optimisation that ``arch`` reports as not converged.
    """
    kind = "GJR-GARCH(1,1)-t" if asymmetric else "GARCH(1,1)-t"
    fits = []
    for j in range(returns.shape[1]):
        x = returns[:, j] * SCALE
        label = f"{name}: the {kind} fit of return column {j}"
        if np.std(x) == 0:
            raise GanjobsError(f"{label} is impossible: the returns are constant")
        fits.append(_fit_one(x, asymmetric, label))
    return GarchParams(**{key: np.array([f[key] for f in fits]) for key in fits[0]})


def fitted(params: GarchParams | None, name: str, history: np.ndarray) -> GarchParams:
    """The parameters of the last fit, checked against the history's number of symbols."""
    if params is None:
        raise GanjobsError(f"{name}: call fit() before asking for scenarios")
    if history.shape[1] != params.k:
        raise GanjobsError(f"{name}: fitted on {params.k} symbols, asked for scenarios of "
                           f"{history.shape[1]}")
    return params


def filter_variance(params: GarchParams, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and conditional variances of ``returns`` under fixed parameters.

    Parameters
    ----------
    params : GarchParams
    returns : ndarray, shape (T, k)
        Daily log returns (not in percent).

    Returns
    -------
    eps : ndarray, shape (T, k)
        Residuals ``100·r − μ``.
    sigma2 : ndarray, shape (T + 1, k)
        ``sigma2[s]`` is the variance of ``eps[s]`` given the returns before ``s``; the last
        row is the one-step forecast after the last return. Row ``s`` depends on
        ``returns[:s]`` only, so a longer history never changes earlier rows.
    """
    eps = returns * SCALE - params.mu
    drive = params.omega + (params.alpha + params.gamma * (eps < 0)) * eps**2
    sigma2 = np.empty((eps.shape[0] + 1, params.k))
    sigma2[0] = params.omega + (params.alpha + params.gamma / 2 + params.beta) * params.backcast
    for j in range(params.k):
        b = params.beta[j]
        # y[s] = drive[s] + β·y[s−1] with y[−1] = σ²_0: exactly the GARCH recursion.
        sigma2[1:, j] = signal.lfilter([1.0], [1.0, -b], drive[:, j], zi=[b * sigma2[0, j]])[0]
    return eps, sigma2


def standardized_residuals(params: GarchParams, returns: np.ndarray) -> np.ndarray:
    """``z_s = ε_s / σ_s`` for every row of ``returns`` ``(T, k)``."""
    eps, sigma2 = filter_variance(params, returns)
    return eps / np.sqrt(sigma2[:-1])


def simulate_paths(params: GarchParams, sigma2_next: np.ndarray, shocks: np.ndarray
                   ) -> np.ndarray:
    """Run the recursion forward from known next-day variances with given shocks.

    Parameters
    ----------
    params : GarchParams
    sigma2_next : ndarray, shape (B, k)
        ``σ²_{t+1}`` of each origin ``t`` (known at ``t``).
    shocks : ndarray, shape (B, n, horizon, k)
        Standardised innovations ``z``; overwritten with the paths (no second array of this
        size is allocated).

    Returns
    -------
    ndarray, shape (B, n, horizon, k)
        Daily log returns ``(μ + σ·z) / 100``: the ``shocks`` array itself.
    """
    s2 = np.repeat(sigma2_next[:, None, :], shocks.shape[1], axis=1)
    e = np.empty_like(s2)
    sq = np.empty_like(s2)
    asymmetric = bool(np.any(params.gamma))
    for i in range(shocks.shape[2]):
        z = shocks[:, :, i]
        np.sqrt(s2, out=e)
        e *= z
        np.square(e, out=sq)
        # σ² ← ω + α·ε² + γ·1{ε<0}·ε² + β·σ², in place: these arrays are the largest here.
        s2 *= params.beta
        s2 += params.omega
        if asymmetric:
            s2 += (params.alpha + params.gamma * (e < 0)) * sq
        else:
            s2 += params.alpha * sq
        np.add(e, params.mu, out=z)
        z /= SCALE
    return shocks
