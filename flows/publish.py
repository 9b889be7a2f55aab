"""Publishing a staged scenario set with its metrics, and the per-name pointers (``LATEST``,
``LATEST_MODEL``, ``backtests/LATEST``).

The staged set (written by ``generate_scenarios``) is complete but lacks the evaluation
metrics. Publishing copies its parts byte for byte next to the run's other outputs, writes a
manifest with ``metrics`` added, and only then ``_SUCCESS`` (docs/formats.md), through
:class:`ganjobs.io.publisher.Publisher`, which removes its partial output on failure.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ganjobs.errors import StorageError
from ganjobs.io.publisher import MANIFEST, Publisher, is_published, read_manifest
from ganjobs.io.storage import (
    filesystem,
    join,
    read_bytes,
    read_json,
    split_url,
    storage_errors,
    write_bytes,
)


def publish_staged_set(staging: str, final: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Copy the staged set to ``final`` with ``extra`` fields merged into its manifest.

    Safe to retry: when ``final`` is already published from the same parts it is left alone.
    """
    if is_published(final):
        current = read_manifest(final)
        if not is_published(staging) or _same_parts(current, read_manifest(staging)):
            return current
        raise StorageError(f"{final} already holds a different published set")
    manifest = read_manifest(staging)
    manifest.update(extra)
    with Publisher(final) as pub:
        for part in manifest["parts"]:
            # Through the Publisher's own API (its writer lease, its sha256): one part in
            # memory at a time, and every byte checked against the staged manifest.
            data = read_bytes(join(staging, part["name"]))
            info = pub.write_part(part["name"], data, rows=part["rows"])
            if info.sha256 != part["sha256"]:
                raise StorageError(f"{final}: copy of {part['name']} does not match the "
                                   f"staged set (sha256 differs)")
        # The staged part list is kept as is: names, rows and sha256 are the same bytes'.
        return pub.commit(manifest)


def _same_parts(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return [p.get("sha256") for p in a.get("parts", [])] == [
        p.get("sha256") for p in b.get("parts", [])]


def remove_tree(url: str) -> None:
    """Best-effort recursive delete (staging leftovers); never fails the run."""
    try:
        fs, path = filesystem(url)
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except Exception:  # noqa: BLE001 - a leftover staging folder is harmless
        pass


def read_latest(url: str) -> dict[str, Any] | None:
    fs, path = filesystem(url)
    with storage_errors(url):
        if not fs.exists(path):
            return None
    return read_json(url)


def latest_record(*, name: str, as_of: str, run_id: str, run_url: str, scenarios_url: str,
                  report_url: str | None, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "ganjobs.latest/1",
        "name": name,
        "as_of": as_of,
        "run_id": run_id,
        "run": run_url,
        "scenarios": scenarios_url,
        "manifest": join(scenarios_url, MANIFEST),
        "report": report_url,
        "data": data,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def update_latest(latest_url: str, record: dict[str, Any]) -> bool:
    """Point ``LATEST`` at ``record['scenarios']``; returns whether anything was written.

    Written only when the set holds ``_SUCCESS``; left alone when it already points at this
    run (idempotent re-runs) or at a newer as-of date (a back-fill must not move it back).
    """
    return move_pointer(latest_url, record, target="scenarios", order="as_of",
                        same=("run_id", "as_of"))


def move_pointer(url: str, record: dict[str, Any], *, target: str, order: str,
                 same: tuple[str, ...]) -> bool:
    """Write the JSON ``record`` at ``url`` when it moves the pointer forward.

    Parameters
    ----------
    url : str
        The pointer file (``LATEST``, ``LATEST_MODEL``…).
    record : dict
        Its new content; ``record[target]`` is the published folder it points at.
    target : str
        Key of the folder pointed at; refused unless that folder holds ``_SUCCESS``.
    order : str
        Key whose value (an ISO date) orders records: a record older than the current one
        is not written, so a back-fill never moves a pointer back.
    same : tuple of str
        Keys that, all equal to the current record's, mean "already pointing here".

    Returns
    -------
    bool
        Whether the pointer was written.
    """
    if not is_published(record[target]):
        raise StorageError(f"{record[target]}: not published; {url} left unchanged")
    current = read_latest(url)
    if current is not None and current.get(target) and is_published(current[target]):
        if all(current.get(k) == record[k] for k in same):
            return False
        if str(current.get(order, "")) > str(record[order]):
            return False
    body = json.dumps(record, indent=2).encode()
    scheme, path = split_url(url)
    if scheme == "file":
        # A local rename is atomic; an S3 PUT already is.
        tmp = url + ".tmp"
        write_bytes(tmp, body)
        fs, _ = filesystem(url)
        with storage_errors(url):
            fs.mv(filesystem(tmp)[1], path)
    else:
        write_bytes(url, body)
    return True
