"""The code version recorded in every model folder, scenario set and pipeline run id."""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

#: The package whose sources the version hashes.
_PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def code_version() -> str:
    """Package version plus a hash of the library's sources, e.g. ``0.1.0+src.3f2a…``.

    A hash of the sources rather than a git commit: the version is then the same in a git
    checkout, an installed wheel and a Ray worker's copy, and still changes whenever library
    code changes (a pipeline run id depends on it).
    """
    try:
        version = metadata.version("ganjobs")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        version = "0"
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return f"{version}+src.{h.hexdigest()[:12]}"
