"""``ganjobs train``: fit the market GAN with Ray Train and publish the model folder.

:func:`train_model` resolves the configuration (preset, overrides, options: the
configuration's own validation is the only one), reads and splits the prices (the most recent
``holdout_fraction`` of returns is never trained on, see :mod:`ganjobs.core.split`), fits the
preprocessing on the training window, trains the market task
(:class:`~ganjobs.model.task.MarketTask`) under Ray Train
(:func:`~ganjobs.train.launch.run_ray_training`) and writes the model folder from the run's
last checkpoint (see :mod:`ganjobs.model.folder`).

A run is named after (data fingerprint, symbols, resolved config, seed) unless a name is
given; the same name in the same storage resumes from its latest checkpoint instead of
starting over.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ganjobs.config import GanConfig, resolve_config
from ganjobs.core.split import split_for_training
from ganjobs.data.prices import MarketData, load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import precheck_out
from ganjobs.io.storage import split_url
from ganjobs.model.conditional_task import ConditionalTask
from ganjobs.model.preprocess import Preprocessor
from ganjobs.model.task import MarketTask
from ganjobs.train.launch import default_storage, run_ray_training

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: The options of :func:`train_model` that set configuration fields (named in messages).
_OPTIONS = {"train.steps": "--steps", "train.workers": "--workers", "train.seed": "--seed",
            "train.gpu": "--gpu"}


def run_name_for(data: MarketData, cfg: GanConfig) -> str:
    """Stable run name from what determines the run: data, symbols, config (with seed) and
    code version — a checkpoint of other code may hold other networks under the same
    configuration, so it is never resumed from."""
    from ganjobs.core.version import code_version

    key = json.dumps({"data": data.fingerprint, "symbols": data.symbols,
                      "config": cfg.model_dump(), "code": code_version()}, sort_keys=True)
    return "gan-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_locations(out: str, run_name: Any, storage_path: Any) -> None:
    if run_name is not None and not _RUN_NAME.match(str(run_name)):
        raise GanjobsError(f"--name {run_name!r}: use letters, digits, '.', '_' or '-'")
    split_url(out)
    if storage_path is not None:
        scheme, _ = split_url(storage_path)
        if scheme not in ("file", "s3"):
            raise GanjobsError(f"--storage {storage_path!r}: use a path or s3:// URL")


def resolve_run_config(preset: str | None, overrides: Mapping[str, Any] | None,
                       **options: Any) -> GanConfig:
    """The run's configuration: the preset, then ``overrides`` (dotted keys), then the
    command's options (dotted keys; ``None`` means not given). Validated once, by the
    configuration; a refused option is named as the user gave it (``--steps``)."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise GanjobsError(f"overrides must be a mapping of config fields, got {overrides!r}")
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return resolve_config(preset, **{**dict(overrides or {}), **given})
    except GanjobsError as exc:
        message = str(exc)
        for key in given:
            if key in _OPTIONS:
                message = message.replace(f"{key}:", f"{_OPTIONS[key]} ({key}):")
        raise GanjobsError(message) from None


def train_model(prices: str, out: str, symbols: list[str] | None = None,
                preset: str | None = None, steps: int | None = None,
                workers: int | None = None, gpu: bool = False, seed: int = 0,
                address: str | None = None, storage_path: str | None = None,
                run_name: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train a GAN on the log returns of ``prices`` and publish a model folder at ``out``.

    Parameters
    ----------
    prices : str
        Prices URL (layout: docs/formats.md).
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
    overrides : mapping, optional
        Config overrides by dotted key (``{"model.noise_halflives": [20, 80, 320]}``, what
        :func:`~ganjobs.config.parse_overrides` returns for ``--set``) or as
        :func:`~ganjobs.config.resolve_config` otherwise takes them; the arguments above
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
    _check_locations(out, run_name, storage_path)
    cfg = resolve_run_config(preset, overrides, **{
        "train.steps": steps, "train.workers": workers, "train.seed": seed,
        "train.gpu": True if gpu else None})
    precheck_out(out, overwrite=True)  # a model folder is replaced when trained again
    data = load_market_data(prices, symbols)
    for note in data.notes:  # how a price file not in the long layout was read
        print(f"note: {note}", file=sys.stderr, flush=True)
    split = split_for_training(data, cfg.data)
    pre = Preprocessor.fit(split.train, cfg.preprocess.lambert_w)
    train_data = pre.transform(split.train).astype(np.float32)
    name = run_name or run_name_for(data, cfg)
    storage = storage_path or default_storage(out)

    task = ConditionalTask if cfg.condition.enabled else MarketTask
    state, metrics = run_ray_training(cfg, task, train_data, name, storage, address)

    from ganjobs.model.folder import write_model_folder

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
    calibration = (calibrate(cfg, state["generator"], len(data.symbols), train_data)
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


def calibrate(cfg: GanConfig, generator_state: dict[str, Any], k: int,
              train: np.ndarray) -> dict[str, Any]:
    """The output calibration of trained weights: the affine and body maps of a long-run
    model, the pooled body map in the scaled space of a conditional one."""
    from ganjobs.model.folder import fit_calibration, make_generator

    if not cfg.condition.enabled:
        return fit_calibration(cfg, generator_state, k, train)
    from ganjobs.model.conditional_sample import fit_conditional_calibration

    g = make_generator(cfg, k)
    g.load_state_dict(generator_state, strict=True)
    return fit_conditional_calibration(cfg, g.eval().requires_grad_(False), train)


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
