"""The GAN training loop, ``train_loop_per_worker(config)``: Ray Train worker or standalone.

One step is ``n_critic`` critic updates followed by one generator update. The generator loss
is taken through the critic without stepping the critic's optimiser, and the critic's
gradients are cleared before each of its own steps, so no ``requires_grad`` is ever toggled
on a DDP module. Each rank draws its own windows and noise from a generator seeded by
``(run seed, rank)``; initial weights come from the run seed alone, so every rank starts
from the same weights (DDP would broadcast rank 0's anyway).

Divergence recovery: every rank keeps a CPU copy of its last checkpointed state (weights,
optimiser states, sampling RNG, step; also taken at the start). When, at a log or checkpoint
step, any rank saw a non-finite loss or a critic loss beyond ``train.explode_threshold``
(decided collectively, so every rank takes the same branch), every rank restores that copy,
multiplies both learning rates by ``train.recovery_lr_factor`` and trains on, at most
``train.max_recoveries`` times per run; the events go to the log, the reported metrics, the
checkpoints and the returned result.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from ganjobs.config import GanConfig, config_from_dict
from ganjobs.errors import GanjobsError
from ganjobs.model.losses import d_loss, g_loss, gradient_penalty, interpolate
from ganjobs.model.networks import build_critic, build_generator, draw_noise, state_hash, unwrap
from ganjobs.model.stylized import data_curves, facts_penalty, short_acf, vol_quantiles
from ganjobs.train.session import LocalSession, Session, open_session

CHECKPOINT_FORMAT = "ganjobs.checkpoint/1"
# Stream keys for seed derivation: one run seed, independent streams per purpose and rank.
INIT_STREAM, SAMPLE_STREAM = 0, 1
_NO_BAD = 2**62


class NonFiniteLossError(RuntimeError):
    """Training diverged beyond recovery: a loss became NaN or infinite, or the critic
    exploded, after ``train.max_recoveries`` recoveries (names the step and the count)."""


NON_FINITE, EXPLODED = "non-finite loss", "critic exploded"


def _cpu_copy(obj: Any) -> Any:
    """A deep copy with every tensor copied to the CPU (never aliasing live tensors)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def derive_seed(run_seed: int, *keys: int) -> int:
    """A 63-bit seed for the stream ``keys`` of run ``run_seed`` (numpy ``SeedSequence``)."""
    state = np.random.SeedSequence([int(run_seed), *map(int, keys)]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def _load_data(config: dict[str, Any]) -> np.ndarray:
    if config.get("data") is not None:
        data = np.asarray(config["data"], dtype=np.float32)
    elif config.get("data_path"):
        import io

        from ganjobs.io.storage import read_bytes  # fsspec: a local path or s3:// alike

        data = np.load(io.BytesIO(read_bytes(config["data_path"])), allow_pickle=False)
        data = np.asarray(data, dtype=np.float32)
    else:
        raise GanjobsError("training config holds neither 'data' nor 'data_path'")
    if data.ndim != 2 or not np.all(np.isfinite(data)):
        raise GanjobsError(f"training data must be a finite (T, k) array, got shape {data.shape}")
    return data


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


class WindowSampler:
    """Random training windows ``(batch, window, k)`` drawn from data kept on the device."""

    def __init__(self, data: np.ndarray, window: int, device: torch.device) -> None:
        if data.shape[0] < window:
            raise GanjobsError(f"training data has {data.shape[0]} returns, fewer than the "
                               f"window of {window}")
        self.data = torch.tensor(data, dtype=torch.float32, device=device)
        self.window = window
        self.offsets = torch.arange(window, device=device)
        self.n_starts = data.shape[0] - window + 1

    def __call__(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        starts = torch.randint(self.n_starts, (batch,), generator=generator,
                               device=self.data.device)
        return self.data[starts[:, None] + self.offsets]


class Trainer:
    """The state of one worker's training and its step function."""

    def __init__(self, cfg: GanConfig, data: np.ndarray, session: Session) -> None:
        self.cfg = cfg
        self.session = session
        self.device = session.device
        self.k = int(data.shape[1])
        self.window = cfg.data.window
        self.sampler = WindowSampler(data, self.window, self.device)
        init = seeded_generator(derive_seed(cfg.train.seed, INIT_STREAM))
        g_model = build_generator(cfg.model, self.k, self.window, init)
        d_model = build_critic(cfg.model, self.k, self.window, init)
        self.rng = seeded_generator(
            derive_seed(cfg.train.seed, SAMPLE_STREAM, session.rank), self.device)
        self.step = 0
        self.start_step = 0
        restored = session.restore()
        if restored is not None:
            self._check_restored(restored)
            g_model.load_state_dict(restored["generator"])
            d_model.load_state_dict(restored["critic"])
        self.G = session.prepare(g_model)
        self.D = session.prepare(d_model)
        self.noise_len = unwrap(self.G).noise_length(self.window)
        lc = cfg.loss
        #: Real |r| ACF and leverage curves the generator's paths are pulled to (or None).
        self.facts = (data_curves(self.sampler.data, lc.facts_length, lc.facts_lags)
                      if lc.facts_weight > 0 else None)
        vw = min(lc.facts_vol_window, self.sampler.data.shape[0])
        self.facts_vol = ((vw, vol_quantiles(self.sampler.data[None], vw))
                          if self.facts is not None and vw >= 2 else None)
        sw = min(lc.facts_short_window, self.sampler.data.shape[0])
        self.facts_short = ((sw, short_acf(self.sampler.data[None], sw, lc.facts_short_lags))
                            if self.facts is not None and sw > lc.facts_short_lags else None)
        self.facts_noise_len = unwrap(self.G).noise_length(max(lc.facts_length, self.window))
        # bf16 autocast pays off on GPUs only (see TrainConfig.bf16).
        self.amp = cfg.train.bf16 and self.device.type == "cuda"
        fused = self.device.type == "cuda"
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=betas,
                                      fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d, betas=betas,
                                      fused=fused)
        self.lr_g, self.lr_d = float(cfg.optim.lr_g), float(cfg.optim.lr_d)
        #: Divergence recoveries of this run (across resumptions), oldest first.
        self.recoveries: list[dict[str, Any]] = []
        if restored is not None:
            self._resume(restored)
        self._snapshot = self.snapshot()

    # --- checkpoints -------------------------------------------------------------------
    def _check_restored(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise GanjobsError(f"checkpoint has format {state.get('format')!r}, "
                               f"expected {CHECKPOINT_FORMAT}")
        saved = json.loads(state["config"])
        mine = self.cfg.model_dump()
        # Only the run length and bookkeeping may change between a run and its resumption.
        for section in ("data", "model", "loss", "preprocess"):
            if saved.get(section) != mine[section]:
                raise GanjobsError(f"checkpoint was written with a different '{section}' "
                                   f"configuration; use another run name to start afresh")

    def _resume(self, state: dict[str, Any]) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = self.start_step = int(state["step"])
        # The optimiser states carry their learning rates; checkpoints also name them, and
        # the recoveries that lowered them.
        self.recoveries = json.loads(state.get("recoveries", "[]"))
        self._set_lrs(float(state.get("lr_g", self.opt_g.param_groups[0]["lr"])),
                      float(state.get("lr_d", self.opt_d.param_groups[0]["lr"])))
        if self.recoveries:
            self.session.log(f"resuming after {len(self.recoveries)} divergence recover"
                             f"{'y' if len(self.recoveries) == 1 else 'ies'}: lr_g "
                             f"{self.lr_g:.3g} lr_d {self.lr_d:.3g}")
        rng = state.get("rng", {})
        key = str(self.session.rank)
        if int(state.get("world_size", -1)) == self.session.world_size and key in rng:
            self.rng.set_state(rng[key])
        else:
            # Another world size: the old per-rank streams do not map onto the new ranks.
            self.rng.manual_seed(derive_seed(self.cfg.train.seed, SAMPLE_STREAM,
                                             self.session.rank, self.step))
            self.session.log(f"resumed on {self.session.world_size} workers from a checkpoint "
                             f"of {state.get('world_size')}: sampling streams re-derived")
        self.session.log(f"resumed from checkpoint at step {self.step}")

    def _set_lrs(self, lr_g: float, lr_d: float) -> None:
        self.lr_g, self.lr_d = lr_g, lr_d
        for opt, lr in ((self.opt_g, lr_g), (self.opt_d, lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr

    def snapshot(self) -> dict[str, Any]:
        """Keep this rank's state in CPU memory as the one to roll back to; returns it.

        Taken at the start and at every checkpoint, on every rank (only rank 0 writes the
        checkpoint), so that all ranks roll back to identical weights and optimiser states.
        """
        self._snapshot = {
            "step": self.step,
            "generator": _cpu_copy(unwrap(self.G).state_dict()),
            "critic": _cpu_copy(unwrap(self.D).state_dict()),
            "opt_g": _cpu_copy(self.opt_g.state_dict()),
            "opt_d": _cpu_copy(self.opt_d.state_dict()),
            "rng": self.rng.get_state().cpu(),
        }
        return self._snapshot

    def roll_back(self) -> int:
        """Restore the last snapshot and lower both learning rates; returns its step."""
        snap = self._snapshot
        unwrap(self.G).load_state_dict(snap["generator"])
        unwrap(self.D).load_state_dict(snap["critic"])
        # Copies again: loading may alias the given tensors, and Adam updates them in place.
        self.opt_g.load_state_dict(_cpu_copy(snap["opt_g"]))
        self.opt_d.load_state_dict(_cpu_copy(snap["opt_d"]))
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        self.rng.set_state(snap["rng"])
        self.step = int(snap["step"])
        factor = self.cfg.train.recovery_lr_factor
        self._set_lrs(self.lr_g * factor, self.lr_d * factor)
        return self.step

    def state(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimisers, RNG of every rank,
        learning rates and recoveries. Call :meth:`snapshot` first: the state is its copy."""
        rngs = self.session.all_gather(self.rng.get_state())  # collective: all ranks call
        if self.session.rank != 0:
            return {}
        snap = self._snapshot
        if snap["step"] != self.step:
            raise RuntimeError("Trainer.state() needs a snapshot of the current step")
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "generator": snap["generator"],
            "critic": snap["critic"],
            "opt_g": snap["opt_g"],
            "opt_d": snap["opt_d"],
            "rng": {str(r): s.cpu() for r, s in enumerate(rngs)},
            "world_size": self.session.world_size,
            "lr_g": self.lr_g,
            "lr_d": self.lr_d,
            "recoveries": json.dumps(self.recoveries),
            "config": json.dumps(self.cfg.model_dump()),
            "metrics": json.dumps(metrics),
        }

    # --- one step ----------------------------------------------------------------------
    def _noise(self, batch: int, length: int | None = None) -> torch.Tensor:
        return draw_noise(batch, self.cfg.model.noise_dim, length or self.noise_len,
                          self.cfg.model, self.rng, self.device)

    def _generator_losses(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Adversarial loss of fresh paths and the stylized-facts penalty (0 when off): one
        generator forward either way (a DDP module sees one forward per backward)."""
        on = self.facts is not None
        paths = self.G(self._noise(batch, self.facts_noise_len if on else self.noise_len))
        adversarial = g_loss(self.cfg.loss.kind, self.D(paths[:, -self.window:]))
        if not on:
            return adversarial, torch.zeros((), device=self.device)
        return adversarial, facts_penalty(paths, self.facts, self.facts_vol,
                                          self.cfg.loss.facts_estimator == "split",
                                          self.cfg.loss.facts_lag1_weight, self.facts_short,
                                          self.cfg.loss.facts_short_weight)

    def train_step(self) -> tuple[torch.Tensor, ...]:
        """One generator update after ``n_critic`` critic updates; returns device tensors
        ``(d_loss, g_loss, gradient penalty, facts penalty)`` without synchronising with the
        host (``g_loss`` is the adversarial part; the generator minimises
        ``g_loss + loss.facts_weight * facts``)."""
        cfg, batch = self.cfg, self.cfg.train.batch_size
        kind, gp_w = cfg.loss.kind, float(cfg.loss.gp_weight or 0.0)
        amp = self.amp
        gp = torch.zeros((), device=self.device)
        for _ in range(cfg.optim.n_critic):
            real = self.sampler(batch, self.rng)
            with torch.no_grad(), _autocast(self.device, amp):
                fake = self.G(self._noise(batch)).float()
            self.opt_d.zero_grad(set_to_none=True)  # also drops grads left by the G step
            with _autocast(self.device, amp):
                if gp_w > 0:
                    # One critic forward over real, fake and interpolates: a DDP module
                    # must see exactly one forward per backward.
                    mixed = interpolate(real, fake, self.rng)
                    scores = self.D(torch.cat([real, fake, mixed]))
                    s_real, s_fake, s_mixed = scores.split(batch)
                    gp = gradient_penalty(s_mixed, mixed)
                    loss_d = d_loss(kind, s_real, s_fake) + gp_w * gp
                else:
                    s_real, s_fake = self.D(torch.cat([real, fake])).split(batch)
                    loss_d = d_loss(kind, s_real, s_fake)
            loss_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        # The critic's weight gradients from this backward are discarded (cleared before its
        # next step), so skip their all-reduce.
        with self.session.no_sync(self.D), _autocast(self.device, amp):
            loss_g, facts = self._generator_losses(batch)
        (loss_g + cfg.loss.facts_weight * facts).backward()
        self.opt_g.step()
        self.step += 1
        return loss_d.detach(), loss_g.detach(), gp.detach(), facts.detach()


class _Tracker:
    """Device-side running sums and the first non-finite and first exploded steps: no host
    sync per step."""

    def __init__(self, device: torch.device, explode_threshold: float = math.inf) -> None:
        self.device = device
        self.threshold = float(explode_threshold)
        self.reset()

    def reset(self) -> None:
        device = self.device
        self.sums = torch.zeros(4, device=device, dtype=torch.float64)
        self.count = 0
        # [first non-finite step, first exploded step]; losses (d, g) at each.
        self.bad_step = torch.full((2,), _NO_BAD, device=device, dtype=torch.int64)
        self.bad_vals = torch.zeros(2, 2, device=device)

    def add(self, step: int, ld: torch.Tensor, lg: torch.Tensor, gp: torch.Tensor,
            facts: torch.Tensor | None = None) -> None:
        facts = torch.zeros((), device=self.device) if facts is None else facts
        vals = torch.stack([ld.float(), lg.float(), gp.float(), facts.float()])
        finite = torch.isfinite(vals).all()
        exploded = finite & (vals[0].abs() > self.threshold)
        first = torch.stack([~finite, exploded]) & (self.bad_step == _NO_BAD)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_vals = torch.where(first[:, None], vals[:2], self.bad_vals)
        self.sums += vals.double()
        self.count += 1

    def means(self) -> dict[str, float]:
        d, g, p, f = (self.sums / max(self.count, 1)).tolist()
        self.sums.zero_()
        self.count = 0
        return {"d_loss": d, "g_loss": g, "gp": p, "facts": f}


def _check_health(session: Session, tracker: _Tracker) -> dict[str, Any] | None:
    """The first divergence any rank saw since the last check, the same on every rank
    (one all-reduce; the details are gathered only when there is one), or None."""
    first = session.all_min(tracker.bad_step).tolist()
    if min(first) == _NO_BAD:
        return None
    kind = 0 if first[0] <= first[1] else 1  # a non-finite loss wins a tie
    step = int(first[kind])
    mine = (int(tracker.bad_step[kind].item()), tracker.bad_vals[kind].tolist())
    seen = session.all_gather(mine)
    rank = next(r for r, (s, _) in enumerate(seen) if s == step)
    # Non-finite values as "nan"/"inf"/"-inf": the events end up in JSON (model.json).
    ld, lg = (v if math.isfinite(v) else str(v) for v in seen[rank][1])
    return {"step": step, "reason": (NON_FINITE, EXPLODED)[kind], "d_loss": ld,
            "g_loss": lg, "rank": rank}


def _describe(event: dict[str, Any], threshold: float) -> str:
    def num(v: float | str) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    beyond = "" if event["reason"] == NON_FINITE else (
        f" beyond train.explode_threshold {threshold:g}")
    return (f"{event['reason']} at step {event['step']} (critic loss {num(event['d_loss'])}"
            f"{beyond}, generator loss {num(event['g_loss'])} on rank {event['rank']})")


def _recover(cfg: GanConfig, trainer: Trainer, session: Session,
             event: dict[str, Any]) -> None:
    """Roll every rank back to its last snapshot with lower learning rates, or raise when
    ``max_recoveries`` are spent. Collective: every rank calls it with the same event."""
    tc = cfg.train
    tried = len(trainer.recoveries)
    if tried >= tc.max_recoveries:
        each = (f"; each restored the last checkpoint and multiplied the learning rates by "
                f"{tc.recovery_lr_factor:g}, to lr_g {trainer.lr_g:.3g} lr_d "
                f"{trainer.lr_d:.3g}" if tried else "")
        raise NonFiniteLossError(
            f"training diverged: {_describe(event, tc.explode_threshold)}; gave up after "
            f"{tried} recover{'y' if tried == 1 else 'ies'} (train.max_recoveries="
            f"{tc.max_recoveries}{each}); lower the learning rates or change the loss")
    restored = trainer.roll_back()
    hashes = session.all_gather(state_hash(trainer.G))
    record = {**event, "recovery": tried + 1, "restored_step": restored,
              "lr_g": trainer.lr_g, "lr_d": trainer.lr_d, "g_hash": hashes[0],
              "ranks_in_sync": len(set(hashes)) == 1}
    trainer.recoveries.append(record)
    session.log(f"recovery {tried + 1}/{tc.max_recoveries}: "
                f"{_describe(event, tc.explode_threshold)}; restored step {restored}, "
                f"learning rates now lr_g {trainer.lr_g:.3g} lr_d {trainer.lr_d:.3g}")


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


def train_loop_per_worker(config: dict[str, Any]) -> dict[str, Any]:
    """Train one worker's share of the GAN; the function Ray Train runs on every worker.

    Parameters
    ----------
    config : dict
        ``"gan"``: a :class:`~ganjobs.config.GanConfig` as a dict (required);
        ``"data"``: preprocessed training returns ``(T, k)`` (or ``"data_path"``: a ``.npy``
        URL); standalone only: ``"device"`` (default ``cuda`` when ``train.gpu`` else
        ``cpu``) and ``"checkpoint_dir"`` (write ``state.pt`` there and resume from it);
        ``"threads"``: torch intra-op threads for this worker.

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
    cfg = config_from_dict(config["gan"])
    data = _load_data(config)
    with _threads(config.get("threads")):
        session = open_session(config.get("device"), cfg.train.gpu, config.get("checkpoint_dir"))
        trainer = Trainer(cfg, data, session)
        return _run(cfg, trainer, session)


def _run(cfg: GanConfig, trainer: Trainer, session: Session) -> dict[str, Any]:
    tc = cfg.train
    tracker = _Tracker(session.device, tc.explode_threshold)
    global_batch = tc.batch_size * session.world_size
    history: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    t_start = time.perf_counter()
    t_window, step_window = t_start, trainer.step
    t_first: float | None = None  # end of the first step: throughput leaves out warm-up
    session.log(f"training {cfg.model.arch}/{cfg.loss.kind} from step {trainer.step} to "
                f"{tc.steps} on {session.world_size} worker(s), device {session.device}"
                f"{' (bf16)' if trainer.amp else ''}, batch {tc.batch_size}/worker")
    while trainer.step < tc.steps:
        ld, lg, gp, facts = trainer.train_step()
        step = trainer.step
        tracker.add(step, ld, lg, gp, facts)
        if t_first is None:
            t_first = time.perf_counter()
        last = step == tc.steps
        ckpt = step % tc.checkpoint_every == 0 or last
        if not (ckpt or step % tc.log_every == 0):
            continue
        event = _check_health(session, tracker)  # before anything is saved
        now = time.perf_counter()
        if event is not None:
            _recover(cfg, trainer, session, event)  # raises when recoveries are spent
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
        facts_part = f"facts {metrics['facts']:.4f} " if trainer.facts is not None else ""
        session.log(f"step {step}/{tc.steps} d_loss {metrics['d_loss']:.4f} g_loss "
                    f"{metrics['g_loss']:.4f} gp {metrics['gp']:.4f} {facts_part}"
                    f"{rate:.2f} steps/s {rate * global_batch:.0f} samples/s")
        if ckpt:
            hashes = session.all_gather(state_hash(trainer.G))
            metrics["g_hash"] = hashes[0]
            metrics["g_hashes"] = hashes
            metrics["ranks_in_sync"] = len(set(hashes)) == 1
            if not metrics["ranks_in_sync"]:
                session.log(f"warning: generator weights differ across ranks at step {step}")
        history.append(metrics)
        if ckpt:
            trainer.snapshot()  # this rank's copy to roll back to; also the checkpoint
        session.report(metrics, trainer.state(metrics) if ckpt else None)
    t_end = time.perf_counter()
    done = trainer.step - trainer.start_step
    if done == 0:
        # Resumed at or past the end: nothing to train, still report so the run has metrics.
        hashes = session.all_gather(state_hash(trainer.G))
        metrics = {"step": trainer.step, "start_step": trainer.start_step, "g_hash": hashes[0],
                   "g_hashes": hashes, "ranks_in_sync": len(set(hashes)) == 1,
                   "world_size": session.world_size, "lr_g": trainer.lr_g,
                   "lr_d": trainer.lr_d, "recoveries": list(trainer.recoveries)}
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
