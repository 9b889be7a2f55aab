"""Building a configuration: from a preset and overrides, or from a recorded tree."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ganjobs.config.migrate import migrate
from ganjobs.config.overrides import merge, nest
from ganjobs.config.presets import PRESETS
from ganjobs.config.schema import GanConfig
from ganjobs.errors import GanjobsError


def describe(exc: ValidationError) -> str:
    """One line per failed field: ``section.field: message (got value)``, joined by ``;``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        shown = f" (got {got!r})" if "input" in err and not isinstance(got, dict) else ""
        parts.append(f"{where}: {err['msg']}{shown}")
    return "; ".join(parts)


def _validate(tree: dict[str, Any]) -> GanConfig:
    try:
        return GanConfig.model_validate(tree)
    except ValidationError as exc:
        raise GanjobsError(f"invalid configuration: {describe(exc)}") from None


def resolve_config(preset: str | None = None, **overrides: Any) -> GanConfig:
    """Build the configuration from a named preset and overrides.

    Parameters
    ----------
    preset : str or None
        A key of :data:`~ganjobs.config.PRESETS`; ``None`` means ``"default"``.
    **overrides
        Field values by dotted path (``**{"train.steps": 100}``, what
        :func:`~ganjobs.config.parse_overrides` returns), by unique field name
        (``steps=100``) or by section (``train={"steps": 100}``); later keys win. ``None``
        under a field name or section means "not given", so optional arguments can be
        passed through unchanged.

    Returns
    -------
    GanConfig

    Raises
    ------
    GanjobsError
        Unknown preset or field, or a value out of range.
    """
    name = "default" if preset is None else str(preset).strip()
    if name not in PRESETS:
        raise GanjobsError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return _validate(merge(PRESETS[name], nest(overrides)))


def config_from_dict(tree: dict[str, Any], schema: int = 1) -> GanConfig:
    """Rebuild a configuration recorded in a model folder or shipped to a worker.

    Parameters
    ----------
    tree : dict
        A :meth:`GanConfig.model_dump` as recorded.
    schema : int
        Version of the tree (``model.json``'s ``config_schema``; 1 when it records none):
        fields added since then take the values the recording code trained with.
    """
    return _validate(migrate(tree, schema))
