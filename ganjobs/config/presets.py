"""Named presets: YAML files shipped in ``ganjobs/config/presets/``, each a partial tree of
overrides of the defaults (``default.yaml`` is empty: the defaults themselves)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from ganjobs.config.schema import SECTIONS
from ganjobs.errors import GanjobsError

PRESET_SUFFIX = ".yaml"

Preset = dict[str, dict[str, Any]]


def _check(name: str, tree: Any) -> Preset:
    """A preset is a mapping of known sections to mappings of fields."""
    if not isinstance(tree, dict):
        raise GanjobsError(f"preset {name!r} is not a mapping of config sections")
    for section, fields in tree.items():
        if section not in SECTIONS:
            raise GanjobsError(f"preset {name!r} has unknown config section {section!r}")
        if not isinstance(fields, dict):
            raise GanjobsError(f"preset {name!r}: section {section!r} is not a mapping")
    return tree


def load_presets() -> dict[str, Preset]:
    """Read every shipped preset file; ``default`` first, then by name."""
    folder = resources.files("ganjobs.config") / "presets"
    found: dict[str, Preset] = {}
    for entry in folder.iterdir():
        if entry.is_file() and entry.name.endswith(PRESET_SUFFIX):
            name = entry.name[: -len(PRESET_SUFFIX)]
            found[name] = _check(name, yaml.safe_load(entry.read_text(encoding="utf-8")))
    if "default" not in found:
        raise GanjobsError(f"the shipped presets in {folder} lack default{PRESET_SUFFIX}")
    return {name: found[name] for name in sorted(found, key=lambda n: (n != "default", n))}


#: The shipped presets by name, read once at import.
PRESETS: dict[str, Preset] = load_presets()
