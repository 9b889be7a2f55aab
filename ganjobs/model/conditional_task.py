"""The conditional market model as a training task (see :class:`~ganjobs.train.task.GanTask`).

A sample is an origin drawn from the training years: its state (the scaled past and the
volatility level, :mod:`ganjobs.model.condition`) and the ``window`` returns that followed,
on the same scale. The critic judges ``[past, future]`` sequences; for its update the
generated futures continue the same pasts as the real ones (paired conditions, less noise in
the critic's comparison), for the generator's update the states are drawn afresh. The
gradient penalty is taken with respect to the future steps only: the past is given, not
generated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ganjobs.config import GanConfig
from ganjobs.errors import GanjobsError
from ganjobs.model import condition
from ganjobs.model.conditional_networks import build_conditional
from ganjobs.model.losses import critic_objective, g_loss, interpolate
from ganjobs.model.networks import draw_noise
from ganjobs.model.task import MODEL_SECTIONS, check_returns, check_sections


class ConditionalTask:
    """Paths that follow an observed past: the task of ``ganjobs train`` with
    ``condition.enabled``.

    Parameters
    ----------
    cfg : GanConfig
    data : ndarray, shape (T, k)
        Standardised training returns.
    device : torch.device
    """

    terms = ("gp",)

    def __init__(self, cfg: GanConfig, data: np.ndarray, device: torch.device) -> None:
        data = check_returns(data).astype(np.float64)
        self.cfg = cfg
        self.device = device
        self.k = int(data.shape[1])
        self.future = cfg.data.window
        cc = cfg.condition
        origins = np.arange(condition.first_origin(cc.past), len(data) - self.future)
        if len(origins) < 2:
            raise GanjobsError(f"training data has {len(data)} returns: the conditional model "
                               f"needs more than {condition.first_origin(cc.past) + self.future}"
                               f" (warm-up, past of {cc.past} and window of {self.future})")
        st = condition.states(data, origins, cc.past, cc.vol_decay)
        fut = condition.futures(data, origins, self.future, st.sigma)
        level = np.repeat(st.level[:, None, :], cc.past + self.future, axis=1)
        seq = np.concatenate([np.concatenate([st.past, fut], axis=1), level], axis=2)
        #: Every training sample ``(origins, past + window, 2k)``: returns, then the level.
        self.samples = torch.tensor(seq, dtype=torch.float32, device=device)
        self.past = cc.past
        self.noise_len = 0
        self._paired: torch.Tensor | None = None

    # --- GanTask ----------------------------------------------------------------------
    def describe(self) -> str:
        return f"conditional {self.cfg.model.arch}/{self.cfg.loss.kind}"

    def log_terms(self) -> tuple[str, ...]:
        return self.terms

    def build(self, init: torch.Generator) -> tuple[nn.Module, nn.Module]:
        generator, critic = build_conditional(self.cfg, self.k, init)
        self.noise_len = generator.noise_length(self.future)
        return generator, critic

    def real_batch(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.samples), (batch,), generator=rng, device=self.device)
        real = self.samples[idx]
        self._paired = real
        return real

    def fake_batch(self, generator: nn.Module, batch: int,
                   rng: torch.Generator) -> torch.Tensor:
        base = self._paired if self._paired is not None else self.real_batch(batch, rng)
        return self._continue(generator, base, rng).float()

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        kind, gp_w = self.cfg.loss.kind, float(self.cfg.loss.gp_weight or 0.0)
        if gp_w <= 0:
            return critic_objective(critic, kind, gp_w, real, fake)
        p, k = self.past, self.k
        future = interpolate(real[:, p:, :k], fake[:, p:, :k], rng)
        mixed = torch.cat([torch.cat([real[:, :p, :k], future], dim=1), real[..., k:]], dim=2)
        return critic_objective(critic, kind, gp_w, real, fake, mixed, wrt=future)

    def generator_loss(self, generator: nn.Module, critic: nn.Module, batch: int,
                       rng: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        idx = torch.randint(len(self.samples), (batch,), generator=rng, device=self.device)
        fake = self._continue(generator, self.samples[idx], rng)
        adversarial = g_loss(self.cfg.loss.kind, critic(fake))
        return adversarial, adversarial, {}

    def config_record(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    def check_resume(self, saved: dict[str, Any]) -> None:
        check_sections(saved, self.cfg, (*MODEL_SECTIONS, "condition"))

    # --- helpers ----------------------------------------------------------------------
    def _continue(self, generator: nn.Module, base: torch.Tensor,
                  rng: torch.Generator) -> torch.Tensor:
        """``base``'s past and level followed by generated futures, same layout."""
        p, k = self.past, self.k
        mc = self.cfg.model
        z = draw_noise(base.shape[0], mc.noise_dim, self.noise_len, mc, rng, self.device)
        future = generator(z, base[:, :p, :k], base[:, 0, k:])[:, : self.future]
        return torch.cat([torch.cat([base[:, :p, :k], future.to(base.dtype)], dim=1),
                          base[..., k:]], dim=2)
