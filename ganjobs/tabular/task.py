"""The table model as a training task (see :class:`~ganjobs.train.task.GanTask`).

A sample is one row in the transformed space (:mod:`ganjobs.tabular.transform`) followed by
its conditional vector (:mod:`ganjobs.tabular.sampler`). For the critic's update the
generated rows are asked for the same categories as the real rows they are compared with;
for the generator's update the conditions are drawn afresh and the generator also pays the
cross-entropy of its output to the asked-for category (else it could ignore the condition).
Under differential privacy the real rows are a Poisson sample instead and their conditions
are read off them (:mod:`ganjobs.tabular.privacy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganjobs.core.seeds import derive_seed
from ganjobs.errors import GanjobsError
from ganjobs.model.losses import d_loss, g_loss, gradient_penalty
from ganjobs.model.task import check_sections
from ganjobs.tabular.config import TableConfig
from ganjobs.tabular.networks import TableCritic, TableGenerator, gumbel_noise
from ganjobs.tabular.sampler import CondSampler
from ganjobs.train.weights import unwrap

#: Sections that define what a checkpoint trains (``train``/``optim`` may change on resume).
TABLE_SECTIONS = ("data", "model", "loss", "privacy")
#: Seed stream of the DP noise (distinct from the engine's sampling and init streams).
NOISE_STREAM = 7


@dataclass(frozen=True)
class Layout:
    """Where things are in a transformed row.

    ``spans``: ``(kind, start, width)`` of every output span; ``discrete``: ``(start, width)``
    of every categorical column's one-hot (the conditional vector's blocks, in order).
    """

    spans: tuple[tuple[str, int, int], ...]
    discrete: tuple[tuple[int, int], ...]
    width: int

    def to_dict(self) -> dict[str, Any]:
        return {"spans": [list(s) for s in self.spans],
                "discrete": [list(d) for d in self.discrete], "width": self.width}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layout:
        return cls(tuple((str(k), int(s), int(w)) for k, s, w in d["spans"]),
                   tuple((int(s), int(w)) for s, w in d["discrete"]), int(d["width"]))

    def codes(self, matrix: np.ndarray) -> np.ndarray:
        """Category index of every row in every categorical column."""
        cols = [np.asarray(matrix)[:, s:s + w].argmax(axis=1) for s, w in self.discrete]
        return np.stack(cols, axis=1) if cols else np.zeros((len(matrix), 0), dtype=np.int64)


def build_networks(cfg: TableConfig, layout: Layout, cond_dim: int,
                   init: torch.Generator | None = None) -> tuple[TableGenerator, TableCritic]:
    """The generator and critic of a configuration, weights drawn from ``init``."""
    mc = cfg.model
    g = TableGenerator(mc.noise_dim, cond_dim, mc.g_hidden, layout.spans, layout.width)
    d = TableCritic(layout.width + cond_dim, mc.d_hidden, mc.pac)
    if init is not None:
        for net in (g, d):
            _init_weights(net, init)
    return g, d


def _init_weights(net: nn.Module, init: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from ``init`` (not the global RNG)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.uniform_(-bound, bound, generator=init)
                m.bias.uniform_(-bound, bound, generator=init)


class TableTask:
    """Rows of one table: the task of ``ganjobs train-table``.

    Parameters
    ----------
    cfg : TableConfig
    data : ndarray, shape (n, width)
        The transformed training rows.
    device : torch.device
    layout : Layout
    """

    terms = ("gp", "cond")

    def __init__(self, cfg: TableConfig, data: np.ndarray, device: torch.device,
                 layout: Layout) -> None:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != layout.width or not np.isfinite(data).all():
            raise GanjobsError(f"training rows must be a finite (n, {layout.width}) array, "
                               f"got shape {data.shape}")
        self.cfg, self.device, self.layout = cfg, device, layout
        self.rows = torch.tensor(data, device=device)
        codes = layout.codes(data)
        counts = [np.bincount(codes[:, j], minlength=w) for j, (_, w) in
                  enumerate(layout.discrete)]
        self.sampler = CondSampler(counts, cfg.model.log_frequency, cfg.model.cond_min_rows,
                                   device, codes=codes)
        self.rank, self.world = _rank_world()
        self.private = cfg.privacy.epsilon is not None
        #: The engine's DP hook: present only for a private run.
        self.private_critic: Callable[..., Any] | None = (
            self._private_critic if self.private else None)
        self._shard = torch.arange(self.rank, len(data), self.world, device=device)
        self._paired: torch.Tensor | None = None

    # --- GanTask ----------------------------------------------------------------------
    def describe(self) -> str:
        dp = f", DP epsilon {self.cfg.privacy.epsilon}" if self.private else ""
        return f"table {self.layout.width} wide/{self.cfg.loss.kind}, pac {self.cfg.model.pac}{dp}"

    def log_terms(self) -> tuple[str, ...]:
        return self.terms if self.cfg.loss.kind == "wgan-gp" else ("cond",)

    def build(self, init: torch.Generator) -> tuple[nn.Module, nn.Module]:
        return build_networks(self.cfg, self.layout, self.sampler.dim, init)

    def real_batch(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        if self.private:
            rows = self._poisson_rows(rng)
            cond, _, _ = self.sampler.for_rows(rows, rng)
        else:
            cond, _, _, rows = self.sampler.draw_training(batch, rng)
        self._paired = cond
        return torch.cat([self.rows[rows], cond], dim=1)

    def fake_batch(self, generator: nn.Module, batch: int,
                   rng: torch.Generator) -> torch.Tensor:
        cond = self._paired
        if cond is None:
            raise GanjobsError("fake_batch before real_batch: the conditions come from it")
        return torch.cat([self._generate(generator, cond, rng), cond], dim=1)

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lc, n, pac = self.cfg.loss, real.shape[0], self.cfg.model.pac
        if lc.kind == "wgan-gp" and lc.gp_weight > 0:
            eps = torch.rand((n // pac, 1, 1), generator=rng, device=real.device)
            eps = eps.expand(-1, pac, 1).reshape(n, 1)  # one mixing weight per pack
            mixed = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
            s_real, s_fake, s_mixed = critic(torch.cat([real, fake, mixed])).split(n // pac)
            gp = _packed_penalty(s_mixed, mixed, pac)
            return d_loss(lc.kind, s_real, s_fake) + lc.gp_weight * gp, {"gp": gp}
        s_real, s_fake = critic(torch.cat([real, fake])).split(n // pac)
        return d_loss(lc.kind, s_real, s_fake), {"gp": torch.zeros((), device=real.device)}

    def generator_loss(self, generator: nn.Module, critic: nn.Module, batch: int,
                       rng: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        cond, column, category, _ = self.sampler.draw_training(batch, rng)
        logits, rows = self._generate(generator, cond, rng, with_logits=True)
        adversarial = g_loss(self.cfg.loss.kind, critic(torch.cat([rows, cond], dim=1)))
        cond_loss = self._cond_loss(logits, column, category)
        return adversarial + self.cfg.loss.cond_weight * cond_loss, adversarial, {
            "cond": cond_loss}

    def config_record(self) -> dict[str, Any]:
        return {**self.cfg.model_dump(), "layout": self.layout.to_dict()}

    def check_resume(self, saved: dict[str, Any]) -> None:
        check_sections(saved, self.cfg, TABLE_SECTIONS)
        if saved.get("layout") != self.layout.to_dict():
            raise GanjobsError("checkpoint was written for differently transformed rows; use "
                               "another run name to start afresh")

    # --- privacy ----------------------------------------------------------------------
    @property
    def sample_rate(self) -> float:
        """Probability that a row is in one critic update's Poisson sample."""
        return min(1.0, self.cfg.train.batch_size * self.world / len(self.rows))

    def dp_updates(self, steps: int) -> int:
        return int(steps) * self.cfg.optim.n_critic

    def _poisson_rows(self, rng: torch.Generator) -> torch.Tensor:
        keep = torch.rand(len(self._shard), generator=rng, device=self.device) < self.sample_rate
        return self._shard[keep]

    def _private_critic(self, critic: nn.Module, make_optimizer: Callable[[Any], Any],
                        session: Any) -> tuple[nn.Module, Any]:
        from ganjobs.tabular.privacy import make_private, noise_for

        pc, n = self.cfg.privacy, len(self.rows)
        delta = pc.delta if pc.delta is not None else 1.0 / n
        sigma = noise_for(pc.epsilon, delta, self.sample_rate,
                          self.dp_updates(self.cfg.train.steps))
        # Real and generated rows are both clipped samples of one forward.
        expected = 2 * self.sample_rate * len(self._shard)
        return make_private(critic, make_optimizer, noise_multiplier=sigma,
                            max_grad_norm=pc.max_grad_norm, expected_batch=max(1, round(expected)),
                            seed=derive_seed(self.cfg.train.seed, NOISE_STREAM, self.rank),
                            world_size=self.world)

    # --- helpers ----------------------------------------------------------------------
    def _generate(self, generator: nn.Module, cond: torch.Tensor, rng: torch.Generator,
                  with_logits: bool = False) -> Any:
        g = unwrap(generator)
        noise = torch.randn((cond.shape[0], g.noise_dim), generator=rng, device=self.device)
        logits = generator(noise, cond).float()
        gumbel = gumbel_noise(tuple(logits.shape), rng, self.device)
        rows = g.activate(logits, self.cfg.model.tau, gumbel)
        return (logits, rows) if with_logits else rows

    def _cond_loss(self, logits: torch.Tensor, column: torch.Tensor,
                   category: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of each row's asked-for column to the asked-for category."""
        if not self.layout.discrete:
            return torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        for j, (start, width) in enumerate(self.layout.discrete):
            ce = F.cross_entropy(logits[:, start:start + width], category.clamp_max(width - 1),
                                 reduction="none")
            total = total + (ce * (column == j)).sum()
        return total / logits.shape[0]


def _packed_penalty(scores: torch.Tensor, inputs: torch.Tensor, pac: int) -> torch.Tensor:
    """Gradient penalty with one norm per pack of ``pac`` rows (the critic's sample)."""
    if pac == 1:
        return gradient_penalty(scores, inputs)
    (grads,) = torch.autograd.grad(scores.float().sum(), inputs, create_graph=True)
    norms = grads.float().reshape(-1, pac * inputs.shape[1]).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@dataclass(frozen=True)
class TableTaskFactory:
    """Picklable factory handed to the engine: the layout travels with it to the workers."""

    layout: Layout

    def __call__(self, cfg: TableConfig, data: np.ndarray, device: torch.device) -> TableTask:
        return TableTask(cfg, data, device, self.layout)
