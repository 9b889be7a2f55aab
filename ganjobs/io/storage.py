"""Object storage through fsspec: any URL (a path, ``file://``, ``s3://``), read and written
with the standard AWS settings, and storage errors turned into one-line messages.

Publishing a folder atomically is :mod:`ganjobs.io.publisher`'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem

from ganjobs.errors import StorageError

SUPPORTED_SCHEMES = ("file", "s3", "s3a", "memory")
def s3_options() -> dict[str, Any]:
    """s3fs options from the standard AWS settings.

    Credentials, region and profile are left to botocore's own lookup; only the endpoint
    override is passed explicitly so that S3-compatible stores work on every botocore version.
    """
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client_kwargs: dict[str, Any] = {}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    profile = os.environ.get("AWS_PROFILE")
    if profile:
        opts["profile"] = profile
    # Listings must reflect writes made by this process a moment ago (publish, then read).
    opts["use_listings_cache"] = False
    # Throttling (503 SlowDown) and dropped connections are retried with backoff by botocore;
    # s3fs retries its own transient errors (its default) on top.
    opts["config_kwargs"] = {"retries": {"max_attempts": 8, "mode": "adaptive"},
                             "connect_timeout": 10, "read_timeout": 120}
    return opts


def split_url(url: str) -> tuple[str, str]:
    """Return ``(scheme, path)`` for a URL, refusing schemes we do not support."""
    if not isinstance(url, str) or not url.strip():
        raise StorageError("empty location")
    url = url.strip()
    if "://" not in url:
        return "file", os.path.abspath(os.path.expanduser(url))
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise StorageError(
            f"unsupported URL scheme '{scheme}://' in {url!r}: use a path, file:// or s3://"
        )
    if scheme == "file":
        return "file", os.path.abspath(rest)
    if scheme in ("s3", "s3a"):
        if not rest or rest.startswith("/"):
            raise StorageError(f"S3 URL {url!r} has no bucket")
        return "s3", rest.rstrip("/")
    return scheme, rest


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """Build the fsspec filesystem for ``url`` and return it with the path inside it."""
    scheme, path = split_url(url)
    if scheme == "s3":
        fs = fsspec.filesystem("s3", **s3_options())
    else:
        fs = fsspec.filesystem(scheme)
    return fs, path


def join(url: str, *names: str) -> str:
    """Join path segments onto a URL without losing its scheme."""
    for name in names:
        if name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"refusing path segment {name!r}: it escapes its root")
    if "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://" + posixpath.join(rest.rstrip("/"), *names)
    return os.path.join(url, *names)


def describe_error(url: str, exc: BaseException) -> str:
    """A one-line reason for a storage failure, without credentials."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else name
    lowered = text.lower()
    if "nosuchbucket" in lowered or "bucket does not exist" in lowered:
        return f"{url}: bucket does not exist"
    if any(k in lowered for k in ("invalidaccesskeyid", "signaturedoesnotmatch", "access denied",
                                   "accessdenied", "forbidden", "unable to locate credentials")):
        return f"{url}: access denied (check AWS credentials): {name}"
    if isinstance(exc, FileNotFoundError):
        return f"{url}: not found"
    return f"{url}: {name}: {text}"


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn low-level storage exceptions into :class:`StorageError` with a clean message."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, PermissionError, ValueError) as exc:
        raise StorageError(describe_error(url, exc)) from exc
    except Exception as exc:  # botocore raises its own hierarchy
        if type(exc).__module__.startswith(("botocore", "aiobotocore", "s3fs")):
            raise StorageError(describe_error(url, exc)) from exc
        raise


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    with storage_errors(url):
        return bool(fs.exists(path))


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with storage_errors(url):
        return fs.cat_file(path)


def write_bytes(url: str, data: bytes) -> None:
    fs, path = filesystem(url)
    with storage_errors(url):
        parent = posixpath.dirname(path)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(path, data)


def read_json(url: str) -> dict[str, Any]:
    try:
        return json.loads(read_bytes(url))
    except json.JSONDecodeError as exc:
        raise StorageError(f"{url}: not valid JSON ({exc.msg})") from exc


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
