"""The GAN training engine, ``train_loop_per_worker(config)``: Ray Train worker or standalone.

The engine knows GANs, not data: it seeds the streams, opens the session, alternates
``n_critic`` critic updates with one generator update (:class:`~ganjobs.train.trainer.Trainer`),
checks the losses' health and recovers from divergence (:mod:`ganjobs.train.recovery`),
reports metrics and writes checkpoints (:mod:`ganjobs.train.checkpoint`) at the configured
cadence. Samples, networks and losses come from the task the worker config names
(:class:`~ganjobs.train.task.GanTask`; the market model is
:class:`~ganjobs.model.task.MarketTask`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from ganjobs.config import TrainConfig
from ganjobs.train.progress import WorkerOutput
from ganjobs.train.recovery import NonFiniteLossError, Tracker, check_health, recover
from ganjobs.train.session import LocalSession, Session, open_session
from ganjobs.train.trainer import Trainer
from ganjobs.train.weights import state_hash, unwrap
from ganjobs.train.worker_config import WorkerConfig, as_worker_config

__all__ = ["NonFiniteLossError", "train_loop_per_worker"]


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_loop_per_worker(config: WorkerConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Train one worker's share of the GAN; the function Ray Train runs on every worker.

    Parameters
    ----------
    config : WorkerConfig or mapping
        The worker's settings (:class:`~ganjobs.train.worker_config.WorkerConfig`), or a
        market run in mapping form (:meth:`WorkerConfig.from_mapping`): ``"gan"``, ``"data"``
        or ``"data_path"``, ``"device"``, ``"checkpoint_dir"``, ``"threads"``.

    Returns
    -------
    dict
        ``step`` (final), ``start_step``, ``metrics`` (the last report plus throughput),
        ``history`` (every report), ``recoveries`` (divergence recoveries of the run: step
        detected, ``restored_step``, reason, losses, new ``lr_g``/``lr_d``), ``lr_g`` and
        ``lr_d`` (final learning rates) and, standalone only, ``generator`` (final weights, CPU
        state dict). Under Ray, Ray Train keeps rank 0's return value; the checkpoints are
        the durable result.

    Raises
    ------
    NonFiniteLossError
        When a loss becomes NaN or infinite or the critic explodes once more after
        ``train.max_recoveries`` recoveries; the message names the step and the count.
    """
    wc = as_worker_config(config)
    cfg = wc.gan
    data = wc.load_data()
    with _threads(wc.threads):
        session = open_session(wc.device, cfg.train.gpu, wc.checkpoint_dir, wc.progress)
        task = wc.task(cfg, data, session.device)
        trainer = Trainer(cfg, task, session)
        return _run(cfg.train, trainer, session)


def _hashes(trainer: Trainer, session: Session) -> dict[str, Any]:
    """Every rank's generator hash (collective): DDP must keep them equal."""
    hashes = session.all_gather(state_hash(trainer.G))
    return {"g_hash": hashes[0], "g_hashes": hashes, "ranks_in_sync": len(set(hashes)) == 1}


def _run(tc: TrainConfig, trainer: Trainer, session: Session) -> dict[str, Any]:
    task = trainer.task
    tracker = Tracker(session.device, tc.explode_threshold, task.terms)
    out = WorkerOutput(session, tc.steps, task.log_terms())
    global_batch = tc.batch_size * session.world_size
    history: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    t_start = time.perf_counter()
    t_window, step_window = t_start, trainer.step
    t_first: float | None = None  # end of the first step: throughput leaves out warm-up
    out.start(trainer.step, f"training {task.describe()} from step {trainer.step} to "
                            f"{tc.steps} on {session.world_size} worker(s), device "
                            f"{session.device}{' (bf16)' if trainer.amp else ''}, batch "
                            f"{tc.batch_size}/worker")
    while trainer.step < tc.steps:
        ld, lg, terms = trainer.train_step()
        step = trainer.step
        tracker.add(step, ld, lg, *(terms.get(name) for name in task.terms))
        if t_first is None:
            t_first = time.perf_counter()
        out.tick(step)
        last = step == tc.steps
        ckpt = step % tc.checkpoint_every == 0 or last
        if not (ckpt or step % tc.log_every == 0):
            continue
        event = check_health(session, tracker)  # before anything is saved
        now = time.perf_counter()
        if event is not None:
            recover(tc, trainer, session, event)  # raises when recoveries are spent
            tracker.reset()
            t_window, step_window = time.perf_counter(), trainer.step
            continue
        rate = (step - step_window) / max(now - t_window, 1e-9)
        t_window, step_window = now, step
        metrics = {"step": step, "start_step": trainer.start_step, **tracker.means(),
                   "steps_per_s": rate, "samples_per_s": rate * global_batch,
                   "elapsed_s": now - t_start, "world_size": session.world_size,
                   "lr_g": trainer.lr_g, "lr_d": trainer.lr_d,
                   "recoveries": list(trainer.recoveries)}
        out.step_line(metrics)
        if ckpt:
            metrics.update(_hashes(trainer, session))
            if not metrics["ranks_in_sync"]:
                session.log(f"warning: generator weights differ across ranks at step {step}")
        history.append(metrics)
        if ckpt:
            trainer.snapshot()  # this rank's copy to roll back to; also the checkpoint
        session.report(metrics, trainer.state_dict(metrics) if ckpt else None)
        out.reported(metrics, ckpt)
    t_end = time.perf_counter()
    done = trainer.step - trainer.start_step
    if done == 0:
        # Resumed at or past the end: nothing to train, still report so the run has metrics.
        metrics = {"step": trainer.step, "start_step": trainer.start_step,
                   **_hashes(trainer, session), "world_size": session.world_size,
                   "lr_g": trainer.lr_g, "lr_d": trainer.lr_d,
                   "recoveries": list(trainer.recoveries)}
        session.report(metrics, None)
        history.append(metrics)
    timed = done - 1 if done > 1 else done
    t_timed = (t_end - t_first) if (done > 1 and t_first is not None) else (t_end - t_start)
    summary = dict(metrics)
    summary.update({
        "train_seconds": t_end - t_start,
        "steps_done": done,
        "mean_steps_per_s": timed / t_timed if t_timed > 0 and timed else math.nan,
    })
    summary["mean_samples_per_s"] = summary["mean_steps_per_s"] * global_batch
    result: dict[str, Any] = {"step": trainer.step, "start_step": trainer.start_step,
                              "metrics": summary, "history": history,
                              "recoveries": list(trainer.recoveries),
                              "lr_g": trainer.lr_g, "lr_d": trainer.lr_d}
    if isinstance(session, LocalSession):
        # Standalone callers get the weights directly; under Ray (which refuses tensors in
        # return values) the checkpoints carry them.
        result["generator"] = {k: v.detach().cpu()
                               for k, v in unwrap(trainer.G).state_dict().items()}
    return result
