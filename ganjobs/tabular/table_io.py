"""Reading a table: a Parquet or CSV file, or a published folder of Parquet parts.

Local paths and ``s3://`` URLs go through :mod:`ganjobs.io.storage`. The frame comes back
as stored (CSV through pandas' own parsing); kinds, coercion and checks are
:mod:`ganjobs.tabular.validate`'s job.
"""

from __future__ import annotations

import io
import json
import posixpath
from dataclasses import dataclass

import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.io.storage import exists, join, read_bytes, sha256_bytes

#: File suffixes read as tables, and their format.
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class SourceTable:
    """A table as read: the frame and the sha256 of its file (of the manifest for a folder)."""

    frame: pd.DataFrame
    sha256: str


def read_table(url: str) -> pd.DataFrame:
    """Read a table from ``url``.

    Parameters
    ----------
    url
        A ``.parquet``/``.pq``/``.csv`` file, or a published folder (``manifest.json`` and
        ``_SUCCESS``) whose Parquet parts are read in the manifest's order; a local path or
        an ``s3://`` URL.

    Raises
    ------
    GanjobsError
        If the location is absent, of another format, unfinished or unreadable.
    """
    return read_source(url).frame


def read_source(url: str) -> SourceTable:
    """Like :func:`read_table`, with the sha256 of the bytes read (see :class:`SourceTable`)."""
    fmt = _format(url)
    if fmt is None:
        return _read_folder(url)
    data = read_bytes(url)
    frame = _parse_parquet(url, data) if fmt == "parquet" else _parse_csv(url, data)
    frame.columns = [str(c) for c in frame.columns]
    return SourceTable(frame, sha256_bytes(data))


def _format(url: str) -> str | None:
    suffix = posixpath.splitext(url.rstrip("/"))[1].lower()
    return TABLE_SUFFIXES.get(suffix)


def _parse_parquet(url: str, data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(io.BytesIO(data)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise GanjobsError(f"{url}: not a readable Parquet file ({_first_line(exc)})") from exc


def _parse_csv(url: str, data: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(data))
    except pd.errors.EmptyDataError as exc:
        raise GanjobsError(f"{url}: empty table (no header, no rows)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise GanjobsError(f"{url}: not a readable CSV file ({_first_line(exc)})") from exc


def _read_folder(url: str) -> SourceTable:
    if not exists(join(url, MANIFEST)):
        raise GanjobsError(
            f"{url}: not a table: use a .parquet, .pq or .csv file, or a published folder "
            f"with {MANIFEST} and {SUCCESS}")
    if not exists(join(url, SUCCESS)):
        raise GanjobsError(f"{url}: no {SUCCESS}; the folder is unfinished or being written")
    raw = read_bytes(join(url, MANIFEST))
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GanjobsError(f"{join(url, MANIFEST)}: not valid JSON ({exc.msg})") from exc
    names = [_part_name(url, p) for p in (manifest.get("parts") or [])]
    if not names:
        raise GanjobsError(f"{join(url, MANIFEST)}: lists no parts")
    frames = [_parse_parquet(join(url, n), read_bytes(join(url, n))) for n in names]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = [str(c) for c in frame.columns]
    return SourceTable(frame, sha256_bytes(raw))


def _part_name(url: str, part: object) -> str:
    name = part.get("name") if isinstance(part, dict) else part
    if not isinstance(name, str) or not name:
        raise GanjobsError(f"{join(url, MANIFEST)}: a part has no file name: {part!r}")
    return name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
