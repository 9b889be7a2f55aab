"""An exclusive writer lease on a folder, so two runs never mix parts in one location.

The lease is a ``_LOCK`` object created with an exclusive create (``O_EXCL`` locally,
``If-None-Match: *`` on S3). A lease whose writer is gone is stale and may be taken over:
on the same host when its process no longer exists, anywhere once its heartbeat is older
than ``LEASE_TTL_S`` (a writer refreshes it with every part).
"""

from __future__ import annotations

import json
import os
import posixpath
import socket
import time
import uuid
from dataclasses import dataclass, field

from fsspec.spec import AbstractFileSystem

from ganjobs.errors import StorageError

LOCK = "_LOCK"
LEASE_TTL_S = 600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lease:
    fs: AbstractFileSystem
    folder: str
    url: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def path(self) -> str:
        return posixpath.join(self.folder, LOCK)

    def _body(self) -> bytes:
        return json.dumps({"token": self.token, "host": socket.gethostname(),
                           "pid": os.getpid(), "heartbeat": time.time()}).encode()

    def acquire(self) -> None:
        if self._create():
            return
        holder = self._read()
        if holder is not None and not _stale(holder):
            raise StorageError(
                f"{self.url} is being written by another run (pid {holder.get('pid')} on "
                f"{holder.get('host')}); refusing to mix parts"
            )
        try:
            self.fs.rm(self.path)
        except FileNotFoundError:
            pass
        if not self._create():
            raise StorageError(f"{self.url} is being written by another run; refusing")

    def _create(self) -> bool:
        try:
            with self.fs.open(self.path, "xb") as fh:
                fh.write(self._body())
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            # S3 answers a failed conditional write with 412 PreconditionFailed.
            if "precondition" in str(exc).lower() or "412" in str(exc):
                return False
            raise

    def _read(self) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(self.path))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def heartbeat(self) -> None:
        self.check()
        self.fs.pipe_file(self.path, self._body())

    def check(self) -> None:
        """Raise unless this lease still holds the folder (nobody broke it as stale)."""
        holder = self._read()
        if holder is None or holder.get("token") != self.token:
            raise StorageError(f"{self.url}: lost the writer lease to another run; "
                               "this run publishes nothing")

    def release(self) -> None:
        holder = self._read()
        if holder is not None and holder.get("token") == self.token:
            self.fs.rm(self.path)


def _stale(holder: dict) -> bool:
    age = time.time() - float(holder.get("heartbeat", 0))
    if age > LEASE_TTL_S:
        return True
    same_host = holder.get("host") == socket.gethostname()
    return bool(same_host and holder.get("pid") and not _pid_alive(int(holder["pid"])))
