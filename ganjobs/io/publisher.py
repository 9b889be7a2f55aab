"""Atomic publishing: every output folder of ganjobs is written through :class:`Publisher`.

A published folder is complete only when it holds ``_SUCCESS``, written after the parts and
``manifest.json``; readers refuse folders without it. A lease (:mod:`ganjobs.io.lock`) keeps
two writers of one folder apart, and a failed run removes what it wrote.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from fsspec.spec import AbstractFileSystem

from ganjobs.errors import StorageError
from ganjobs.io.lock import LOCK, Lease
from ganjobs.io.storage import (
    exists,
    filesystem,
    join,
    read_json,
    sha256_bytes,
    split_url,
    storage_errors,
)

SUCCESS = "_SUCCESS"
MANIFEST = "manifest.json"
# Kinds of file a Publisher may find left over from an earlier run of its own and remove.
OWNED = ("part-*.parquet", "*.json", "_SUCCESS", "_LOCK", "*.safetensors", "*.parquet",
         "*.png", "*.html", "*.pt", "LATEST")


def is_published(url: str) -> bool:
    """True when ``url`` is a folder holding ``_SUCCESS``."""
    return exists(join(url, SUCCESS))


def require_published(url: str, what: str = "folder") -> None:
    """Refuse a folder that is absent or was never completed."""
    if not is_published(url):
        raise StorageError(f"{url}: no {SUCCESS}; not a complete {what} (absent or unfinished)")


def _refuse_foreign(fs: AbstractFileSystem, path: str, url: str) -> None:
    foreign = [p for p in fs.find(path)
               if not any(fnmatch.fnmatch(posixpath.basename(p), g) for g in OWNED)]
    if foreign:
        raise StorageError(
            f"{url} holds files that were not published here "
            f"(e.g. {posixpath.basename(foreign[0])}); choose an empty location"
        )


def precheck_out(url: str, overwrite: bool = False) -> None:
    """Refuse, without writing anything, an output folder that :class:`Publisher` would refuse.

    For commands that compute for a long time before they publish: a file where the folder
    should be, files that were not published here, a published folder (unless
    ``overwrite``) and, for local paths, a folder that cannot be created or written. Remote
    permissions cannot be probed without writing; a failure there surfaces when publishing,
    which still leaves nothing published.

    Raises
    ------
    StorageError
    """
    fs, path = filesystem(url)
    with storage_errors(url):
        if fs.exists(path):
            if not fs.isdir(path):
                raise StorageError(f"{url} is a file, not a folder")
            _refuse_foreign(fs, path, url)
            if not overwrite and fs.exists(posixpath.join(path, SUCCESS)):
                raise StorageError(f"{url} is already published; pass --overwrite to "
                                   "replace it")
    if split_url(url)[0] == "file":
        _precheck_local(url, path)


def _precheck_local(url: str, path: str) -> None:
    """The nearest existing folder on the way to ``path`` must be a writable folder."""
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise StorageError(f"{url}: cannot create a folder under {probe} (not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StorageError(f"{url}: not writable ({probe} denies write access)")


@dataclass
class PartInfo:
    name: str
    rows: int
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "sha256": self.sha256, "bytes": self.bytes}


@dataclass
class Publisher:
    """Write a folder atomically: parts, then ``manifest.json``, then ``_SUCCESS``.

    Until :meth:`commit` runs the folder has no ``_SUCCESS`` and readers treat it as absent.
    A folder that already holds ``_SUCCESS`` is refused unless ``overwrite`` is set, in which
    case ``_SUCCESS`` is removed first so that no reader sees a mix of old and new parts.
    """

    url: str
    overwrite: bool = False
    parts: list[PartInfo] = field(default_factory=list)
    _started: bool = False

    def __post_init__(self) -> None:
        self.fs, self.path = filesystem(self.url)

    def start(self) -> Publisher:
        with storage_errors(self.url):
            if self.fs.exists(self.path):
                if not self.fs.isdir(self.path):
                    raise StorageError(f"{self.url} is a file, not a folder")
                self._refuse_foreign()
            self.fs.makedirs(self.path, exist_ok=True)
            self.lease = Lease(self.fs, self.path, self.url)
            self.lease.acquire()
            try:
                if self.fs.exists(posixpath.join(self.path, SUCCESS)):
                    if not self.overwrite:
                        raise StorageError(f"{self.url} already holds a published set; "
                                           "pass --overwrite to replace it")
                    self.fs.rm(posixpath.join(self.path, SUCCESS))
                self._clear_leftovers()
            except BaseException:
                self.lease.release()
                raise
        self._started = True
        return self

    def _refuse_foreign(self) -> None:
        _refuse_foreign(self.fs, self.path, self.url)

    def _clear_leftovers(self) -> None:
        """Remove an earlier failed or replaced run's files so they never mix with ours.

        Only files of the kinds we publish are here (``_refuse_foreign`` ran first), so a
        mistyped ``--out`` cannot wipe unrelated data.
        """
        for p in self.fs.find(self.path):
            if posixpath.basename(p) != LOCK:
                self.fs.rm(p)

    def write_part(self, name: str, data: bytes, rows: int) -> PartInfo:
        if not self._started:
            self.start()
        join(self.url, name)  # validates the name
        with storage_errors(self.url):
            self.lease.heartbeat()
            self.fs.pipe_file(posixpath.join(self.path, name), data)
        info = PartInfo(name=name, rows=rows, sha256=sha256_bytes(data), bytes=len(data))
        self.parts.append(info)
        return info

    def commit(self, manifest: dict[str, Any], name: str = MANIFEST) -> dict[str, Any]:
        """Write the manifest ``name`` (with the part list) and then ``_SUCCESS``."""
        if not self._started:
            self.start()
        manifest = dict(manifest)
        manifest.setdefault("parts", [p.as_dict() for p in self.parts])
        body = json.dumps(manifest, indent=2, sort_keys=False, default=str).encode()
        with storage_errors(self.url):
            self.lease.check()
            self.fs.pipe_file(posixpath.join(self.path, name), body)
            self.lease.check()
            self.fs.pipe_file(posixpath.join(self.path, SUCCESS), b"")
            self.lease.release()
        return manifest

    def abort(self) -> None:
        """Best-effort removal of what this run wrote; ``_SUCCESS`` was never written."""
        if not self._started:
            return
        try:
            self.lease.check()  # a run that lost its lease must not delete the winner's parts
            for p in self.fs.find(self.path):
                if posixpath.basename(p) != LOCK:
                    self.fs.rm(p)
            self.lease.release()
        except Exception:  # noqa: BLE001 - cleanup must not mask the original failure
            pass

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def read_manifest(url: str) -> dict[str, Any]:
    """Manifest of a published folder; refuses folders without ``_SUCCESS``."""
    require_published(url)
    return read_json(join(url, MANIFEST))
