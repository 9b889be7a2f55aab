"""Column transforms between a table and the GAN's matrix (mode-specific normalisation).

Each continuous column (numeric, integer, date as days since 1970-01-01) is modelled by a
variational Gaussian mixture. A value is encoded as one scalar ``alpha`` in [-0.99, 0.99]
(its distance to the centre of one mode, in units of four standard deviations: a ``tanh``
span) and a one-hot choice of that mode (a ``softmax`` span), the mode being drawn from the
value's posterior probabilities. A column with missing values gets one more slot in that
softmax. A value held by many rows (a point mass: the zero debt of most borrowers, a
36-month term) is an *atom*: it gets a slot of its own in the softmax and comes back exactly,
instead of being smeared by a mixture mode (the mixed-type encoding of CTAB-GAN); the mixture
is fitted to the other values. Each categorical column is one ``softmax`` span over its
labels (sorted as strings, ``None`` last when missing values occur).

:meth:`TableTransformer.inverse` turns one-hot or soft rows back into a table with the
coerced dtypes (float64, ``Int64``, ``datetime64[ns]``, object of ``str``), clipped to the
schema's bounds so that every generated row respects them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.schema import ColumnSpec, TableSchema

FORMAT = "ganjobs.table-transform/1"
#: At most this many non-missing values of a column are used to fit its mixture.
FIT_ROWS = 20_000
#: Encoded ``alpha`` is clipped to this magnitude (a value beyond four deviations of its mode).
ALPHA_CLIP = 0.99
_EPOCH = pd.Timestamp("1970-01-01")
_DAY_NS = 86_400 * 10**9
# Days that datetime64[ns] can hold (years 1677..2262), with a margin.
_DAY_LIMIT = 106_000.0
#: A value of a continuous column held by at least this share of its non-missing values is
#: an atom; at most ``MAX_ATOMS`` of them, the most frequent first.
ATOM_SHARE = 0.05
MAX_ATOMS = 10


@dataclass(frozen=True)
class Span:
    """A run of matrix columns: ``tanh`` (one alpha) or ``softmax`` (a one-hot choice)."""

    column: str
    kind: Literal["tanh", "softmax"]
    start: int
    width: int


@dataclass(frozen=True)
class DiscreteColumn:
    """A categorical column as the conditional vector sees it: its span and label counts."""

    column: str
    start: int
    width: int
    labels: tuple[str | None, ...]
    counts: tuple[int, ...]


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
        atom = _atom_index(filled, self.atoms)
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
        return cls(str(d["column"]), d["kind"], _floats(d["means"]), _floats(d["stds"]),
                   _floats(d["weights"]), bool(d["has_missing"]), float(obs["min"]),
                   float(obs["max"]), int(obs["missing"]), _floats(d.get("atoms", ())))


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


class TableTransformer:
    """Fitted transforms of every column of a schema, in schema order.

    Attributes
    ----------
    schema : TableSchema
        The schema the transform was fitted with.
    spans : list of Span
        The matrix layout: per continuous column a ``tanh`` span (width 1) then a
        ``softmax`` span; per categorical column one ``softmax`` span.
    discrete : list of DiscreteColumn
        The categorical columns (target included) with their spans and label counts.
    width : int
        Number of matrix columns.
    encoders : list
        One :class:`ContinuousEncoder` or :class:`CategoricalEncoder` per column.
    """

    def __init__(self, schema: TableSchema, encoders: list[Encoder],
                 settings: dict[str, Any]) -> None:
        kinds = [e.kind if isinstance(e, ContinuousEncoder) else "categorical"
                 for e in encoders]
        if ([e.column for e in encoders] != schema.names
                or kinds != [c.kind for c in schema.columns]):
            raise GanjobsError("transform: the encoded columns do not match the schema's "
                               "columns and kinds")
        self.schema = schema
        self.encoders = list(encoders)
        self.settings = dict(settings)
        self.spans: list[Span] = []
        self.discrete: list[DiscreteColumn] = []
        start = 0
        for enc in self.encoders:
            if isinstance(enc, ContinuousEncoder):
                self.spans.append(Span(enc.column, "tanh", start, 1))
                self.spans.append(Span(enc.column, "softmax", start + 1, enc.width - 1))
            else:
                self.spans.append(Span(enc.column, "softmax", start, enc.width))
                self.discrete.append(DiscreteColumn(enc.column, start, enc.width,
                                                    enc.labels, enc.counts))
            start += enc.width
        self.width = start

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: TableSchema, *, max_modes: int = 10,
            weight_threshold: float = 0.005, seed: int = 0) -> TableTransformer:
        """Fit the transforms of every column of ``schema`` on ``frame``.

        Parameters
        ----------
        frame : pandas.DataFrame
            A coerced table (see :mod:`ganjobs.tabular.validate`) with the schema's columns.
        schema : TableSchema
            Kinds of the columns; the matrix follows its column order.
        max_modes : int
            Mixture components tried per continuous column.
        weight_threshold : float
            Modes with a weight at or below this are dropped.
        seed : int
            Seeds the subsample and the mixture fits: same inputs, same transform.

        Raises
        ------
        GanjobsError
            If the table is empty, lacks a schema column, or a column has no values.
        """
        if max_modes < 1:
            raise GanjobsError(f"transform: max_modes must be at least 1, got {max_modes}")
        if len(frame) == 0:
            raise GanjobsError("transform: the table has no rows")
        encoders: list[Encoder] = []
        for index, spec in enumerate(schema.columns):
            series = _column(frame, spec.name)
            if spec.kind == "categorical":
                encoders.append(_fit_categorical(spec.name, series))
            else:
                rng = np.random.default_rng([seed, index])
                encoders.append(_fit_continuous(spec, _as_float(series, spec), max_modes,
                                                weight_threshold, seed, rng))
        settings = {"max_modes": int(max_modes), "weight_threshold": float(weight_threshold),
                    "seed": int(seed)}
        return cls(schema, encoders, settings)

    def transform(self, frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Encode ``frame`` as a float32 ``(n, width)`` matrix; ``rng`` draws the modes.

        Raises
        ------
        GanjobsError
            If a column is missing, has an unseen label, or has missing values that the
            fitted data did not have.
        """
        blocks = []
        for spec, enc in zip(self.schema.columns, self.encoders, strict=True):
            series = _column(frame, spec.name)
            if isinstance(enc, ContinuousEncoder):
                blocks.append(enc.encode(_as_float(series, spec), rng))
            else:
                blocks.append(enc.encode(series))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def inverse(self, matrix: np.ndarray,
                calibration: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Decode hard (one-hot) or soft (probability) rows into a table.

        ``calibration`` maps a continuous column to the knots of its marginal calibration
        (:mod:`ganjobs.tabular.calibration`), applied to the values drawn from mixture modes.

        Softmax spans are read by argmax, alpha is clipped to [-1, 1]; the missing slot gives
        NaN, ``<NA>``, NaT or ``None``. Integers are rounded (``Int64``), dates rounded to
        whole days (``datetime64[ns]``), and numeric/integer values clipped to the schema's
        bounds. Columns come in schema order.
        """
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise ValueError(f"expected a matrix of shape (n, {self.width}), "
                             f"got {matrix.shape}")
        if not np.isfinite(matrix).all():
            raise ValueError("the matrix has NaN or infinite values")
        out: dict[str, Any] = {}
        start = 0
        for spec, enc in zip(self.schema.columns, self.encoders, strict=True):
            block = matrix[:, start:start + enc.width]
            start += enc.width
            if isinstance(enc, ContinuousEncoder):
                values = enc.decode(block)
                knots = (calibration or {}).get(spec.name)
                if knots:
                    from ganjobs.tabular.calibration import apply_map

                    modal = enc.modal(block)
                    values[modal] = apply_map(values[modal], knots)
                out[spec.name] = _finish_continuous(values, spec)
            else:
                out[spec.name] = pd.Series(enc.decode(block), dtype=object)
        return pd.DataFrame(out, index=pd.RangeIndex(len(matrix)))

    def modal_values(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Per continuous column, the values of the rows that chose a mixture mode (not an
        atom, not missing), before rounding and bounds: what calibration maps."""
        out, start = {}, 0
        for enc in self.encoders:
            block = np.asarray(matrix)[:, start:start + enc.width]
            start += enc.width
            if isinstance(enc, ContinuousEncoder):
                out[enc.column] = enc.decode(block)[enc.modal(block)]
        return out

    def real_modal_values(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per continuous column, the table's values that are neither missing nor atoms."""
        out = {}
        for spec, enc in zip(self.schema.columns, self.encoders, strict=True):
            if isinstance(enc, ContinuousEncoder):
                x = _as_float(_column(frame, spec.name), spec)
                out[enc.column] = x[~np.isnan(x) & (_atom_index(x, enc.atoms) < 0)]
        return out

    def observed(self) -> dict[str, dict[str, float]]:
        """Per continuous column the fitted data's ``min``, ``max`` and ``missing`` count."""
        return {e.column: e.to_dict()["observed"] for e in self.encoders
                if isinstance(e, ContinuousEncoder)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description; :meth:`from_dict` rebuilds an identical transform."""
        return {"format": FORMAT, "schema": self.schema.to_dict(),
                "settings": dict(self.settings),
                "columns": [e.to_dict() for e in self.encoders]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableTransformer:
        """Rebuild a transform from :meth:`to_dict`'s output.

        Raises
        ------
        GanjobsError
            If the dict is not a transform of this format or is incomplete.
        """
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise GanjobsError(f"transform: expected format {FORMAT!r}, got {found!r}")
        try:
            schema = TableSchema.from_dict(d["schema"], source="transform schema")
            encoders: list[Encoder] = [
                CategoricalEncoder.from_dict(c) if c["kind"] == "categorical"
                else ContinuousEncoder.from_dict(c) for c in d["columns"]]
            return cls(schema, encoders, d["settings"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GanjobsError(f"transform: incomplete or malformed description ({exc!r})") \
                from exc


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise GanjobsError(f"column {name!r}: not in the table (columns: "
                           f"{', '.join(map(str, frame.columns))})")
    return frame[name]


def _as_float(series: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Values of a continuous column as float64 (dates: days since the epoch), NaN missing."""
    try:
        if spec.kind == "date":
            stamps = pd.to_datetime(series)
            if stamps.dt.tz is not None:
                stamps = stamps.dt.tz_convert(None)
            values = ((stamps - _EPOCH) / pd.Timedelta(days=1)).to_numpy(
                dtype=np.float64, na_value=np.nan)
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise GanjobsError(f"column {spec.name!r}: expected {spec.kind} values "
                           f"({type(exc).__name__}: {exc})") from exc
    if np.isinf(values).any():
        raise GanjobsError(f"column {spec.name!r}: infinite values are not allowed")
    return values


def _fit_categorical(name: str, series: pd.Series) -> CategoricalEncoder:
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


def _fit_continuous(spec: ColumnSpec, values: np.ndarray, max_modes: int,
                    weight_threshold: float, seed: int,
                    rng: np.random.Generator) -> ContinuousEncoder:
    missing = np.isnan(values)
    present = values[~missing]
    if present.size == 0:
        raise GanjobsError(f"column {spec.name!r}: all values are missing")
    atoms = _atoms(present)
    rest = present[_atom_index(present, atoms) < 0]
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
    return _floats(values[keep])


def _atom_index(x: np.ndarray, atoms: tuple[float, ...]) -> np.ndarray:
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
    return _floats(mu), _floats(sd), _floats(w)


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


def _finish_continuous(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """Round, clip to the schema's bounds and give the column its output dtype."""
    if spec.kind == "numeric":
        return pd.Series(_clip(values, spec.minimum, spec.maximum), dtype="float64")
    values = np.rint(values)
    if spec.kind == "integer":
        lo = None if spec.minimum is None else math.ceil(spec.minimum)
        hi = None if spec.maximum is None else math.floor(spec.maximum)
        return pd.Series(_clip(values, lo, hi), dtype="float64").astype("Int64")
    missing = np.isnan(values)
    days = np.clip(np.where(missing, 0.0, values), -_DAY_LIMIT, _DAY_LIMIT)
    stamps = (days.astype(np.int64) * _DAY_NS).view("datetime64[ns]")
    stamps[missing] = np.datetime64("NaT")
    return pd.Series(stamps, dtype="datetime64[ns]")


def _clip(values: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    return np.clip(values, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
