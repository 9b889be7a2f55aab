"""What the training engine asks of a kind of data: the :class:`GanTask` interface.

The engine (:mod:`ganjobs.train.loop`) owns everything a GAN run has whatever it learns:
seeds, the session, optimisers, DDP wrapping, bf16 autocast, the ``n_critic`` / generator
alternation, metric reduction, checkpoints and divergence recovery. A task owns the rest:
what a training sample is, how the networks are built, what noise they take and which losses
they minimise. The market model (:class:`ganjobs.model.task.MarketTask`) is one task; another
kind of data plugs in with its own task class and the same engine.

Every random draw a task makes comes from the ``rng`` the engine passes in (one stream per
rank, checkpointed and rolled back by the engine), so that runs are reproducible and resume
exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn


@runtime_checkable
class GanTask(Protocol):
    """A kind of data and its model, as the engine sees them.

    Attributes
    ----------
    terms : tuple of str
        Names of the loss terms the task reports besides the critic's and the generator's
        adversarial losses (``d_loss``, ``g_loss``), in a fixed order: the engine averages
        them between reports and puts them in the metrics under these names.
    """

    terms: tuple[str, ...]

    def describe(self) -> str:
        """A few words for the first log line of a run (e.g. ``tcn/wgan-gp``)."""
        ...

    def log_terms(self) -> tuple[str, ...]:
        """The terms worth a place in the progress lines (a subset of :attr:`terms`)."""
        ...

    def build(self, init: torch.Generator) -> tuple[nn.Module, nn.Module]:
        """The generator and the critic on the CPU, initial weights drawn from ``init``.

        ``init`` is seeded from the run seed alone, so that every rank builds the same
        weights. Called once, before any checkpoint is restored.
        """
        ...

    def real_batch(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        """``batch`` training samples on the device."""
        ...

    def fake_batch(self, generator: nn.Module, batch: int,
                   rng: torch.Generator) -> torch.Tensor:
        """``batch`` generated samples for a critic update, in float32 (the engine calls it
        without gradients and under autocast)."""
        ...

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic's loss (minimised) and the task's terms it computed (e.g. ``gp``).

        The critic must see exactly one forward per backward: it runs under DDP.
        """
        ...

    def generator_loss(self, generator: nn.Module, critic: nn.Module, batch: int,
                       rng: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(objective, adversarial, terms)``: what the generator minimises, its adversarial
        part (reported as ``g_loss``) and the task's terms it computed (e.g. ``facts``).

        One generator forward per call (a DDP module sees one forward per backward). The
        critic's weight gradients of this backward are discarded by the engine.
        """
        ...

    def config_record(self) -> dict[str, Any]:
        """The configuration written into every checkpoint (JSON-serialisable)."""
        ...

    def check_resume(self, saved: dict[str, Any]) -> None:
        """Refuse to resume from a checkpoint whose recorded configuration (the
        :meth:`config_record` of the run that wrote it) trains something else."""
        ...


class PrivateCritic(Protocol):
    """Optional on a task: train the critic with differential privacy.

    ``private_critic(critic, make_optimizer, session) -> (module, optimizer)`` receives the
    critic on the worker's device and a function building the engine's Adam from parameters;
    it returns the module the engine trains (with ``.module`` the plain critic, whose weights
    are checkpointed, and ``no_sync()`` for the generator's step) and the optimizer that clips
    per-sample gradients, adds noise and averages across ranks in place of DDP.
    """

    def __call__(self, critic: nn.Module, make_optimizer: Callable[[Any], torch.optim.Optimizer],
                 session: Any) -> tuple[nn.Module, torch.optim.Optimizer]: ...


#: Builds a task from the run's configuration, its training data (as shipped to the worker)
#: and the worker's device. Must be picklable (a class or a module-level function): it
#: travels to Ray Train workers inside the worker configuration.
TaskFactory = Callable[[Any, np.ndarray, torch.device], GanTask]
