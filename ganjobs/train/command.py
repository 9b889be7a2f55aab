"""``ganjobs train``: fit a GAN with Ray Train and publish the model folder.

:func:`train_model` validates its arguments, reads and splits the prices (the most recent
``holdout_fraction`` of returns is never trained on), fits the preprocessing on the training
window, runs :func:`~ganjobs.train.loop.train_loop_per_worker` under a ``TorchTrainer`` and
writes the model folder from the run's last checkpoint (see :mod:`ganjobs.model.folder`).

A run is named after (data fingerprint, symbols, resolved config, seed) unless a name is
given; Ray Train V2 restores the latest checkpoint of a run of the same name in the same
storage, so running the same command again resumes instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

# Train V2 is the API this module is written against; set before ray.train is imported.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")

from ganjobs.cluster.connect import check_shared_storage, start_local_ray  # noqa: E402
from ganjobs.config import GanConfig, resolve_config  # noqa: E402
from ganjobs.data.prices import MarketData, load_market_data  # noqa: E402
from ganjobs.errors import GanjobsError, StorageError  # noqa: E402
from ganjobs.io.storage import OWNED, filesystem, split_url, storage_errors  # noqa: E402
from ganjobs.model.preprocess import Preprocessor  # noqa: E402
from ganjobs.train.loop import NonFiniteLossError, train_loop_per_worker  # noqa: E402

DEFAULT_RAY_RESULTS = "~/.ganjobs/ray_results"
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Settings workers need to reach S3 storage like the driver does (values never logged).


@dataclass(frozen=True)
class TrainingSplit:
    """Training window and held-out tail of the returns.

    ``train`` holds returns ``0 .. n_train-1``, ending on ``dates[1] .. dates[n_train]``;
    the holdout holds the rest, ending on ``dates[n_train+1] .. dates[-1]``.
    """

    train: np.ndarray
    n_train: int
    n_holdout: int
    record: dict[str, Any]


def split_holdout(data: MarketData, cfg: GanConfig) -> TrainingSplit:
    """Keep the last ``holdout_fraction`` of returns out of training; record the dates."""
    n = int(data.returns.shape[0])
    frac = cfg.data.holdout_fraction
    n_holdout = math.ceil(frac * n) if frac > 0 else 0
    n_train = n - n_holdout
    need = max(cfg.data.window, 3)
    if n_train < need:
        raise GanjobsError(
            f"{data.source}: the training window holds {n_train} returns ({n} in all, "
            f"{n_holdout} held out); the {cfg.data.window}-day window needs at least {need}")

    def day(i: int) -> str:
        return str(np.datetime_as_string(data.dates[i], unit="D"))

    record = dict(data.data_record())
    record.update({
        "input_first_date": record["first_date"],
        "input_last_date": record["last_date"],
        # The training window in prices: the first return starts on its first date.
        "first_date": day(0),
        "last_date": day(n_train),
        "n_train_returns": n_train,
        "holdout_fraction": frac,
        "n_holdout_returns": n_holdout,
        # Returns ending on these dates were never seen in training.
        "holdout_first_date": day(n_train + 1) if n_holdout else None,
        "holdout_last_date": day(n) if n_holdout else None,
    })
    return TrainingSplit(train=data.returns[:n_train], n_train=n_train, n_holdout=n_holdout,
                         record=record)


def run_name_for(data: MarketData, cfg: GanConfig) -> str:
    """Stable run name from what determines the run: data, symbols, config (with seed)."""
    key = json.dumps({"data": data.fingerprint, "symbols": data.symbols,
                      "config": cfg.model_dump()}, sort_keys=True)
    return "gan-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _validate_args(out: str, steps: Any, workers: Any, seed: Any, run_name: Any,
                   storage_path: Any) -> None:
    def positive_int(name: str, value: Any) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise GanjobsError(f"{name} must be a positive integer, got {value!r}")

    positive_int("--steps", steps)
    positive_int("--workers", workers)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise GanjobsError(f"--seed must be an integer in [0, 2**63), got {seed!r}")
    if run_name is not None and not _RUN_NAME.match(str(run_name)):
        raise GanjobsError(f"--name {run_name!r}: use letters, digits, '.', '_' or '-'")
    split_url(out)
    if storage_path is not None:
        scheme, _ = split_url(storage_path)
        if scheme not in ("file", "s3"):
            raise GanjobsError(f"--storage {storage_path!r}: use a path or s3:// URL")


def _precheck_out(out: str) -> None:
    """Refuse an ``out`` that publishing would refuse, before training, without touching it."""
    import fnmatch
    import posixpath

    fs, path = filesystem(out)
    with storage_errors(out):
        if not fs.exists(path):
            return
        if not fs.isdir(path):
            raise StorageError(f"{out} is a file, not a folder")
        foreign = [p for p in fs.find(path)
                   if not any(fnmatch.fnmatch(posixpath.basename(p), g) for g in OWNED)]
    if foreign:
        raise StorageError(f"{out} holds files that were not published here "
                           f"(e.g. {posixpath.basename(foreign[0])}); choose an empty location")


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
    """Non-secret settings workers need (endpoint, region), never credentials.

    A local cluster this process starts inherits its environment, credentials included;
    a remote cluster has its own identity. Runtime envs are written in plain text to Ray's
    logs and shown by its dashboard, so secrets must never travel in them.
    """
    from ganjobs.cluster.jobs import FORWARDED_ENV

    del local  # same rule either way; kept for the callers' readability
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env["RAY_TRAIN_V2_ENABLED"] = os.environ.get("RAY_TRAIN_V2_ENABLED", "1")
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


def run_ray_training(cfg: GanConfig, train_data: np.ndarray, name: str, storage: str,
                     address: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the loop under a ``TorchTrainer``; return (last checkpoint state, rank-0 metrics)."""
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
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"gan": cfg.model_dump(), "data": train_data,
                               "threads": threads or None},
            scaling_config=ScalingConfig(num_workers=cfg.train.workers, use_gpu=cfg.train.gpu,
                                         resources_per_worker=resources),
            run_config=RunConfig(
                name=name, storage_path=path, storage_filesystem=fs,
                failure_config=FailureConfig(max_failures=cfg.train.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=2),
                worker_runtime_env={"env_vars": env},
                # Ray Train's own INFO lines (one per report) would drown our progress lines.
                logging_config=LoggingConfig(log_level="WARNING"),
            ),
        )
        try:
            result = trainer.fit()
        except Exception as exc:  # Ray wraps worker errors; surface ours with its message
            cause = _root_cause(exc)
            if isinstance(cause, GanjobsError):
                raise GanjobsError(str(cause)) from None
            if isinstance(cause, NonFiniteLossError):
                raise NonFiniteLossError(str(cause)) from None
            raise
        if result.checkpoint is None:
            raise RuntimeError(f"Ray Train run {name!r} finished without a checkpoint")
        with result.checkpoint.as_directory() as folder:
            state = load_state(os.path.join(folder, STATE_FILE))
        # Result.metrics are those attached to the latest checkpoint; rank 0's return value
        # describes this attempt (where it resumed, its throughput), so it takes precedence.
        metrics = dict(result.metrics or {})
        returned = result.return_value if isinstance(result.return_value, dict) else {}
        metrics.update(returned.get("metrics", {}))
        if "start_step" in returned:
            metrics["start_step"] = returned["start_step"]
        return state, metrics
    finally:
        if started:
            ray.shutdown()


def train_model(prices: str, out: str, symbols: list[str] | None = None,
                preset: str | None = None, steps: int | None = None,
                workers: int | None = None, gpu: bool = False, seed: int = 0,
                address: str | None = None, storage_path: str | None = None,
                run_name: str | None = None,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a GAN on the log returns of ``prices`` and publish a model folder at ``out``.

    Parameters
    ----------
    prices : str
        Prices URL (CONTRACTS §2).
    out : str
        Model folder URL; replaced atomically when it already holds a model.
    symbols : list of str, optional
        Symbols to model jointly (all when None), in this column order.
    preset : str, optional
        Config preset (``default``, ``gpu``, ``tiny``); ``None`` is ``default``.
    steps, workers : int, optional
        Override the preset's training steps and Ray Train worker count (DDP world size).
    gpu : bool
        One GPU per worker (NCCL); a preset may also ask for GPUs.
    seed : int
        Run seed.
    address : str, optional
        Ray cluster address; else ``RAY_ADDRESS``; else a local cluster is started.
    storage_path : str, optional
        Ray Train storage for checkpoints (path or ``s3://``); default
        :func:`default_storage`.
    run_name : str, optional
        Ray Train run name; the same name (and storage) resumes from its last checkpoint.
    overrides : dict, optional
        Further config overrides as :func:`~ganjobs.config.resolve_config` takes them
        (``{"checkpoint_every": 5}``, ``{"train.max_failures": 2}``); the arguments above
        take precedence.

    Returns
    -------
    dict
        ``out``, ``steps`` (final step), ``start_step``, ``run_name``, ``storage_path``,
        ``metrics`` (training summary), ``recoveries`` (divergence recoveries, see
        :func:`~ganjobs.train.loop.train_loop_per_worker`) and ``meta`` (the written
        ``model.json``, whose ``training`` records the recoveries and final learning
        rates).

    Raises
    ------
    GanjobsError
        Bad arguments, data or locations, before any training.
    NonFiniteLossError
        Training diverged beyond ``train.max_recoveries`` recoveries.
    """
    _validate_args(out, steps, workers, seed, run_name, storage_path)
    if overrides is not None and not isinstance(overrides, dict):
        raise GanjobsError(f"overrides must be a mapping of config fields, got {overrides!r}")
    cfg = resolve_config(preset, **{**(overrides or {}), "steps": steps, "workers": workers,
                                    "seed": seed, "gpu": True if gpu else None})
    _precheck_out(out)
    data = load_market_data(prices, symbols)
    split = split_holdout(data, cfg)
    pre = Preprocessor.fit(split.train, cfg.preprocess.lambert_w)
    train_data = pre.transform(split.train).astype(np.float32)
    name = run_name or run_name_for(data, cfg)
    storage = storage_path or default_storage(out)

    state, metrics = run_ray_training(cfg, train_data, name, storage, address)

    from ganjobs.model.folder import fit_calibration, write_model_folder

    training = {
        "run_name": name,
        "storage_path": storage,
        "workers": cfg.train.workers,
        "gpu": cfg.train.gpu,
        "start_step": int(metrics.get("start_step", 0)),
        "ranks_in_sync": metrics.get("ranks_in_sync"),
        # The final checkpoint carries every recovery of the run, resumptions included.
        "recoveries": json.loads(state.get("recoveries", "[]")),
        "lr_g": float(state.get("lr_g", cfg.optim.lr_g)),
        "lr_d": float(state.get("lr_d", cfg.optim.lr_d)),
    }
    calibration = (fit_calibration(cfg, state["generator"], len(data.symbols), train_data)
                   if cfg.preprocess.calibrate else None)
    meta = write_model_folder(out, cfg=cfg, generator_state=state["generator"],
                              calibration=calibration,
                              preprocessor=pre, symbols=data.symbols, data_record=split.record,
                              step=int(state["step"]), metrics=_summary(metrics),
                              training=training,
                              created_at=datetime.now(UTC).isoformat(
                                  timespec="seconds"))
    return {"out": out, "steps": int(state["step"]), "start_step": training["start_step"],
            "run_name": name, "storage_path": storage, "metrics": meta["metrics"],
            "recoveries": training["recoveries"], "meta": meta}


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly training summary from rank 0's last report."""
    keep = ("step", "start_step", "d_loss", "g_loss", "gp", "facts", "steps_per_s",
            "samples_per_s", "elapsed_s", "world_size", "g_hash", "g_hashes", "ranks_in_sync",
            "train_seconds", "steps_done", "mean_steps_per_s", "mean_samples_per_s",
            "lr_g", "lr_d")
    out = {}
    for key in keep:
        if key in metrics:
            value = metrics[key]
            if isinstance(value, (np.floating, float)):
                # NaN (e.g. no step timed after a resume at the end) is not valid JSON.
                value = float(value) if math.isfinite(value) else None
            out[key] = value
    return out
