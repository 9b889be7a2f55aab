"""The body calibration: a monotone map of each symbol's daily distribution.

The central part (:data:`BODY_PROBS`) of the generator's daily returns maps onto the training
data's quantiles, and a shift restores the mean. Beyond the outer knots, two tail rules:

``moments`` (the default)
    Each side's excess ``d`` beyond its knot becomes ``c * d**p``, with ``(c, p)`` such that
    the mapped excess has the first two moments of the training data's excess beyond its
    own knot (the same 5% of days on each side). The generator keeps the order of its tail
    values; the data give each side a scale and a curvature, two numbers, as a generalized
    Pareto fit would. The mapped variance is then the data's up to sampling (body and both
    tails' second moments match). One scale for both sides instead made equity left tails
    too wide near the 1% quantile (+7 to +9% on the S&P 500 and NASDAQ), because the
    generator's shoulders carried the variance its extremes lacked.
``variance`` (models fitted before it)
    The tails keep the generator's shape, one scale for both sides chosen so that the
    mapped returns have the training data's variance exactly.

Multi-day returns and risk measures depend on the variance and the mean, so neither may
move with the body.

Point masses in the data: where many training days share one value — exactly-zero returns
of tick-rounded or stale prices — the data's quantile function is flat across the atom's
probability, and knots in it would send a whole band of generator values onto that one value:
a point mass in every scenario path, turbulent or calm, that the dynamics do not produce.
Flat knots are therefore replaced by linear interpolation of the quantile function between
the nearest knots around them that are not flat (the data's minimum or maximum beyond the
outer knots): the atom is read as a discretised continuous distribution, its mass spread
evenly between the values the data hold on either side of it, and the map stays strictly
increasing. Knots of data without such ties are the data's quantiles unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.optimize import brentq

from ganjobs.errors import GanjobsError

#: Probabilities of the knots: the central 90% of each symbol's daily distribution, in 1%
#: steps. The tails beyond keep the generator's shape.
BODY_PROBS = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))
#: Bounds of the tail scale: a generator whose tails need more than a factor 4 either way
#: to give the data's variance is not corrected further.
TAIL_SCALE_BOUNDS = (0.25, 4.0)
#: Bounds of the ``moments`` rule's tail power: beyond them a generator's tail is too unlike
#: the data's to be bent into it (the closest bound is kept).
TAIL_POWER_BOUNDS = (0.5, 2.0)


def fit_body(sample: np.ndarray, target: np.ndarray,
             tails: Literal["moments", "variance"] = "moments") -> dict[str, Any]:
    """Fit the map of ``sample`` (generator output, ``(n, k)``) onto ``target`` (``(m, k)``).

    Parameters
    ----------
    sample, target : ndarray
        Generator output and training data, one column per symbol.
    tails : {"moments", "variance"}
        The tail rule (see the module docstring).

    Returns
    -------
    dict
        ``probs``, per-symbol ``source`` and ``target`` knots, ``shift``, and the tails:
        ``tails`` (per symbol ``[[c_low, p_low], [c_high, p_high]]``) for ``moments``,
        ``tail_scale`` (per symbol) for ``variance`` (JSON-ready; see :func:`apply_body`).

    Raises
    ------
    GanjobsError
        The generator's quantiles are not strictly increasing (an atom in its output), or a
        symbol's training data are constant.

    Notes
    -----
    ``target`` knots are the data's quantiles at :data:`BODY_PROBS`, except where an atom
    of the data (tied values) holds two knots or more: those are spread across the atom
    (see the module docstring, :func:`_spread_atoms`).
    """
    probs = np.asarray(BODY_PROBS)
    source = np.quantile(sample, probs, axis=0).T  # (k, knots)
    if np.any(np.diff(source, axis=1) <= 0):
        raise GanjobsError("output calibration impossible: the generator's daily quantiles "
                           "are not strictly increasing")
    dest = np.quantile(target, probs, axis=0).T
    for j in np.flatnonzero(np.any(np.diff(dest, axis=1) <= 0, axis=1)):
        dest[j] = _spread_atoms(dest[j], probs, target[:, j], j)
    out: dict[str, Any] = {"probs": probs.tolist(), "source": source.tolist(),
                           "target": dest.tolist()}
    params, shifts = [], []
    for j in range(sample.shape[1]):
        v, t = sample[:, j], target[:, j]
        inner, tail = _parts(v, source[j], dest[j])
        if tails == "moments":
            sides = [_moment_tail(np.abs(tail[tail < 0]), dest[j][0] - t[t < dest[j][0]]),
                     _moment_tail(tail[tail > 0], t[t > dest[j][-1]] - dest[j][-1])]
            params.append(sides)
            mapped = inner + _bend(tail, sides)
        else:
            c = _variance_scale(inner, tail, float(t.var()))
            params.append(c)
            mapped = inner + c * tail
        shifts.append(float(t.mean() - mapped.mean()))
    out["tails" if tails == "moments" else "tail_scale"] = params
    out["shift"] = shifts
    return out


def apply_body(y: np.ndarray, body: dict[str, Any]) -> np.ndarray:
    """Map each symbol's values (last axis of ``y``) through the fitted body map.

    Between the outer knots a value moves to the training data's quantile of its own
    generator quantile; beyond them it continues from the outer knot — by ``c * d**p`` of
    its distance ``d`` to the knot (``tails``) or with slope ``tail_scale`` — so the map is
    continuous and increasing; last, ``shift`` is added.
    """
    out = np.empty_like(y)
    for j, (src, dst) in enumerate(zip(body["source"], body["target"], strict=True)):
        inner, tail = _parts(y[..., j], np.asarray(src), np.asarray(dst))
        bent = (_bend(tail, body["tails"][j]) if "tails" in body
                else body["tail_scale"][j] * tail)
        out[..., j] = inner + bent + body["shift"][j]
    return out


def _spread_atoms(knots: np.ndarray, probs: np.ndarray, values: np.ndarray,
                  column: int) -> np.ndarray:
    """Strictly increasing knots: each stretch of flat knots (a knot equal to a neighbour)
    is replaced by linear interpolation in probability between the nearest knots around it
    that are not flat, or the data's minimum (probability 0) and maximum (probability 1)."""
    p = np.concatenate([[0.0], probs, [1.0]])
    q = np.concatenate([[values.min()], knots, [values.max()]])
    inner = np.diff(knots) <= 0  # knot i equals knot i + 1
    flat = np.zeros(len(q), bool)
    flat[1:-2] |= inner
    flat[2:-1] |= inner
    out = q.copy()
    starts = np.flatnonzero(flat[1:] & ~flat[:-1]) + 1
    ends = np.flatnonzero(flat[:-1] & ~flat[1:])  # last flat index of each stretch
    for lo, hi in zip(starts - 1, ends + 1, strict=True):
        if q[hi] <= q[lo]:
            raise GanjobsError(f"output calibration impossible: the training data of symbol "
                               f"column {column} are constant")
        out[lo + 1:hi] = q[lo] + (p[lo + 1:hi] - p[lo]) * ((q[hi] - q[lo]) / (p[hi] - p[lo]))
    out = out[1:-1]
    if np.any(np.diff(out) <= 0):  # only where an atom's neighbours are a few ulps apart
        raise GanjobsError(f"output calibration impossible: the training data of symbol "
                           f"column {column} have too little spread around a repeated value")
    return out


def _bend(tail: np.ndarray, sides: list[list[float]]) -> np.ndarray:
    """``-c_low |d|**p_low`` below the low knot, ``c_high d**p_high`` above the high one."""
    (c_lo, p_lo), (c_hi, p_hi) = sides
    mag = np.abs(tail)
    return np.where(tail < 0, -c_lo * mag**p_lo, c_hi * mag**p_hi)


def _moment_tail(d: np.ndarray, e: np.ndarray) -> list[float]:
    """``[c, p]`` such that ``c * d**p`` has the mean and mean square of ``e`` (excesses
    beyond a knot: the generator's ``d``, the data's ``e``, both positive); ``[1, 1]``
    where either side has fewer than two values."""
    if len(d) < 2 or len(e) < 2 or not np.all(d > 0) or not np.all(e > 0):
        return [1.0, 1.0]
    scale = float(d.mean())
    d = d / scale  # scale-free: p then only has to match the shape
    ratio = float(np.mean(e**2) / np.mean(e) ** 2)

    def excess(p: float) -> float:
        # E[d^2p] / E[d^p]^2 grows with p: the larger p, the heavier the bent tail.
        return float(np.mean(d ** (2 * p)) / np.mean(d**p) ** 2) - ratio

    lo, hi = TAIL_POWER_BOUNDS
    if excess(lo) >= 0:
        p = lo
    elif excess(hi) <= 0:
        p = hi
    else:
        p = float(brentq(excess, lo, hi, xtol=1e-10))
    c = float(np.mean(e) / np.mean(d**p))  # for d / scale, hence / scale**p below
    return [c / scale**p, p]


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
