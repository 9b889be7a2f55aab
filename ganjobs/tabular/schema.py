"""The schema of a table: each column's kind and bounds, and the target column.

A schema comes from a YAML file (:func:`load_schema`), from inference on the data
(:mod:`ganjobs.tabular.infer`) or from a model folder (:meth:`TableSchema.from_dict`).

YAML format::

    target: Class
    columns:
      funded_amnt: {type: numeric, min: 0}
      term: {type: categorical}
      revol_util: {type: numeric, min: 0, max: 100}
      emp_length: integer            # short form: the type alone

Columns are listed in table order. Bounds are inclusive; a missing bound means unbounded.
Bounds apply to numeric and integer columns only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ganjobs.errors import GanjobsError

ColumnKind = Literal["numeric", "integer", "categorical", "date"]
KINDS: tuple[str, ...] = get_args(ColumnKind)
#: Kinds the GAN models as continuous values (a date is days since the epoch).
CONTINUOUS_KINDS = ("numeric", "integer", "date")
#: Kinds that may carry bounds.
BOUNDED_KINDS = ("numeric", "integer")
_COLUMN_KEYS = ("type", "min", "max")
_TOP_KEYS = ("target", "columns")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, kind and inclusive bounds (``None`` = unbounded)."""

    name: str
    kind: ColumnKind
    minimum: float | None = None
    maximum: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The column as the YAML long form: ``{"type": ..., "min": ..., "max": ...}``."""
        out: dict[str, Any] = {"type": self.kind}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out


@dataclass(frozen=True)
class TableSchema:
    """The columns of a table in table order, and the target (a categorical column) if any."""

    columns: tuple[ColumnSpec, ...]
    target: str | None = None

    def __post_init__(self) -> None:
        _check_schema(self.columns, self.target, "schema")

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``.

        Raises
        ------
        GanjobsError
            If the schema has no such column.
        """
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise GanjobsError(f"schema: no column {name!r} (columns: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        """All column names, in table order."""
        return [c.name for c in self.columns]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical columns (the target included), in table order."""
        return [c.name for c in self.columns if c.kind == "categorical"]

    @property
    def continuous(self) -> list[str]:
        """Names of the numeric, integer and date columns, in table order."""
        return [c.name for c in self.columns if c.kind in CONTINUOUS_KINDS]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict in the YAML file's layout; :meth:`from_dict` inverts it exactly."""
        return {"target": self.target,
                "columns": {c.name: c.to_dict() for c in self.columns}}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "schema") -> TableSchema:
        """Build a schema from the YAML/JSON layout; ``source`` names it in error messages.

        Raises
        ------
        GanjobsError
            On an unknown key or type, a bound that is not a number, ``min > max``, bounds on
            a categorical or date column, or a target that is not among the columns.
        """
        return parse_schema(d, source)


def parse_schema(d: Any, source: str) -> TableSchema:
    """Check and build a :class:`TableSchema` from a parsed YAML/JSON document."""
    if not isinstance(d, dict):
        raise GanjobsError(f"{source}: a schema is a mapping with 'columns' (and 'target')")
    unknown = [k for k in d if k not in _TOP_KEYS]
    if unknown:
        raise GanjobsError(f"{source}: unknown key {unknown[0]!r} (allowed: target, columns)")
    cols = d.get("columns")
    if not isinstance(cols, dict) or not cols:
        raise GanjobsError(f"{source}: 'columns' must map each column name to its type")
    specs = tuple(_parse_column(source, name, value) for name, value in cols.items())
    target = d.get("target")
    if target is not None and not isinstance(target, str):
        raise GanjobsError(f"{source}: target must be a column name, got {target!r}")
    _check_schema(specs, target, source)  # first, so that messages name the file
    return TableSchema(specs, target)


def _parse_column(source: str, name: Any, value: Any) -> ColumnSpec:
    where = f"{source}: column {name!r}"
    if not isinstance(name, str) or not name:
        raise GanjobsError(f"{where}: a column name must be a non-empty string")
    if isinstance(value, str):  # short form: the type alone
        value = {"type": value}
    if not isinstance(value, dict):
        raise GanjobsError(f"{where}: expected a type name or {{type: ..., min: ..., max: ...}}")
    unknown = [k for k in value if k not in _COLUMN_KEYS]
    if unknown:
        raise GanjobsError(f"{where}: unknown key {unknown[0]!r} (allowed: type, min, max)")
    if "type" not in value:
        raise GanjobsError(f"{where}: no type (use {', '.join(KINDS)})")
    return ColumnSpec(name, value["type"], _bound(where, "min", value.get("min")),
                      _bound(where, "max", value.get("max")))


def _bound(where: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GanjobsError(f"{where}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise GanjobsError(f"{where}: {key} must be finite, got {value!r}")
    return float(value)


def _check_schema(columns: tuple[ColumnSpec, ...], target: str | None, source: str) -> None:
    """The rules every schema obeys, however it was made."""
    if not columns:
        raise GanjobsError(f"{source}: a schema needs at least one column")
    kinds: dict[str, str] = {}
    for spec in columns:
        where = f"{source}: column {spec.name!r}"
        if spec.name in kinds:
            raise GanjobsError(f"{where}: listed twice")
        kinds[spec.name] = spec.kind
        if spec.kind not in KINDS:
            raise GanjobsError(f"{where}: unknown type {spec.kind!r} (use {', '.join(KINDS)})")
        bounded = spec.minimum is not None or spec.maximum is not None
        if bounded and spec.kind not in BOUNDED_KINDS:
            raise GanjobsError(f"{where}: min/max apply to numeric and integer columns only, "
                               f"not {spec.kind}")
        if (spec.minimum is not None and spec.maximum is not None
                and spec.minimum > spec.maximum):
            raise GanjobsError(f"{where}: min {spec.minimum:g} > max {spec.maximum:g}")
    if target is not None:
        if target not in kinds:
            raise GanjobsError(f"{source}: target {target!r} is not among the columns")
        if kinds[target] != "categorical":
            raise GanjobsError(f"{source}: column {target!r}: the target must be "
                               f"categorical, not {kinds[target]}")


def load_schema(url: str) -> TableSchema:
    """Read a YAML schema file (local path or s3://).

    Raises
    ------
    GanjobsError
        If the file is not valid YAML or breaks a schema rule; the message names the file,
        the column and the rule.
    """
    import yaml

    from ganjobs.io.storage import read_bytes

    raw = read_bytes(url)
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanjobsError(f"{url}: not a valid YAML file ({first})") from exc
    return parse_schema(doc, url)
