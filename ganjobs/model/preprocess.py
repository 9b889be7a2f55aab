"""Per-symbol preprocessing of log returns, fitted on the training window and inverted on output.

Pipeline (each step per symbol, as in QuantGAN, Wiese et al. 2020):

1. standardise: ``u = (r - mean) / std``;
2. optionally gaussianise heavy tails with Goerg's inverse Lambert-W transform,
   ``z = W_delta((u - mu) / sigma)`` with ``W_delta(x) = sign(x) sqrt(W(delta x^2) / delta)``
   and ``(mu, sigma, delta)`` estimated by IGMM (Goerg 2011, 2015);
3. standardise again so that the networks see unit variance.

:meth:`Preprocessor.inverse` undoes all three exactly (``x exp(delta x^2 / 2)`` is the
forward Lambert-W map). Nothing is clipped: a generated value in the far tail maps to a far
tail return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from ganjobs.errors import GanjobsError

#: Upper bound of the tail parameter searched by IGMM; daily returns sit well below it.
MAX_DELTA = 2.0


def w_delta(x: np.ndarray, delta: float) -> np.ndarray:
    """Inverse heavy-tail Lambert-W map: gaussianises ``x`` for tail parameter ``delta``."""
    if delta <= 0.0:
        return np.asarray(x, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = special.lambertw(delta * x * x).real
    return np.sign(x) * np.sqrt(w / delta)


def h_delta(z: np.ndarray, delta: float) -> np.ndarray:
    """Forward heavy-tail Lambert-W map ``z exp(delta z^2 / 2)`` (inverse of :func:`w_delta`)."""
    z = np.asarray(z, dtype=np.float64)
    if delta <= 0.0:
        return z
    with np.errstate(over="ignore"):  # an overflow is an honest infinite tail, not an error
        return z * np.exp(0.5 * delta * z * z)


def _delta_taylor(y: np.ndarray) -> float:
    """Starting value of delta from the kurtosis (Goerg 2015, Taylor approximation)."""
    kurt = float(stats.kurtosis(y, fisher=False))
    inner = 66.0 * kurt - 162.0
    if inner <= 0:
        return 0.0
    return float(np.clip((np.sqrt(inner) - 6.0) / 66.0, 0.0, MAX_DELTA))


def delta_gmm(z: np.ndarray) -> float:
    """Delta that makes ``W_delta(z)`` have the Gaussian kurtosis 3 (closest in squares).

    ``z`` is already centred and scaled.
    """
    def gap(delta: float) -> float:
        u = w_delta(z, delta)
        return (float(stats.kurtosis(u, fisher=False)) - 3.0) ** 2

    if float(stats.kurtosis(z, fisher=False)) <= 3.0:
        return 0.0  # not heavy-tailed: the transform would only thin the tails
    res = optimize.minimize_scalar(gap, bounds=(0.0, MAX_DELTA), method="bounded",
                                   options={"xatol": 1e-7})
    return float(res.x)


def igmm(y: np.ndarray, tol: float = 1e-6, max_iter: int = 100) -> tuple[float, float, float]:
    """Goerg's iterative generalised method of moments for Lambert-W x Gaussian data.

    Returns
    -------
    mu, sigma, delta : float
        Location and scale of the latent Gaussian and the tail parameter.
    """
    y = np.asarray(y, dtype=np.float64)
    mu, sigma = float(np.median(y)), float(np.std(y))
    delta = _delta_taylor(y)
    for _ in range(max_iter):
        z = (y - mu) / sigma
        delta_new = delta_gmm(z)
        x = w_delta(z, delta_new) * sigma + mu
        mu_new, sigma_new = float(np.mean(x)), float(np.std(x))
        step = np.linalg.norm([mu_new - mu, sigma_new - sigma, delta_new - delta])
        mu, sigma, delta = mu_new, sigma_new, delta_new
        if step < tol:
            break
    return mu, sigma, delta


@dataclass
class Preprocessor:
    """Fitted per-symbol transform; arrays have one entry per symbol.

    Attributes
    ----------
    lambert_w : bool
    mean, std : ndarray
        First standardisation of the log returns.
    lw_mu, lw_sigma, delta : ndarray
        IGMM estimates (``0, 1, 0`` when ``lambert_w`` is off: the identity).
    post_mean, post_std : ndarray
        Second standardisation, of the gaussianised values.
    """

    lambert_w: bool
    mean: np.ndarray
    std: np.ndarray
    lw_mu: np.ndarray
    lw_sigma: np.ndarray
    delta: np.ndarray
    post_mean: np.ndarray
    post_std: np.ndarray

    @classmethod
    def fit(cls, returns: np.ndarray, lambert_w: bool = True) -> Preprocessor:
        """Fit on training returns ``(T, k)``."""
        x = np.asarray(returns, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 3:
            raise GanjobsError(f"preprocessing needs returns of shape (T >= 3, k), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise GanjobsError("preprocessing needs finite returns")
        k = x.shape[1]
        mean, std = x.mean(axis=0), x.std(axis=0)
        constant = np.ptp(x, axis=0) == 0
        if np.any(constant):
            flat = int(np.argmax(constant))
            raise GanjobsError(f"symbol column {flat} has constant returns in the training "
                               "window: nothing to learn")
        u = (x - mean) / std
        lw_mu, lw_sigma, delta = np.zeros(k), np.ones(k), np.zeros(k)
        if lambert_w:
            for j in range(k):
                lw_mu[j], lw_sigma[j], delta[j] = igmm(u[:, j])
        z = np.column_stack([w_delta((u[:, j] - lw_mu[j]) / lw_sigma[j], delta[j])
                             for j in range(k)])
        return cls(lambert_w=bool(lambert_w), mean=mean, std=std, lw_mu=lw_mu,
                   lw_sigma=lw_sigma, delta=delta, post_mean=z.mean(axis=0),
                   post_std=z.std(axis=0))

    @property
    def k(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, returns: np.ndarray) -> np.ndarray:
        """Log returns ``(..., k)`` to model space (float64)."""
        u = (np.asarray(returns, dtype=np.float64) - self.mean) / self.std
        z = np.empty_like(u)
        for j in range(self.k):
            z[..., j] = w_delta((u[..., j] - self.lw_mu[j]) / self.lw_sigma[j], self.delta[j])
        return (z - self.post_mean) / self.post_std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Model space ``(..., k)`` back to log returns (float64)."""
        z = np.asarray(values, dtype=np.float64) * self.post_std + self.post_mean
        u = np.empty_like(z)
        for j in range(self.k):
            u[..., j] = self.lw_mu[j] + self.lw_sigma[j] * h_delta(z[..., j], self.delta[j])
        return u * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (floats written with full precision by ``json``)."""
        out: dict[str, Any] = {"kind": "standardise+lambert_w" if self.lambert_w
                               else "standardise", "lambert_w": self.lambert_w}
        for name in ("mean", "std", "lw_mu", "lw_sigma", "delta", "post_mean", "post_std"):
            out[name] = [float(v) for v in getattr(self, name)]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`to_dict` output."""
        try:
            arrays = {name: np.asarray(d[name], dtype=np.float64)
                      for name in ("mean", "std", "lw_mu", "lw_sigma", "delta", "post_mean",
                                   "post_std")}
            return cls(lambert_w=bool(d["lambert_w"]), **arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise GanjobsError(f"invalid preprocessing parameters: {exc}") from None
