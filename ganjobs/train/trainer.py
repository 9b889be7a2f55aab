"""One worker's GAN training state and its step: :class:`Trainer`.

One step is ``n_critic`` critic updates followed by one generator update. The generator loss
is taken through the critic without stepping the critic's optimiser, and the critic's
gradients are cleared before each of its own steps, so no ``requires_grad`` is ever toggled
on a DDP module (the generator and the critic are separate DDP modules). Each rank draws its
own samples and noise from a generator seeded by ``(run seed, rank)``; initial weights come
from the run seed alone, so every rank starts from the same weights (DDP would broadcast rank
0's anyway). What a sample is, and which losses are taken, is the task's business
(:class:`~ganjobs.train.task.GanTask`).
"""

from __future__ import annotations

from typing import Any

import torch

from ganjobs.config import GanConfig
from ganjobs.core.seeds import derive_seed
from ganjobs.train import checkpoint
from ganjobs.train.checkpoint import INIT_STREAM, SAMPLE_STREAM
from ganjobs.train.session import Session
from ganjobs.train.task import GanTask


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


class Trainer:
    """Networks, optimisers, sampling RNG, step and learning rates of one worker.

    Parameters
    ----------
    cfg : GanConfig
        The run's configuration; ``train`` and ``optim`` are read here.
    task : GanTask
        Builds the networks and computes the losses.
    session : Session
        Rank, device, DDP preparation, collectives, checkpoints.
    """

    def __init__(self, cfg: GanConfig, task: GanTask, session: Session) -> None:
        self.train_cfg, self.optim_cfg = cfg.train, cfg.optim
        self.task = task
        self.session = session
        self.device = session.device
        seed = cfg.train.seed
        g_model, d_model = task.build(seeded_generator(derive_seed(seed, INIT_STREAM)))
        self.rng = seeded_generator(derive_seed(seed, SAMPLE_STREAM, session.rank),
                                    self.device)
        self.step = 0
        self.start_step = 0
        restored = session.restore()
        if restored is not None:
            checkpoint.check_restored(restored, task)
            g_model.load_state_dict(restored["generator"])
            d_model.load_state_dict(restored["critic"])
        # bf16 autocast pays off on GPUs only (see TrainConfig.bf16).
        self.amp = cfg.train.bf16 and self.device.type == "cuda"
        oc = cfg.optim
        fused = self.device.type == "cuda"
        betas = (oc.beta1, oc.beta2)
        decay = float(getattr(oc, "weight_decay", 0.0))

        def adam(params: Any, lr: float) -> torch.optim.Adam:
            return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=decay, fused=fused)

        # One DDP module each: separate reducers, no find_unused_parameters.
        self.G = session.prepare(g_model)
        self.opt_g = adam(self.G.parameters(), oc.lr_g)
        private = getattr(task, "private_critic", None)
        if private is None:
            self.D = session.prepare(d_model)
            self.opt_d = adam(self.D.parameters(), oc.lr_d)
        else:
            # DP-SGD: per-sample clipping and noise (the task's) replace DDP's averaging.
            self.D, self.opt_d = private(d_model.to(self.device),
                                         lambda params: adam(params, oc.lr_d), session)
        self.lr_g, self.lr_d = float(oc.lr_g), float(oc.lr_d)
        #: Divergence recoveries of this run (across resumptions), oldest first.
        self.recoveries: list[dict[str, Any]] = []
        if restored is not None:
            self.load_state_dict(restored)
        self._snapshot = self.snapshot()

    # --- state ---------------------------------------------------------------------------
    def set_lrs(self, lr_g: float, lr_d: float) -> None:
        self.lr_g, self.lr_d = lr_g, lr_d
        for opt, lr in ((self.opt_g, lr_g), (self.opt_d, lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr

    def snapshot(self) -> dict[str, Any]:
        """Keep this rank's state in CPU memory as the one to roll back to; returns it.

        Taken at the start and at every checkpoint, on every rank (only rank 0 writes the
        checkpoint), so that all ranks roll back to identical weights and optimiser states.
        """
        self._snapshot = checkpoint.take_snapshot(self)
        return self._snapshot

    def roll_back(self, lr_factor: float) -> int:
        """Restore the last snapshot and multiply both learning rates by ``lr_factor``;
        returns the restored step."""
        checkpoint.restore_snapshot(self, self._snapshot)
        self.set_lrs(self.lr_g * lr_factor, self.lr_d * lr_factor)
        return self.step

    def state_dict(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint of the current step (see :mod:`ganjobs.train.checkpoint`); call
        :meth:`snapshot` first. Collective; ``{}`` on ranks other than 0."""
        return checkpoint.state_dict(self, self._snapshot, metrics)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (optimisers, step, learning rates, RNG)."""
        checkpoint.load_state_dict(self, state)

    # --- one step ------------------------------------------------------------------------
    def train_step(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One generator update after ``n_critic`` critic updates.

        Returns device tensors ``(d_loss, g_loss, terms)`` without synchronising with the
        host: the last critic loss, the generator's adversarial loss and the task's terms.
        """
        task, batch, amp = self.task, self.train_cfg.batch_size, self.amp
        terms: dict[str, torch.Tensor] = {}
        for _ in range(self.optim_cfg.n_critic):
            real = task.real_batch(batch, self.rng)
            with torch.no_grad(), autocast(self.device, amp):
                fake = task.fake_batch(self.G, batch, self.rng)
            self.opt_d.zero_grad(set_to_none=True)  # also drops grads left by the G step
            with autocast(self.device, amp):
                loss_d, critic_terms = task.critic_loss(self.D, real, fake, self.rng)
            loss_d.backward()
            self.opt_d.step()
        terms.update(critic_terms)
        self.opt_g.zero_grad(set_to_none=True)
        # The critic's weight gradients from this backward are discarded (cleared before its
        # next step), so skip their all-reduce (a private critic: its per-sample gradients).
        with self.session.no_sync(self.D):
            with autocast(self.device, amp):
                objective, loss_g, gen_terms = task.generator_loss(self.G, self.D, batch,
                                                                   self.rng)
            objective.backward()
        self.opt_g.step()
        self.step += 1
        terms.update(gen_terms)
        return loss_d.detach(), loss_g.detach(), {k: v.detach() for k, v in terms.items()}
