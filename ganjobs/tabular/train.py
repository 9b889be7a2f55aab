"""``ganjobs train-table``: fit the table GAN with Ray Train and publish its model folder.

:func:`train_table` reads and checks the table (:mod:`ganjobs.tabular.validate`), splits it
(:mod:`ganjobs.tabular.split`: the model learns from the train part only), fits the column
transforms on the train rows, trains :class:`~ganjobs.tabular.task.TableTask` on the same
Ray Train engine as the market model (checkpoints, resume, divergence recovery) and writes
the model folder (:mod:`ganjobs.tabular.folder`). With ``dp_epsilon`` the critic is trained
with DP-SGD (:mod:`ganjobs.tabular.privacy`) and the accountant's ``(epsilon, delta)`` is
recorded.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ganjobs.core.seeds import named_seed
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import precheck_out
from ganjobs.tabular.config import TableConfig, resolve_table_config
from ganjobs.tabular.split import split_table
from ganjobs.tabular.task import Layout, TableTaskFactory
from ganjobs.tabular.transform import TableTransformer
from ganjobs.tabular.validate import LoadedTable, load_table
from ganjobs.train.command import _check_locations
from ganjobs.train.launch import default_storage, run_ray_training

#: What ``--dp-epsilon`` changes besides the target: the loss and pack size that per-sample
#: clipping can take (see :mod:`ganjobs.tabular.privacy`).
DP_SETTINGS = {"loss.kind": "bce", "model.pac": 1}
#: The preset ``--dp-epsilon`` trains when none is named.
DP_PRESET = "table-dp"


def resolve_run(preset: str | None, steps: int | None, workers: int | None, seed: int,
                dp_epsilon: float | None,
                overrides: Mapping[str, Any] | None = None) -> TableConfig:
    """The run's configuration: preset, then ``overrides`` (dotted keys), then the
    command's options."""
    if dp_epsilon is not None and preset is None:
        preset = DP_PRESET
    options: dict[str, Any] = dict(overrides or {})
    options.update({"train.steps": steps, "train.workers": workers, "train.seed": seed})
    if dp_epsilon is not None:
        if not (isinstance(dp_epsilon, (int, float)) and math.isfinite(dp_epsilon)
                and dp_epsilon > 0):
            raise GanjobsError(f"--dp-epsilon must be a positive number, got {dp_epsilon!r}")
        options.update({"privacy.epsilon": float(dp_epsilon), **DP_SETTINGS})
    return resolve_table_config(preset, **options)


def layout_of(transformer: TableTransformer) -> Layout:
    return Layout(spans=tuple((s.kind, s.start, s.width) for s in transformer.spans),
                  discrete=tuple((d.start, d.width) for d in transformer.discrete),
                  width=transformer.width)


def run_name_for(table: LoadedTable, cfg: TableConfig) -> str:
    """Stable Ray Train run name from data, schema, configuration and code version."""
    from ganjobs.core.version import code_version

    key = json.dumps({"data": table.sha256, "schema": table.schema.to_dict(),
                      "config": cfg.model_dump(), "code": code_version()}, sort_keys=True)
    return "table-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def train_table(data: str, out: str, *, schema: str | None = None, target: str | None = None,
                preset: str | None = None, steps: int | None = None,
                workers: int | None = None, seed: int = 0, dp_epsilon: float | None = None,
                address: str | None = None, storage_path: str | None = None,
                run_name: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train the table GAN on ``data`` and publish a model folder at ``out``.

    Parameters
    ----------
    data : str
        Table URL (Parquet/CSV file or published folder, local or ``s3://``).
    out : str
        Model folder URL; replaced atomically when it already holds a model.
    schema : str, optional
        YAML schema file; inferred (and printed) when not given.
    target : str, optional
        The label column (overrides the schema's); the split is stratified on it.
    preset : str, optional
        Table preset (``table``, ``table-tiny``).
    steps, workers : int, optional
        Override the preset's training steps and Ray Train workers (DDP world size).
    seed : int
        Run seed.
    dp_epsilon : float, optional
        Train the critic with DP-SGD to this epsilon (delta 1/n unless the preset says).
    address, storage_path, run_name
        As for ``ganjobs train``: Ray cluster, checkpoint storage, run name (same name
        resumes).
    overrides : mapping, optional
        Config fields by dotted key (``{"train.batch_size": 300}``) on top of the preset; the
        options above take precedence.

    Returns
    -------
    dict
        ``out``, ``steps``, ``run_name``, ``meta`` (``model.json``), ``notes`` (schema lines).
    """
    _check_locations(out, run_name, storage_path)
    cfg = resolve_run(preset, steps, workers, seed, dp_epsilon, overrides)
    precheck_out(out, overwrite=True)
    table = load_table(data, schema, target)
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    if table.schema.target is None:
        raise GanjobsError(f"{data}: no target column; name the good/bad label with --target "
                           f"or in the schema file")
    dc = cfg.data
    split = split_table(table.frame, table.schema.target, seed=dc.split_seed,
                        holdout=dc.holdout, test=dc.test)
    train_rows = table.frame.iloc[split.train].reset_index(drop=True)
    transformer = TableTransformer.fit(train_rows, table.schema, max_modes=cfg.model.max_modes,
                                       weight_threshold=cfg.model.mode_threshold,
                                       seed=cfg.train.seed)
    rng = np.random.default_rng(named_seed(cfg.train.seed, "table-transform"))
    matrix = transformer.transform(train_rows, rng).astype(np.float32)
    layout = layout_of(transformer)
    name = run_name or run_name_for(table, cfg)
    storage = storage_path or default_storage(out)

    state, metrics = run_ray_training(cfg, TableTaskFactory(layout), matrix, name, storage,
                                      address)

    from ganjobs.tabular.folder import write_table_model

    calibration = (fit_calibration(cfg, state["generator"], transformer, layout, train_rows)
                   if cfg.model.calibrate and cfg.privacy.epsilon is None else None)

    recoveries = json.loads(state.get("recoveries", "[]"))
    record = {
        "data": {"source": data, "sha256": table.sha256, "rows": len(table.frame),
                 "train_rows": len(train_rows)},
        "split": split.record(),
        "privacy": privacy_record(cfg, len(train_rows), int(state["step"]), recoveries),
        "calibration": calibration,
        "seed": cfg.train.seed,
        "step": int(state["step"]),
        "training": {"run_name": name, "storage_path": storage, "workers": cfg.train.workers,
                     "start_step": int(metrics.get("start_step", 0)),
                     "ranks_in_sync": metrics.get("ranks_in_sync"), "recoveries": recoveries},
        "metrics": _summary(metrics),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meta = write_table_model(out, cfg=cfg, generator_state=state["generator"],
                             transformer=transformer, layout=layout, record=record)
    return {"out": out, "steps": int(state["step"]), "run_name": name, "meta": meta,
            "notes": table.notes}


def fit_calibration(cfg: TableConfig, generator_state: dict[str, Any],
                    transformer: TableTransformer, layout: Layout,
                    train_rows: Any) -> dict[str, Any]:
    """Knots of the marginal calibration of every continuous column (see
    :mod:`ganjobs.tabular.calibration`), from a fixed-seed generated sample."""
    from ganjobs.tabular.calibration import CALIBRATION_ROWS, fit_map
    from ganjobs.tabular.folder import TableModel
    from ganjobs.tabular.synth import generate_matrix

    model = TableModel("", {}, cfg, transformer, layout, generator_state)
    matrix, _ = generate_matrix(model, CALIBRATION_ROWS, named_seed(cfg.train.seed,
                                                                    "calibration"))
    generated = transformer.modal_values(matrix)
    real = transformer.real_modal_values(train_rows)
    knots = {c: fit_map(generated[c], real[c]) for c in generated}
    return {c: k for c, k in knots.items() if k is not None}


def privacy_record(cfg: TableConfig, n_train: int, step: int,
                   recoveries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The accountant's ``(epsilon, delta)`` over every noisy critic update of the run.

    Steps repeated after a divergence recovery read the data again, so they are counted.
    """
    pc = cfg.privacy
    if pc.epsilon is None:
        return None
    from ganjobs.tabular.privacy import ACCOUNTANT, epsilon_spent, noise_for

    delta = pc.delta if pc.delta is not None else 1.0 / n_train
    q = min(1.0, cfg.train.batch_size * cfg.train.workers / n_train)
    planned = cfg.train.steps * cfg.optim.n_critic
    sigma = noise_for(pc.epsilon, delta, q, planned)
    repeated = sum(max(0, int(r.get("step", 0)) - int(r.get("restored_step", 0)))
                   for r in recoveries)
    updates = (step + repeated) * cfg.optim.n_critic
    return {"epsilon": epsilon_spent(sigma, q, updates, delta), "delta": delta,
            "target_epsilon": pc.epsilon, "noise_multiplier": sigma, "sample_rate": q,
            "critic_updates": updates, "max_grad_norm": pc.max_grad_norm,
            "accountant": ACCOUNTANT, "mechanism": "DP-SGD on the critic (opacus), Poisson "
            "sampling, logistic loss, packs of 1"}


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("step", "d_loss", "g_loss", "gp", "cond", "steps_per_s", "samples_per_s",
            "world_size", "ranks_in_sync", "train_seconds", "steps_done", "mean_steps_per_s")
    out: dict[str, Any] = {}
    for key in keep:
        value = metrics.get(key)
        if isinstance(value, (float, np.floating)):
            value = float(value) if math.isfinite(value) else None
        if key in metrics:
            out[key] = value
    return out
