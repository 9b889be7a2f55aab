"""Marginal calibration of the table model's continuous columns.

A GAN learns the joint shape of a table well before it gets every marginal exactly right: a
column may come out shifted or too narrow (an income a few percent high, an amount too
concentrated). After training, a large generated sample fixes, for each continuous column, a
monotone map from the generated values' quantiles onto the training values' quantiles; at
generation the map is applied to the values drawn from mixture modes (atoms and missing
values are already exact). A monotone map per column keeps the rank order within the column,
so the dependence the GAN learnt between columns is kept; only the marginals move. The
market model calibrates its output the same way (its body map).

Knots are the training values' quantiles at ``LEVELS`` (0.5% to 99.5%); beyond them the map
shifts values by the end knots' difference, so the extremes stay the generator's own and no
training minimum or maximum is stored. A differentially private model is not calibrated: the
quantiles of the training rows would be released without noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Probability levels of the knots (0.5% .. 99.5%).
LEVELS = np.linspace(0.005, 0.995, 199)
#: Generated rows the map is fitted on.
CALIBRATION_ROWS = 20_000


def fit_map(generated: np.ndarray, real: np.ndarray) -> dict[str, list[float]] | None:
    """Knots mapping the ``generated`` values' quantiles onto the ``real`` ones' (None when
    either side has too few values or no spread)."""
    generated = generated[np.isfinite(generated)]
    real = real[np.isfinite(real)]
    if generated.size < 50 or real.size < 20:
        return None
    src = np.quantile(generated, LEVELS)
    dst = np.quantile(real, LEVELS)
    if src[-1] <= src[0]:
        return None
    # Ties (a flat stretch of generated quantiles) would make the map a step: keep the
    # first knot of each run so the map stays a function.
    keep = np.concatenate([[True], np.diff(src) > 0])
    return {"source": [float(v) for v in src[keep]], "target": [float(v) for v in dst[keep]]}


def apply_map(values: np.ndarray, knots: dict[str, Any]) -> np.ndarray:
    """Map values through the knots; outside them, shift by the nearest end's difference."""
    src = np.asarray(knots["source"], dtype=np.float64)
    dst = np.asarray(knots["target"], dtype=np.float64)
    out = np.interp(values, src, dst)
    low, high = values < src[0], values > src[-1]
    out[low] = values[low] + (dst[0] - src[0])
    out[high] = values[high] + (dst[-1] - src[-1])
    return out
