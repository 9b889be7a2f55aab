"""Dotted config overrides (``model.noise_halflives=[20,80,320]``), as the command line, the
benches and the pipeline take them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ganjobs.config.schema import FIELD_SECTIONS, SECTIONS
from ganjobs.errors import GanjobsError


class OverrideError(GanjobsError, ValueError):
    """A malformed override or one that names no config field.

    Also a ``ValueError`` so that pydantic validators (pipeline parameters) and argument
    parsers report it as a bad value.
    """


def check_key(key: str) -> str:
    """The dotted key ``section.field`` stripped, if it names a config field.

    Raises
    ------
    OverrideError
        ``key`` is not ``section.field`` of an existing field; a bare field name gets the
        dotted name it should have been.
    """
    key = key.strip()
    section, dot, name = key.partition(".")
    if not dot:
        hint = f"; did you mean {FIELD_SECTIONS[key]}.{key}?" if key in FIELD_SECTIONS else ""
        raise OverrideError(f"config key {key!r} must be SECTION.FIELD{hint}")
    if section not in SECTIONS:
        raise OverrideError(f"unknown config section {section!r} in {key!r}; sections: "
                            f"{', '.join(SECTIONS)}")
    if FIELD_SECTIONS.get(name) != section:
        raise OverrideError(f"unknown config field {key!r}")
    return key


def parse_value(raw: str) -> Any:
    """A ``--set`` value: JSON when it reads as JSON (``30``, ``1e-4``, ``true``, ``[5, 20]``),
    else YAML (``[a, b]``, ``'quoted'``), else the text itself (``tcn``)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["model.noise_halflives=[20,80,320]", "train.steps=400"]`` to overrides by dotted key.

    Parameters
    ----------
    items : iterable of str
        ``KEY=VALUE`` items; ``KEY`` is ``section.field``, ``VALUE`` is read by
        :func:`parse_value`. A later item for the same key wins.

    Returns
    -------
    dict
        ``{"model.noise_halflives": [20, 80, 320], "train.steps": 400}``: what
        :func:`~ganjobs.config.resolve_config` takes as ``**overrides``.

    Raises
    ------
    OverrideError
        An item without ``=``, with an empty key or value, or naming no config field.
        Values are checked when the configuration is resolved.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise OverrideError(f"--set needs KEY=VALUE, got {item!r}")
        out[check_key(key)] = parse_value(raw.strip())
    return out


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Overrides by dotted key, keys checked (:func:`check_key`), values deep-copied."""
    if not isinstance(overrides, Mapping):
        raise OverrideError(f"overrides must be a mapping of SECTION.FIELD keys, got "
                            f"{type(overrides).__name__}")
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise OverrideError(f"config key {key!r} must be a string SECTION.FIELD")
        out[check_key(key)] = copy.deepcopy(value)
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of nested mappings; ``extra`` wins."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``steps=5``, ``"train.steps"=5`` or ``train={"steps": 5}`` into a nested tree.

    ``None`` under a bare field name means "not given" (callers pass their optional arguments
    straight through) and is dropped; under a dotted key it is the value ``None`` (the "decide
    by the rest of the config" setting of ``lag1_news`` or ``gp_weight``).
    """
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise GanjobsError(f"config override {key}= must be a mapping of fields")
            nested = merge(nested, {key: value})
        elif "." in key:
            section, name = key.split(".", 1)
            if section not in SECTIONS:
                raise GanjobsError(f"unknown config section {section!r} in override {key!r}")
            nested = merge(nested, {section: {name: value}})
        elif key in FIELD_SECTIONS:
            if value is not None:
                nested = merge(nested, {FIELD_SECTIONS[key]: {key: value}})
        else:
            raise GanjobsError(f"unknown config field {key!r}")
    return nested
