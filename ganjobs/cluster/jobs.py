"""Ray Jobs submission: run ``ganjobs`` commands on a remote Ray cluster.

The submission id is derived from the run name, so a retried caller (a Prefect task retry)
attaches to the job already running or finished instead of starting a duplicate. A failed
or stopped job is resubmitted under the next attempt suffix.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganjobs.errors import GanjobsError

# Non-secret settings forwarded to the job; credentials come from the cluster's own
# identity (instance role, Kubernetes secret), never through job metadata.
FORWARDED_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "RAY_TRAIN_V2_ENABLED")
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
#: The ``ganjobs`` commands a job may run: the heavy steps of the scenario and table pipelines.
JOB_KINDS = ("train", "generate", "train-table", "synth")


class JobFailed(RuntimeError):
    """The submitted job ended in FAILED or STOPPED."""


def check_kind(kind: str) -> str:
    """Refuse a job kind that is not one of :data:`JOB_KINDS`."""
    if kind not in JOB_KINDS:
        raise GanjobsError(f"submit: KIND must be one of {', '.join(JOB_KINDS)}, got {kind!r}")
    return kind


def submission_id(kind: str, run_name: str, attempt: int = 0) -> str:
    """Stable Ray submission id for (kind, run name, attempt)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", run_name).strip("-")[:40] or "run"
    digest = hashlib.sha256(f"{kind}/{run_name}".encode()).hexdigest()[:8]
    base = f"ganjobs-{kind}-{slug}-{digest}"
    return base if attempt == 0 else f"{base}-r{attempt}"


@dataclass
class JobRef:
    submission_id: str
    status: str
    reused: bool


def jobs_address(address: str | None = None) -> str:
    """The Jobs API address: ``address``, else ``RAY_ADDRESS`` (``http://head:8265``)."""
    addr = address or os.environ.get("RAY_ADDRESS")
    if not addr:
        raise GanjobsError("no Ray cluster address: set RAY_ADDRESS (e.g. http://head:8265) "
                           "or pass --address")
    return addr


def client(address: str | None = None):
    from ray.job_submission import JobSubmissionClient

    addr = jobs_address(address)
    try:
        return JobSubmissionClient(addr)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise GanjobsError(f"cannot reach the Ray Jobs API at {addr}: "
                           f"{type(exc).__name__}") from exc


def runtime_env(working_dir: str | None = None, pip: list[str] | None = None,
                extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runtime environment for a job: forwarded settings, optional working dir and pip."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.update(extra_env or {})
    out: dict[str, Any] = {"env_vars": env}
    if working_dir:
        out["working_dir"] = working_dir
    if pip:
        out["pip"] = pip
    return out


def _status(c: Any, sid: str) -> str | None:
    try:
        return str(c.get_job_status(sid).value)
    except RuntimeError:  # the Jobs API answers "job does not exist" this way
        return None
    except Exception as exc:  # noqa: BLE001
        if "does not exist" in str(exc) or "404" in str(exc):
            return None
        raise


def submit(kind: str, run_name: str, args: list[str], address: str | None = None,
           env: dict[str, Any] | None = None, num_cpus: float | None = None,
           num_gpus: float | None = None, max_attempts: int = 5) -> JobRef:
    """Submit ``ganjobs <args>`` as a Ray job, or attach to the one already submitted.

    Returns
    -------
    JobRef
        ``reused`` is True when a job of this run name was pending, running or succeeded.
    """
    check_kind(kind)
    c = client(address)
    for attempt in range(max_attempts):
        sid = submission_id(kind, run_name, attempt)
        status = _status(c, sid)
        if status is None:
            entrypoint = " ".join(shlex.quote(a) for a in ["ganjobs", *args])
            c.submit_job(entrypoint=entrypoint, submission_id=sid,
                         runtime_env=env if env is not None else runtime_env(),
                         metadata={"ganjobs_kind": kind, "ganjobs_run": run_name[:200]},
                         entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=num_gpus)
            return JobRef(sid, "PENDING", reused=False)
        if status not in ("FAILED", "STOPPED"):
            return JobRef(sid, status, reused=True)
    raise GanjobsError(f"run {run_name!r}: {max_attempts} attempts already failed; "
                       f"use a new run name")


def wait(ref: JobRef, address: str | None = None, poll_s: float = 1.0,
         timeout_s: float | None = None, echo: Callable[[str], Any] | None = None) -> str:
    """Stream the job's logs until it ends; raise :class:`JobFailed` unless it succeeded."""
    c = client(address)
    echo = echo or (lambda s: print(s, end="", file=sys.stderr))
    seen, t0 = 0, time.monotonic()
    while True:
        status = _status(c, ref.submission_id) or "PENDING"
        logs = c.get_job_logs(ref.submission_id) or ""
        if len(logs) > seen:
            echo(logs[seen:])
            seen = len(logs)
        if status in TERMINAL:
            break
        if timeout_s is not None and time.monotonic() - t0 > timeout_s:
            raise JobFailed(f"job {ref.submission_id} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)
    if status != "SUCCEEDED":
        info = c.get_job_info(ref.submission_id)
        last = (logs.strip().splitlines() or [""])[-1][:300]
        raise JobFailed(f"job {ref.submission_id} {status}: {info.message or ''} {last}".strip())
    return status


def run_remote(kind: str, run_name: str, args: list[str], address: str | None = None,
               **kwargs: Any) -> JobRef:
    """Submit (or attach) and wait: the job's success or a clear :class:`JobFailed`."""
    timeout_s = kwargs.pop("timeout_s", None)
    echo = kwargs.pop("echo", None)
    ref = submit(kind, run_name, args, address=address, **kwargs)
    wait(ref, address=address, timeout_s=timeout_s, echo=echo)
    return ref
