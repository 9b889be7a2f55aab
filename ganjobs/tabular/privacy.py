"""Differentially private training of the critic: DP-SGD through opacus.

Only the critic reads real rows, so only its updates need privacy; the generator learns
through the critic's (private) scores and is private by post-processing. Each critic update
draws a Poisson sample of the training rows (every row independently with probability ``q``;
each worker samples its own share of the rows, so the union over workers is one Poisson
sample), clips every row's gradient to ``max_grad_norm``, adds Gaussian noise of standard
deviation ``noise_multiplier * max_grad_norm`` once (on rank 0) and averages across workers
(opacus's distributed optimizer, in place of DDP). The RDP accountant turns ``(noise, q,
updates)`` into the ``(epsilon, delta)`` recorded with the model.

The loss is the logistic (``bce``) one with single-row packs: WGAN-GP's gradient penalty is a
gradient of gradients, which per-sample clipping cannot take, and a pack of rows would make
one clipped sample several people.

What is not covered: the column transforms (mixture modes, category lists, category counts of
the conditional sampler) are fitted on the training rows without noise, as in DP-CTGAN; the
schema's bounds are public input.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

ACCOUNTANT = "rdp"
#: RDP orders searched for the tightest conversion to (epsilon, delta): opacus's defaults
#: extended upwards, where the optimum lies for few updates or little noise.
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [80, 128, 256, 512]

# Opacus's per-sample hooks meet inputs that need no gradient (the rows): harmless, not news.
warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients")


def noise_for(epsilon: float, delta: float, sample_rate: float, updates: int) -> float:
    """The noise multiplier that spends ``(epsilon, delta)`` over ``updates`` critic updates."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta,
                                      sample_rate=sample_rate, steps=int(updates),
                                      accountant=ACCOUNTANT, alphas=ALPHAS))


def epsilon_spent(noise_multiplier: float, sample_rate: float, updates: int,
                  delta: float) -> float:
    """The accountant's epsilon after ``updates`` noisy critic updates."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(float(noise_multiplier), float(sample_rate), int(updates))]
    return float(accountant.get_epsilon(delta=delta, alphas=ALPHAS))


class PrivateCritic(nn.Module):
    """The critic inside opacus's per-sample-gradient wrapper.

    ``module`` is the plain critic (what checkpoints hold); :meth:`no_sync` switches the
    per-sample hooks off for the generator's step, whose critic gradients are discarded.
    """

    def __init__(self, critic: nn.Module) -> None:
        super().__init__()
        from opacus import GradSampleModule

        self.gsm = GradSampleModule(critic, loss_reduction="mean")

    @property
    def module(self) -> nn.Module:
        return self.gsm._module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gsm(x)

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        self.gsm.disable_hooks()
        try:
            yield
        finally:
            self.gsm.enable_hooks()


def make_private(critic: nn.Module, make_optimizer: Callable[[Any], torch.optim.Optimizer], *,
                 noise_multiplier: float, max_grad_norm: float, expected_batch: int,
                 seed: int, world_size: int) -> tuple[PrivateCritic, torch.optim.Optimizer]:
    """``(module, optimizer)`` for DP-SGD on this worker.

    ``expected_batch`` is the expected number of samples in one critic forward on this
    worker (real and generated rows together: each is one clipped sample). Noise comes from
    a generator seeded with ``seed`` so that runs repeat.
    """
    from opacus.optimizers import DistributedDPOptimizer, DPOptimizer

    if world_size > 1:
        with torch.no_grad():  # every rank starts from rank 0's weights
            for p in critic.parameters():
                torch.distributed.broadcast(p.data, 0)
    module = PrivateCritic(critic)
    noise_rng = torch.Generator(device=next(critic.parameters()).device)
    noise_rng.manual_seed(int(seed))
    cls = DistributedDPOptimizer if world_size > 1 else DPOptimizer
    optimizer = cls(make_optimizer(module.parameters()), noise_multiplier=noise_multiplier,
                    max_grad_norm=max_grad_norm, expected_batch_size=int(expected_batch),
                    loss_reduction="mean", generator=noise_rng)
    return module, optimizer
