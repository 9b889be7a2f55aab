"""Encoders of single columns for the table GAN: mode-specific normalisation.

A continuous column (numeric, integer, date as days since 1970-01-01) is modelled by a
variational Gaussian mixture; a value becomes a scalar in [-0.99, 0.99] (its distance to
one mode's centre in units of four deviations) and a one-hot choice of that mode, drawn
from the value's posterior. Values held by at least ``ATOM_SHARE`` of the rows are atoms with
a slot of their own, decoded exactly; missing values have a slot too. A categorical column
is a one-hot over its labels. :mod:`ganjobs.tabular.transform` puts the columns together.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.schema import ColumnSpec

#: At most this many non-missing values of a column are used to fit its mixture.
FIT_ROWS = 20_000
#: Encoded ``alpha`` is clipped to this magnitude (a value beyond four deviations of its mode).
ALPHA_CLIP = 0.99
#: A value of a continuous column held by at least this share of its non-missing values is
#: an atom; at most ``MAX_ATOMS`` of them, the most frequent first.
ATOM_SHARE = 0.05
MAX_ATOMS = 10


@dataclass(frozen=True)
class ContinuousEncoder:
    """The fitted mixture of one numeric, integer or date column.

    ``means`` and ``stds`` are in the column's units (days since the epoch for a date);
    ``weights`` sum to one over the kept modes. ``has_missing`` adds the missing slot.
    ``observed_min``/``observed_max``/``missing`` describe the fitted data (for reports).
    ``atoms`` are the exact values with a slot of their own (after the modes).
    """

    column: str
    kind: Literal["numeric", "integer", "date"]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]
    has_missing: bool
    observed_min: float
    observed_max: float
    missing: int
    atoms: tuple[float, ...] = ()

    @property
    def n_modes(self) -> int:
        """Number of kept mixture modes."""
        return len(self.means)

    @property
    def width(self) -> int:
        """Matrix columns: alpha, the modes, the atoms, and the missing slot if any."""
        return 1 + self.n_modes + len(self.atoms) + int(self.has_missing)

    def encode(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Encode float values (NaN = missing) as an ``(n, width)`` block."""
        n = len(values)
        missing = np.isnan(values)
        if missing.any() and not self.has_missing:
            raise GanjobsError(f"column {self.column!r}: has missing values, but the "
                               "transform was fitted on data without any")
        mu, sd = np.asarray(self.means), np.asarray(self.stds)
        filled = np.where(missing, mu[0], values)
        mode = _draw_modes(filled, mu, sd, np.asarray(self.weights), rng.random(n))
        safe_sd = np.where(sd[mode] > 0, sd[mode], 1.0)  # a constant column has sd 0
        alpha = np.clip((filled - mu[mode]) / (4.0 * safe_sd), -ALPHA_CLIP, ALPHA_CLIP)
        atom = atom_index(filled, self.atoms)
        exact = (atom >= 0) & ~missing
        block = np.zeros((n, self.width), dtype=np.float64)
        block[:, 0] = np.where(missing | exact, 0.0, alpha)
        slot = np.where(exact, self.n_modes + atom, mode)
        slot = np.where(missing, self.n_modes + len(self.atoms), slot)
        block[np.arange(n), 1 + slot] = 1.0
        return block

    def decode(self, block: np.ndarray) -> np.ndarray:
        """Float values (NaN = missing) from an ``(n, width)`` block of hard or soft rows."""
        alpha = np.clip(block[:, 0].astype(np.float64), -1.0, 1.0)
        slot = np.argmax(block[:, 1:], axis=1)
        n_atoms = len(self.atoms)
        missing = slot >= self.n_modes + n_atoms
        mode = np.minimum(slot, self.n_modes - 1)
        mu, sd = np.asarray(self.means), np.asarray(self.stds)
        values = alpha * 4.0 * sd[mode] + mu[mode]
        if n_atoms:
            is_atom = (slot >= self.n_modes) & ~missing
            atoms = np.asarray(self.atoms, dtype=np.float64)
            values[is_atom] = atoms[slot[is_atom] - self.n_modes]
        values[missing] = np.nan
        return values

    def modal(self, block: np.ndarray) -> np.ndarray:
        """Rows of ``block`` whose softmax chose a mixture mode."""
        return np.argmax(block[:, 1:], axis=1) < self.n_modes

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (Python floats)."""
        return {"column": self.column, "kind": self.kind,
                "means": [float(v) for v in self.means],
                "stds": [float(v) for v in self.stds],
                "weights": [float(v) for v in self.weights],
                "has_missing": bool(self.has_missing),
                "atoms": [float(v) for v in self.atoms],
                "observed": {"min": float(self.observed_min), "max": float(self.observed_max),
                             "missing": int(self.missing)}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContinuousEncoder:
        """Inverse of :meth:`to_dict`."""
        obs = d["observed"]
        return cls(str(d["column"]), d["kind"], floats(d["means"]), floats(d["stds"]),
                   floats(d["weights"]), bool(d["has_missing"]), float(obs["min"]),
                   float(obs["max"]), int(obs["missing"]), floats(d.get("atoms", ())))


@dataclass(frozen=True)
class CategoricalEncoder:
    """The labels of one categorical column (``None`` last = missing) and their counts."""

    column: str
    labels: tuple[str | None, ...]
    counts: tuple[int, ...]

    @property
    def width(self) -> int:
        """Matrix columns: one per label."""
        return len(self.labels)

    def encode(self, series: pd.Series) -> np.ndarray:
        """One-hot ``(n, width)`` block of a column of labels."""
        missing = series.isna().to_numpy()
        known = [v for v in self.labels if v is not None]
        codes = np.full(len(series), -1, dtype=np.int64)
        codes[~missing] = pd.Index(known, dtype=object).get_indexer(
            series[~missing].astype(str).astype(object))
        if (codes[~missing] < 0).any():
            bad = series[~missing].astype(str)[codes[~missing] < 0].iloc[0]
            raise GanjobsError(f"column {self.column!r}: label {bad!r} was not in the data "
                               "the transform was fitted on")
        if missing.any():
            if self.labels[-1] is not None:
                raise GanjobsError(f"column {self.column!r}: has missing values, but the "
                                   "transform was fitted on data without any")
            codes[missing] = len(self.labels) - 1
        block = np.zeros((len(series), self.width), dtype=np.float64)
        block[np.arange(len(series)), codes] = 1.0
        return block

    def decode(self, block: np.ndarray) -> np.ndarray:
        """Object array of labels (``None`` = missing) from hard or soft rows."""
        labels = np.empty(len(self.labels), dtype=object)
        labels[:] = list(self.labels)
        return labels[np.argmax(block, axis=1)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return {"column": self.column, "kind": "categorical", "labels": list(self.labels),
                "counts": [int(c) for c in self.counts]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalEncoder:
        """Inverse of :meth:`to_dict`."""
        labels = tuple(None if v is None else str(v) for v in d["labels"])
        return cls(str(d["column"]), labels, tuple(int(c) for c in d["counts"]))


Encoder = ContinuousEncoder | CategoricalEncoder


def fit_categorical(name: str, series: pd.Series) -> CategoricalEncoder:
    missing = series.isna()
    counts = series[~missing].astype(str).value_counts()
    labels: list[str | None] = sorted(str(v) for v in counts.index)
    sizes = [int(counts[v]) for v in labels]
    if missing.any():
        labels.append(None)
        sizes.append(int(missing.sum()))
    if not labels:
        raise GanjobsError(f"column {name!r}: no values to fit")
    return CategoricalEncoder(name, tuple(labels), tuple(sizes))


def fit_continuous(spec: ColumnSpec, values: np.ndarray, max_modes: int,
                    weight_threshold: float, seed: int,
                    rng: np.random.Generator) -> ContinuousEncoder:
    missing = np.isnan(values)
    present = values[~missing]
    if present.size == 0:
        raise GanjobsError(f"column {spec.name!r}: all values are missing")
    atoms = _atoms(present)
    rest = present[atom_index(present, atoms) < 0]
    if rest.size == 0:  # every value is an atom: the mode is never chosen
        rest = present
    if rest.size > FIT_ROWS:
        rest = rest[rng.choice(rest.size, FIT_ROWS, replace=False)]
    means, stds, weights = _mixture(rest, max_modes, weight_threshold, seed)
    return ContinuousEncoder(spec.name, spec.kind, means, stds, weights, bool(missing.any()),
                             float(present.min()), float(present.max()),
                             int(missing.sum()), atoms)


def _atoms(present: np.ndarray) -> tuple[float, ...]:
    """The values held by at least ``ATOM_SHARE`` of the rows, most frequent first."""
    values, counts = np.unique(present, return_counts=True)
    if values.size < 2:  # a constant column is one exact mode already
        return ()
    order = np.argsort(-counts, kind="stable")[:MAX_ATOMS]
    keep = order[counts[order] >= ATOM_SHARE * present.size]
    return floats(values[keep])


def atom_index(x: np.ndarray, atoms: tuple[float, ...]) -> np.ndarray:
    """Index of each value among ``atoms`` (-1: not an atom)."""
    out = np.full(len(x), -1, dtype=np.int64)
    for i, a in enumerate(atoms):
        out[(x == a) & (out < 0)] = i
    return out


def _mixture(x: np.ndarray, max_modes: int, weight_threshold: float,
             seed: int) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Means, standard deviations and weights of the kept modes of a 1-D mixture fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    distinct = np.unique(x)
    if distinct.size == 1:  # a constant column: one exact mode
        return (float(distinct[0]),), (0.0,), (1.0,)
    # Fit on standardised values so that the mixture's covariance floor (reg_covar) is
    # relative to the column's spread, whatever its units.
    centre, scale = float(x.mean()), float(x.std())
    model = BayesianGaussianMixture(
        n_components=min(max_modes, distinct.size),
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001, max_iter=100, n_init=1, random_state=seed)
    with warnings.catch_warnings():
        # 100 iterations often stop short of the tolerance; the modes are still usable.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(((x - centre) / scale).reshape(-1, 1))
    weights = model.weights_
    keep = weights > weight_threshold
    if not keep.any():
        keep = weights == weights.max()
    mu = model.means_[keep, 0] * scale + centre
    sd = np.sqrt(model.covariances_[keep, 0, 0]) * scale
    w = weights[keep] / weights[keep].sum()
    return floats(mu), floats(sd), floats(w)


def _draw_modes(x: np.ndarray, mu: np.ndarray, sd: np.ndarray, w: np.ndarray,
                u: np.ndarray) -> np.ndarray:
    """For each value, a mode drawn from its posterior over the kept modes (``u`` uniform)."""
    if len(mu) == 1:
        return np.zeros(len(x), dtype=np.int64)
    z = (x[:, None] - mu[None, :]) / sd[None, :]
    logp = np.log(w)[None, :] - np.log(sd)[None, :] - 0.5 * z * z
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    cum = np.cumsum(p, axis=1)
    cum /= cum[:, -1:]
    mode = (u[:, None] > cum).sum(axis=1)
    return np.minimum(mode, len(mu) - 1)


def floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
