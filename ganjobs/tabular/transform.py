"""Column transforms between a table and the GAN's matrix (mode-specific normalisation).

Each column is encoded by its own encoder (:mod:`ganjobs.tabular.encoders`): a continuous
column as a ``tanh`` span (a scalar within one mixture mode) and a ``softmax`` span (the mode,
the atoms, the missing slot), a categorical column as one ``softmax`` span over its labels
(sorted as strings, ``None`` last when missing values occur). This module lays the spans side
by side in schema order.

:meth:`TableTransformer.inverse` turns one-hot or soft rows back into a table with the
coerced dtypes (float64, ``Int64``, ``datetime64[ns]``, object of ``str``), clipped to the
schema's bounds so that every generated row respects them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.encoders import (  # noqa: F401 - ALPHA_CLIP and the encoders are public here
    ALPHA_CLIP,
    CategoricalEncoder,
    ContinuousEncoder,
    Encoder,
    atom_index,
    fit_categorical,
    fit_continuous,
)
from ganjobs.tabular.schema import ColumnSpec, TableSchema

FORMAT = "ganjobs.table-transform/1"
_EPOCH = pd.Timestamp("1970-01-01")
_DAY_NS = 86_400 * 10**9
# Days that datetime64[ns] can hold (years 1677..2262), with a margin.
_DAY_LIMIT = 106_000.0


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
                encoders.append(fit_categorical(spec.name, series))
            else:
                rng = np.random.default_rng([seed, index])
                encoders.append(fit_continuous(spec, _as_float(series, spec), max_modes,
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
                out[enc.column] = x[~np.isnan(x) & (atom_index(x, enc.atoms) < 0)]
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
