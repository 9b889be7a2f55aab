"""Running the engine under Ray Train: cluster, storage, resources, the ``TorchTrainer`` and
the driver's console.

:func:`run_ray_training` connects to (or starts) a cluster, sizes the workers, runs
:func:`~ganjobs.train.loop.train_loop_per_worker` on them with a
:class:`~ganjobs.train.worker_config.WorkerConfig`, shows progress
(:mod:`ganjobs.train.progress`) and returns the last checkpoint's state. Ray Train V2
restores the latest checkpoint of a run of the same name in the same storage, so launching
the same run again resumes it.

Console: Ray Train logs every report of every worker at INFO ("Reporting training result
N: ...") through a logger that propagates to the root logger, which Ray Train's structured
worker logging sets to INFO and which ``LoggingConfig(log_level=...)`` does not reach. The
workers therefore run with two of Ray's own settings, unless the environment sets them
otherwise: ``RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING=0`` (the root logger stays at
Python's WARNING) and ``RAY_LOGGER_LEVEL=warning`` (the ``ray`` logger, which then receives
Ray Train's own INFO lines, at WARNING too). Warnings and errors still reach the console.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# Train V2 is the API this module is written against; set before ray.train is imported.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")

from ganjobs.cluster.connect import check_shared_storage, start_local_ray  # noqa: E402
from ganjobs.config import GanConfig  # noqa: E402
from ganjobs.errors import GanjobsError  # noqa: E402
from ganjobs.io.storage import filesystem, split_url  # noqa: E402
from ganjobs.train.loop import train_loop_per_worker  # noqa: E402
from ganjobs.train.progress import end_line, watch_training  # noqa: E402
from ganjobs.train.recovery import NonFiniteLossError  # noqa: E402
from ganjobs.train.task import TaskFactory  # noqa: E402
from ganjobs.train.worker_config import RAY_CONFIG_KEY, WorkerConfig  # noqa: E402

DEFAULT_RAY_RESULTS = "~/.ganjobs/ray_results"
#: Ray's own settings for a quiet console, unless the environment sets them otherwise:
#: workers without per-report INFO lines; on a cluster this process starts (one machine,
#: nothing to preempt), no preemption watcher, whose start logs an error-level line.
_QUIET_WORKERS = {"RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
                  "RAY_LOGGER_LEVEL": "warning"}
_QUIET_LOCAL = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def default_storage(out: str) -> str:
    """Ray Train storage when none is given: next to an S3 model, else under the home."""
    scheme, path = split_url(out)
    if scheme == "s3":
        parent = path.rstrip("/").rsplit("/", 1)[0] if "/" in path.rstrip("/") else path
        return f"s3://{parent}/_ray_results"
    return str(Path(DEFAULT_RAY_RESULTS).expanduser())


def _ray_storage(storage: str) -> tuple[str, Any]:
    """``(storage_path, storage_filesystem)`` for RunConfig; S3 goes through our fsspec
    settings so that endpoint overrides (MinIO, moto) apply to checkpoints too."""
    scheme, path = split_url(storage)
    if scheme != "s3":
        Path(path).mkdir(parents=True, exist_ok=True)
        return path, None
    import pyarrow.fs as pafs

    fs, _ = filesystem(storage)
    return path, pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def _forwarded_env(local: bool) -> dict[str, str]:
    """Non-secret settings workers need (endpoint, region, Ray's console knobs), never
    credentials.

    A local cluster this process starts inherits its environment, credentials included;
    a remote cluster has its own identity. Runtime envs are written in plain text to Ray's
    logs and shown by its dashboard, so secrets must never travel in them.
    """
    from ganjobs.cluster.jobs import FORWARDED_ENV

    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env["RAY_TRAIN_V2_ENABLED"] = os.environ.get("RAY_TRAIN_V2_ENABLED", "1")
    for key, value in {**_QUIET_WORKERS, **(_QUIET_LOCAL if local else {})}.items():
        env[key] = os.environ.get(key, value)
    return env


def _connect(address: str | None) -> bool:
    """Connect to ``address``/``RAY_ADDRESS`` or start a local cluster; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target is None:
        start_local_ray(_forwarded_env(local=True), logging_level="WARNING", log_to_driver=True)
        return True
    try:
        # Inside a Ray job the job's runtime env already applies; adding one would conflict.
        ray.init(address=target, logging_level="WARNING", log_to_driver=True)
    except ConnectionError as exc:
        raise GanjobsError(f"cannot connect to the Ray cluster at {target}: {exc}") from None
    return False


def _worker_resources(cfg: GanConfig) -> tuple[dict[str, float], int]:
    """Resources per worker and torch threads; refuses what the cluster cannot hold."""
    import ray

    total = ray.cluster_resources()
    workers = cfg.train.workers
    if cfg.train.gpu:
        if total.get("GPU", 0) < workers:
            raise GanjobsError(f"{workers} GPU worker(s) requested but the Ray cluster has "
                               f"{int(total.get('GPU', 0))} GPU(s)")
        return {"CPU": 1, "GPU": 1}, 0
    cpus = int(total.get("CPU", 0))
    if cpus < workers:
        raise GanjobsError(f"--workers {workers} needs {workers} CPUs but the Ray cluster "
                           f"has {cpus}")
    per_node = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]),
                   default=1)
    threads = max(1, min(cpus // workers, per_node))
    return {"CPU": threads}, threads


def _root_cause(exc: BaseException) -> BaseException | None:
    """Our own exception inside Ray's wrappers (worker failures, tracebacks, causes)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (NonFiniteLossError, GanjobsError)):
            return e
        stack.extend(getattr(e, "worker_failures", {}).values())
        stack.extend([getattr(e, "_base_exc", None), getattr(e, "cause", None),
                      e.__cause__, e.__context__])
    return None


def _fit(trainer: Any) -> Any:
    """``trainer.fit()``, with our own errors surfaced from Ray's wrappers."""
    try:
        return trainer.fit()
    except Exception as exc:  # Ray wraps worker errors; surface ours with its message
        cause = _root_cause(exc)
        if isinstance(cause, GanjobsError):
            raise GanjobsError(str(cause)) from None
        if isinstance(cause, NonFiniteLossError):
            raise NonFiniteLossError(str(cause)) from None
        raise


def run_ray_training(cfg: GanConfig, task: TaskFactory, data: np.ndarray, name: str,
                     storage: str, address: str | None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the engine under a ``TorchTrainer``.

    Parameters
    ----------
    cfg : GanConfig
        The resolved configuration (``train.workers``, ``train.gpu``, ``train.max_failures``
        size the run).
    task : TaskFactory
        What is trained (e.g. :class:`~ganjobs.model.task.MarketTask`).
    data : ndarray
        The training data, shipped to every worker.
    name, storage : str
        Ray Train run name and storage (path or ``s3://``): the same pair resumes.
    address : str or None
        Ray cluster address; else ``RAY_ADDRESS``; else a local cluster is started (and shut
        down again).

    Returns
    -------
    (dict, dict)
        The last checkpoint's state (:mod:`ganjobs.train.checkpoint`) and rank 0's metrics.
    """
    import ray
    from ray.train import (
        CheckpointConfig,
        FailureConfig,
        LoggingConfig,
        RunConfig,
        ScalingConfig,
    )
    from ray.train.torch import TorchTrainer

    from ganjobs.train.session import STATE_FILE, load_state

    started = _connect(address)
    try:
        check_shared_storage(storage)
        resources, threads = _worker_resources(cfg)
        path, fs = _ray_storage(storage)
        env = _forwarded_env(local=started)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        with watch_training() as (feed, display):
            worker = WorkerConfig(gan=cfg, task=task, data=data, threads=threads or None,
                                  progress=feed)
            trainer = TorchTrainer(
                train_loop_per_worker,
                train_loop_config={RAY_CONFIG_KEY: worker},
                scaling_config=ScalingConfig(num_workers=cfg.train.workers,
                                             use_gpu=cfg.train.gpu,
                                             resources_per_worker=resources),
                run_config=RunConfig(
                    name=name, storage_path=path, storage_filesystem=fs,
                    failure_config=FailureConfig(max_failures=cfg.train.max_failures),
                    checkpoint_config=CheckpointConfig(num_to_keep=2),
                    worker_runtime_env={"env_vars": env},
                    # Ray Train's own INFO lines would drown the progress display.
                    logging_config=LoggingConfig(log_level="WARNING"),
                ),
            )
            result = _fit(trainer)
        returned = result.return_value if isinstance(result.return_value, dict) else {}
        if "metrics" in returned:  # after the display has shown everything rank 0 sent
            display.finish(end_line(returned["metrics"], cfg.train.steps))
        if result.checkpoint is None:
            raise RuntimeError(f"Ray Train run {name!r} finished without a checkpoint")
        with result.checkpoint.as_directory() as folder:
            state = load_state(os.path.join(folder, STATE_FILE))
        # Result.metrics are those attached to the latest checkpoint; rank 0's return value
        # describes this attempt (where it resumed, its throughput), so it takes precedence.
        metrics = dict(result.metrics or {})
        metrics.update(returned.get("metrics", {}))
        if "start_step" in returned:
            metrics["start_step"] = returned["start_step"]
        return state, metrics
    finally:
        if started:
            ray.shutdown()
