"""Training and generation as Ray Jobs, when the pipeline is pointed at a cluster's Jobs API.

An address such as ``http://head:8265`` (``PipelineParams.ray_address`` or ``RAY_ADDRESS``)
names the Jobs API of a remote cluster: the heavy steps then run there as ``ganjobs``
commands submitted through :mod:`ganjobs.cluster.jobs`, with submission ids derived from the run
name, so a retried Prefect task attaches to the job it already started instead of starting a
second one. Any other address (``ray://…``, ``host:port``) is a cluster this process joins
directly, and no address at all starts a local cluster.

Only ``ganjobs.cluster.jobs`` and ``ganjobs.io.storage`` are imported here (no torch): the
job's driver on the cluster does the work, and its outputs are read back from shared storage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.task_params import GenerateTask, TrainTask

JOBS_SCHEMES = ("http://", "https://")


def jobs_api(address: str | None) -> str | None:
    """The Jobs API URL when ``address`` (else ``RAY_ADDRESS``) is one, else ``None``."""
    target = address or os.environ.get("RAY_ADDRESS")
    return target if target and target.startswith(JOBS_SCHEMES) else None


def train_args(p: TrainTask) -> list[str]:
    """``ganjobs train`` arguments for one pipeline run (the run name resumes checkpoints).

    Config overrides become ``--set KEY=VALUE`` items with the value as JSON, which the
    command reads back exactly.
    """
    args = ["train", "--prices", p.prices, "--out", p.model_url, "--symbols",
            ",".join(p.symbols), "--seed", str(p.seed), "--name", p.run_name]
    for flag, value in (("--preset", p.preset), ("--steps", p.steps), ("--workers", p.workers)):
        if value is not None:
            args += [flag, str(value)]
    for key, value in sorted(p.overrides.items()):
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args + (["--gpu"] if p.gpu else [])


def generate_args(p: GenerateTask) -> list[str]:
    """``ganjobs generate`` arguments; a staging set left by an interrupted job is replaced."""
    args = ["generate", "--model", p.model["out"], "--out", p.staging_url, "--n", str(p.n),
            "--horizon", str(p.horizon), "--seed", str(p.seed), "--overwrite"]
    if p.prices:
        args += ["--prices", p.prices]
    if p.as_of:
        args += ["--as-of", p.as_of]
    return args + (["--unconditional"] if p.unconditional else [])


def _line_logger(log: Callable[[str], Any]) -> Callable[[str], None]:
    """Turn streamed log chunks into whole lines for the Prefect logger."""
    pending = [""]

    def echo(chunk: str) -> None:
        text = pending[0] + chunk
        *lines, pending[0] = text.split("\n")
        for line in lines:
            if line.strip():
                log(line)

    return echo


def run_job(kind: str, run_name: str, args: list[str], address: str,
            log: Callable[[str], Any], gpus: float | None = None) -> dict[str, Any]:
    """Submit ``ganjobs <args>`` (or attach to the job of this run name) and wait for it.

    Raises
    ------
    ganjobs.cluster.jobs.JobFailed
        The job ended FAILED or STOPPED; the message carries its last log line.
    """
    from ganjobs.cluster.jobs import run_remote

    ref = run_remote(kind, run_name, args, address=address, num_gpus=gpus,
                     echo=_line_logger(log))
    return {"submission_id": ref.submission_id, "attached": ref.reused, "address": address}


def trained_model(model_url: str, job: dict[str, Any]) -> dict[str, Any]:
    """The train task's result, read back from the model folder the job published."""
    from ganjobs.errors import StorageError
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    if not is_published(model_url):
        raise StorageError(f"job {job['submission_id']} succeeded but {model_url} holds no "
                           f"published model: is the output on storage the cluster shares?")
    meta = read_json(join(model_url, "model.json"))
    return {"out": model_url, "reused": job["attached"], "steps": meta.get("steps"),
            "metrics": meta.get("metrics", {}), "fingerprint": meta.get("fingerprint"),
            "job": job}


def generated_set(staging_url: str, job: dict[str, Any]) -> dict[str, Any]:
    """The generate task's result: the manifest of the set the job published."""
    from ganjobs.errors import StorageError
    from ganjobs.io.publisher import is_published, read_manifest

    if not is_published(staging_url):
        raise StorageError(f"job {job['submission_id']} succeeded but {staging_url} holds no "
                           f"published set: is the output on storage the cluster shares?")
    return read_manifest(staging_url)
