"""Baseline scenario generators that risk teams use today, for comparison with the GAN.

Every baseline is fitted on training log returns ``(T, k)`` and simulates ``(n, horizon, k)``
log-return paths, vectorised over paths (the only Python loop runs over time steps):

``gaussian``
    i.i.d. multivariate normal with the sample mean and covariance.
``bootstrap``
    Stationary block bootstrap (Politis & Romano, 1994), joint across symbols: every step of
    every path copies one whole row of the training returns, so all symbols share the same
    historical date. The mean block length is Politis–White's optimal length
    (:func:`arch.bootstrap.optimal_block_length`, stationary column) estimated on the *squared*
    returns, the largest over symbols: the dependence a risk scenario must keep is volatility
    clustering, and the estimate on raw returns (2–9 days on the bundled data) would destroy it.
    Indices wrap around the end of the sample (circular), as in Politis & Romano.
``garch-t`` / ``gjr-garch-t``
    Per symbol, a constant-mean GARCH(1,1) / GJR-GARCH(1,1,1) with standardised Student-t
    innovations fitted by :func:`arch.arch_model` on returns × 100 (for the optimiser's
    numerical stability; simulated paths are scaled back). Cross-symbol dependence is a
    Gaussian copula: its correlation is that of the normal scores
    ``Φ⁻¹(F_ν(z))`` of the fitted standardised residuals, so each symbol keeps its own
    Student-t marginal. The recursion is written in numpy with the fitted parameters.

    **Start of a path**: each path starts from the fitted state (residual and conditional
    variance) of one training date drawn uniformly at random, the same date for all symbols.
    The first simulated variance is the model's one-step forecast from that state. Paths thus
    start in the mix of calm and turbulent regimes that history shows — the same mix as the
    real comparison windows, which are chunks of that history — and no burn-in is needed. The
    unconditional variance was not used because it is undefined for a fit with persistence
    ≥ 1 and, for heavy-tailed volatility, far from the typical starting regime.

Fits are cached per (baseline, data) within a process, so repeated calls on the same returns
only simulate.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from ganjobs.errors import GanjobsError

BASELINES: tuple[str, ...] = ("gaussian", "bootstrap", "garch-t", "gjr-garch-t")

# The optimiser works on percent returns; scenarios are scaled back by this factor.
_SCALE = 100.0
_CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class GaussianFit:
    """Sample mean ``(k,)`` and covariance ``(k, k)`` of the training returns."""

    mean: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class BootstrapFit:
    """Training returns and the stationary bootstrap's mean block length (days)."""

    returns: np.ndarray
    block_length: float


@dataclass(frozen=True)
class GarchFit:
    """Per-symbol (G)JR-GARCH-t parameters in percent units, plus the copula and states.

    Attributes
    ----------
    mu, omega, alpha, gamma, beta, nu : ndarray, shape (k,)
        Fitted parameters; ``gamma`` is zero for plain GARCH(1,1).
    chol : ndarray, shape (k, k)
        Cholesky factor of the Gaussian-copula correlation of standardised residuals.
    resid, sigma2 : ndarray, shape (T, k)
        Fitted residuals and conditional variances: the possible starting states of a path.
    """

    mu: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    chol: np.ndarray
    resid: np.ndarray
    sigma2: np.ndarray


def _check_returns(returns: np.ndarray) -> np.ndarray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise GanjobsError(f"baseline needs returns of shape (T, k) with T >= 2, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GanjobsError("baseline returns contain NaN or infinite values")
    return arr


def _digest(returns: np.ndarray) -> str:
    h = hashlib.sha1(str(returns.shape).encode())
    h.update(np.ascontiguousarray(returns).tobytes())
    return h.hexdigest()


def bootstrap_block_length(returns: np.ndarray) -> float:
    """Mean block length of the stationary bootstrap for ``returns`` (T, k).

    Politis–White optimal block length (with Patton–Politis–White's correction, as computed
    by :func:`arch.bootstrap.optimal_block_length`) of the squared returns, the largest over
    symbols, bounded to ``[1, T / 4]`` so that a path still mixes several blocks.
    """
    from arch.bootstrap import optimal_block_length

    arr = _check_returns(returns)
    sq = arr**2
    # A constant column has no dependence to keep and makes the estimator divide by zero.
    usable = sq[:, np.std(sq, axis=0) > 0]
    if usable.shape[1] == 0 or arr.shape[0] < 10:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = optimal_block_length(usable)["stationary"].to_numpy()
    est = est[np.isfinite(est)]
    b = float(est.max()) if est.size else 1.0
    return float(np.clip(b, 1.0, max(1.0, arr.shape[0] / 4)))


def _fit_gaussian(returns: np.ndarray) -> GaussianFit:
    cov = np.atleast_2d(np.cov(returns, rowvar=False))
    return GaussianFit(mean=returns.mean(axis=0), cov=cov)


def _fit_bootstrap(returns: np.ndarray) -> BootstrapFit:
    return BootstrapFit(returns=returns.copy(), block_length=bootstrap_block_length(returns))


def _nearest_correlation(c: np.ndarray) -> np.ndarray:
    """Clip eigenvalues so that a (possibly singular) correlation has a Cholesky factor."""
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    c = (v * np.clip(w, 1e-8, None)) @ v.T
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


def _fit_garch(returns: np.ndarray, asymmetric: bool) -> GarchFit:
    from arch import arch_model

    k = returns.shape[1]
    cols: dict[str, list[float]] = {p: [] for p in ("mu", "omega", "alpha", "gamma", "beta",
                                                      "nu")}
    resid, sigma2, scores = [], [], []
    for j in range(k):
        x = returns[:, j] * _SCALE
        if np.std(x) == 0:
            raise GanjobsError("cannot fit GARCH to a constant return series")
        model = arch_model(x, mean="Constant", vol="GARCH", p=1, o=1 if asymmetric else 0, q=1,
                           dist="t", rescale=False)
        with warnings.catch_warnings():
            # Convergence warnings are common and harmless at the reported optimum.
            warnings.simplefilter("ignore")
            res = model.fit(disp="off", show_warning=False)
        p = res.params
        nu = float(p["nu"])
        cols["mu"].append(float(p["mu"]))
        cols["omega"].append(float(p["omega"]))
        cols["alpha"].append(float(p["alpha[1]"]))
        cols["gamma"].append(float(p["gamma[1]"]) if asymmetric else 0.0)
        cols["beta"].append(float(p["beta[1]"]))
        cols["nu"].append(nu)
        e = np.asarray(res.resid, dtype=np.float64)
        s2 = np.asarray(res.conditional_volatility, dtype=np.float64) ** 2
        resid.append(e)
        sigma2.append(s2)
        # arch's standardised t has unit variance; the copula works on the plain t_ν scale.
        z = e / np.sqrt(s2) * np.sqrt(nu / (nu - 2))
        u = np.clip(stats.t.cdf(z, nu), 1e-12, 1 - 1e-12)
        scores.append(special.ndtri(u))
    corr = np.atleast_2d(np.corrcoef(np.stack(scores, axis=1), rowvar=False))
    chol = np.linalg.cholesky(_nearest_correlation(corr)) if k > 1 else np.ones((1, 1))
    arrs = {name: np.asarray(v) for name, v in cols.items()}
    return GarchFit(chol=chol, resid=np.stack(resid, axis=1), sigma2=np.stack(sigma2, axis=1),
                    **arrs)


def fit_baseline(name: str, returns: np.ndarray) -> Any:
    """Fit baseline ``name`` on training returns ``(T, k)``, cached per (name, data).

    Returns
    -------
    GaussianFit, BootstrapFit or GarchFit
        Immutable fit; callers must not modify its arrays.

    Raises
    ------
    GanjobsError
        Unknown baseline name or unusable returns.
    """
    if name not in BASELINES:
        raise GanjobsError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    arr = _check_returns(returns)
    key = (name, _digest(arr))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    if name == "gaussian":
        fit: Any = _fit_gaussian(arr)
    elif name == "bootstrap":
        fit = _fit_bootstrap(arr)
    else:
        fit = _fit_garch(arr, asymmetric=name == "gjr-garch-t")
    with _cache_lock:
        _cache[key] = fit
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return fit


def _student_t_copula(fit: GarchFit, size: tuple[int, int], rng: np.random.Generator
                      ) -> np.ndarray:
    """Unit-variance Student-t shocks ``size + (k,)`` joined by the Gaussian copula."""
    k = fit.nu.shape[0]
    z = rng.standard_normal(size + (k,)) @ fit.chol.T
    # Invert through the lower tail on both sides: Φ(z) rounds to 1 for z > 8, Φ(-|z|) doesn't.
    lower = special.ndtr(-np.abs(z))
    t = -np.sign(z) * stats.t.ppf(lower, fit.nu)
    return t * np.sqrt((fit.nu - 2) / fit.nu)


def _simulate_garch(fit: GarchFit, n: int, horizon: int, rng: np.random.Generator
                    ) -> np.ndarray:
    start = rng.integers(0, fit.resid.shape[0], size=n)
    e_prev = fit.resid[start]  # (n, k): the same historical date for every symbol of a path
    s2_prev = fit.sigma2[start]
    shocks = _student_t_copula(fit, (n, horizon), rng)
    out = np.empty((n, horizon, fit.nu.shape[0]))
    for h in range(horizon):
        s2 = (fit.omega + (fit.alpha + fit.gamma * (e_prev < 0)) * e_prev**2
              + fit.beta * s2_prev)
        e_prev = np.sqrt(s2) * shocks[:, h]
        s2_prev = s2
        out[:, h] = fit.mu + e_prev
    return out / _SCALE


def _simulate_bootstrap(fit: BootstrapFit, n: int, horizon: int, rng: np.random.Generator
                        ) -> np.ndarray:
    t = fit.returns.shape[0]
    p_new = 1.0 / fit.block_length
    new_block = rng.random((n, horizon)) < p_new
    fresh = rng.integers(0, t, size=(n, horizon))
    idx = np.empty((n, horizon), dtype=np.int64)
    idx[:, 0] = fresh[:, 0]
    for h in range(1, horizon):
        idx[:, h] = np.where(new_block[:, h], fresh[:, h], (idx[:, h - 1] + 1) % t)
    return fit.returns[idx]


def simulate_baseline(name: str, returns: np.ndarray, n: int, horizon: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Simulate ``n`` paths of ``horizon`` daily log returns from baseline ``name``.

    Parameters
    ----------
    name : str
        One of :data:`BASELINES`.
    returns : ndarray, shape (T, k)
        Training log returns (a 1-d array is one symbol).
    n, horizon : int
        Number of paths and steps per path (both >= 1).
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same paths.

    Returns
    -------
    ndarray, shape (n, horizon, k), float64
        Log returns.

    Raises
    ------
    GanjobsError
        Unknown ``name``, bad sizes or unusable returns.
    """
    if int(n) < 1 or int(horizon) < 1:
        raise GanjobsError(f"baseline needs n >= 1 and horizon >= 1, got n={n}, "
                           f"horizon={horizon}")
    n, horizon = int(n), int(horizon)
    fit = fit_baseline(name, returns)
    if isinstance(fit, GaussianFit):
        k = fit.mean.shape[0]
        z = rng.standard_normal((n, horizon, k))
        # Eigen-factor rather than Cholesky: a sample covariance may be singular.
        w, v = np.linalg.eigh(fit.cov)
        factor = v * np.sqrt(np.clip(w, 0, None))
        return fit.mean + z @ factor.T
    if isinstance(fit, BootstrapFit):
        return _simulate_bootstrap(fit, n, horizon, rng)
    return _simulate_garch(fit, n, horizon, rng)
