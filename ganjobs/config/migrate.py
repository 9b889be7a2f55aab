"""Versions of the recorded configuration tree and the steps between them.

``model.json`` records the tree's version as ``config_schema``; a tree that records none is
version 1. A step fills in what a later version added with the value that reproduces what the
older model was trained with (the defaults may since have changed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ganjobs.errors import GanjobsError

#: Version of the configuration tree this code writes.
CONFIG_SCHEMA = 3

#: Fields added after the first models were published (version 1), with the value that
#: reproduces what a model recorded without them was trained with.
V2_ADDED_FIELDS: dict[str, dict[str, Any]] = {
    "model": {"noise_halflives": [], "critic_horizons": [], "lag1_news": False},
    "preprocess": {"calibrate_body": False, "body_tails": "variance"},
    "loss": {"facts_weight": 0.0, "facts_vol_window": 0, "facts_short_window": 0,
             "facts_estimator": "square"},
}


def _v1_to_v2(tree: dict[str, Any]) -> dict[str, Any]:
    # Version 1 trees were written while these fields were being added one by one: a field a
    # tree has is kept, only the missing ones take their old behaviour.
    for section, fields in V2_ADDED_FIELDS.items():
        if isinstance(tree.get(section), dict):
            for name, value in fields.items():
                tree[section].setdefault(name, copy.deepcopy(value))
    return tree


def _v2_to_v3(tree: dict[str, Any]) -> dict[str, Any]:
    # Version 3 added the ``condition`` section; every earlier model is unconditional.
    tree.setdefault("condition", {"enabled": False})
    return tree


#: ``version -> step`` that turns a tree of that version into one of the next.
STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


def check_schema(version: Any) -> int:
    """The version as an int in ``1..CONFIG_SCHEMA``.

    Raises
    ------
    GanjobsError
        Not an integer, or a version this code does not know (written by newer code).
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise GanjobsError(f"config_schema must be a positive integer, got {version!r}")
    if version > CONFIG_SCHEMA:
        raise GanjobsError(f"config_schema {version} is newer than this ganjobs reads "
                           f"({CONFIG_SCHEMA}): upgrade ganjobs")
    return version


def migrate(tree: dict[str, Any], version: int = 1) -> dict[str, Any]:
    """A copy of ``tree`` (recorded at ``version``) brought to :data:`CONFIG_SCHEMA`."""
    out = copy.deepcopy(tree)
    for v in range(check_schema(version), CONFIG_SCHEMA):
        out = STEPS[v](out)
    return out
