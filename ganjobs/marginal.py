"""The body calibration: a monotone map of each symbol's daily distribution.

The central part (:data:`BODY_PROBS`) of the generator's daily returns maps onto the training
data's quantiles; the tails beyond keep the generator's shape, scaled so that the mapped
returns have the training data's variance, and a shift restores the mean. Multi-day returns
and risk measures depend on the variance and the mean, so neither may move with the body.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganjobs.errors import GanjobsError

#: Probabilities of the knots: the central 90% of each symbol's daily distribution, in 1%
#: steps. The tails beyond keep the generator's shape.
BODY_PROBS = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))
#: Bounds of the tail scale: a generator whose tails need more than a factor 4 either way
#: to give the data's variance is not corrected further.
TAIL_SCALE_BOUNDS = (0.25, 4.0)


def fit_body(sample: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """Fit the map of ``sample`` (generator output, ``(n, k)``) onto ``target`` (``(m, k)``).

    Returns
    -------
    dict
        ``probs``, per-symbol ``source`` and ``target`` knots, ``tail_scale`` and ``shift``
        (JSON-ready; see :func:`apply_body`).

    Raises
    ------
    GanjobsError
        The generator's quantiles are not strictly increasing (an atom in its output).
    """
    probs = np.asarray(BODY_PROBS)
    source = np.quantile(sample, probs, axis=0).T  # (k, knots)
    if np.any(np.diff(source, axis=1) <= 0):
        raise GanjobsError("output calibration impossible: the generator's daily quantiles "
                           "are not strictly increasing")
    dest = np.quantile(target, probs, axis=0).T
    k = sample.shape[1]
    scales, shifts = [], []
    for j in range(k):
        inner, tail = _parts(sample[:, j], source[j], dest[j])
        c = _variance_scale(inner, tail, float(target[:, j].var()))
        scales.append(c)
        shifts.append(float(target[:, j].mean() - (inner + c * tail).mean()))
    return {"probs": probs.tolist(), "source": source.tolist(), "target": dest.tolist(),
            "tail_scale": scales, "shift": shifts}


def apply_body(y: np.ndarray, body: dict[str, Any]) -> np.ndarray:
    """Map each symbol's values (last axis of ``y``) through the fitted body map.

    Between the outer knots a value moves to the training data's quantile of its own
    generator quantile; beyond them it continues from the outer knot with slope
    ``tail_scale``, so the map is continuous and increasing; last, ``shift`` is added.
    """
    out = np.empty_like(y)
    for j, (src, dst) in enumerate(zip(body["source"], body["target"], strict=True)):
        inner, tail = _parts(y[..., j], np.asarray(src), np.asarray(dst))
        out[..., j] = inner + body["tail_scale"][j] * tail + body["shift"][j]
    return out


def _parts(v: np.ndarray, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The map as ``inner + scale * tail``: ``tail`` is the distance beyond an outer knot."""
    inner = np.interp(v, src, dst)  # constant at the outer knots' images beyond them
    tail = np.where(v < src[0], v - src[0], 0.0) + np.where(v > src[-1], v - src[-1], 0.0)
    return inner, tail


def _variance_scale(inner: np.ndarray, tail: np.ndarray, variance: float) -> float:
    """The ``c > 0`` with ``var(inner + c * tail) == variance`` (a quadratic in ``c``)."""
    a = float(tail.var())
    b = 2.0 * float(np.mean((inner - inner.mean()) * (tail - tail.mean())))
    d = float(inner.var()) - variance
    disc = b * b - 4.0 * a * d
    if a <= 0.0 or disc < 0.0:
        return 1.0
    lo, hi = TAIL_SCALE_BOUNDS
    return float(np.clip((-b + np.sqrt(disc)) / (2.0 * a), lo, hi))
