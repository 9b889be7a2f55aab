"""The market model as a training task: windows of returns, TCN/MLP networks, GAN losses and
the stylized-facts penalty (see :class:`~ganjobs.train.task.GanTask`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ganjobs.config import GanConfig
from ganjobs.errors import GanjobsError
from ganjobs.model.losses import critic_objective, g_loss, interpolate
from ganjobs.model.networks import build_critic, build_generator, draw_noise
from ganjobs.model.stylized import data_curves, facts_penalty, short_acf, vol_quantiles

#: Configuration sections that define what a checkpoint trains; only the run length and the
#: bookkeeping (``train``, ``optim``) may change between a run and its resumption.
MODEL_SECTIONS = ("data", "model", "loss", "preprocess")


def check_returns(data: np.ndarray) -> np.ndarray:
    """Training returns as float32 ``(T, k)``; refuses any other shape and non-finite values."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or not np.all(np.isfinite(data)):
        raise GanjobsError(f"training data must be a finite (T, k) array, got shape {data.shape}")
    return data


def check_sections(saved: dict[str, Any], cfg: GanConfig, sections: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose recorded ``sections`` differ from ``cfg``'s."""
    mine = cfg.model_dump()
    for section in sections:
        if saved.get(section) != mine[section]:
            raise GanjobsError(f"checkpoint was written with a different '{section}' "
                               f"configuration; use another run name to start afresh")


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


class MarketTask:
    """Joint daily returns of ``k`` symbols: the task of ``ganjobs train``.

    Parameters
    ----------
    cfg : GanConfig
        The run's configuration (sections ``data``, ``model``, ``loss`` are read here).
    data : ndarray, shape (T, k)
        Preprocessed training returns.
    device : torch.device
        Where the windows are kept and drawn.
    """

    terms = ("gp", "facts")

    def __init__(self, cfg: GanConfig, data: np.ndarray, device: torch.device) -> None:
        data = check_returns(data)
        self.cfg = cfg
        self.device = device
        self.k = int(data.shape[1])
        self.window = cfg.data.window
        self.sampler = WindowSampler(data, self.window, device)
        lc = cfg.loss
        returns = self.sampler.data
        #: Real |r| ACF and leverage curves the generator's paths are pulled to (or None).
        self.facts = (data_curves(returns, lc.facts_length, lc.facts_lags)
                      if lc.facts_weight > 0 else None)
        vw = min(lc.facts_vol_window, returns.shape[0])
        self.facts_vol = ((vw, vol_quantiles(returns[None], vw))
                          if self.facts is not None and vw >= 2 else None)
        sw = min(lc.facts_short_window, returns.shape[0])
        self.facts_short = ((sw, short_acf(returns[None], sw, lc.facts_short_lags))
                            if self.facts is not None and sw > lc.facts_short_lags else None)
        self.noise_len = 0
        self.facts_noise_len = 0

    # --- GanTask ----------------------------------------------------------------------
    def describe(self) -> str:
        return f"{self.cfg.model.arch}/{self.cfg.loss.kind}"

    def log_terms(self) -> tuple[str, ...]:
        return self.terms if self.facts is not None else ("gp",)

    def build(self, init: torch.Generator) -> tuple[nn.Module, nn.Module]:
        mc = self.cfg.model
        generator = build_generator(mc, self.k, self.window, init)
        critic = build_critic(mc, self.k, self.window, init)
        self.noise_len = generator.noise_length(self.window)
        self.facts_noise_len = generator.noise_length(max(self.cfg.loss.facts_length,
                                                          self.window))
        return generator, critic

    def real_batch(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        return self.sampler(batch, rng)

    def fake_batch(self, generator: nn.Module, batch: int,
                   rng: torch.Generator) -> torch.Tensor:
        return generator(self._noise(batch, self.noise_len, rng)).float()

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                    rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        kind, gp_w = self.cfg.loss.kind, float(self.cfg.loss.gp_weight or 0.0)
        mixed = interpolate(real, fake, rng) if gp_w > 0 else None
        return critic_objective(critic, kind, gp_w, real, fake, mixed)

    def generator_loss(self, generator: nn.Module, critic: nn.Module, batch: int,
                       rng: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Adversarial loss of fresh paths plus ``loss.facts_weight`` times the
        stylized-facts penalty (0 when off): one generator forward either way."""
        lc = self.cfg.loss
        on = self.facts is not None
        paths = generator(self._noise(batch, self.facts_noise_len if on else self.noise_len,
                                      rng))
        adversarial = g_loss(lc.kind, critic(paths[:, -self.window:]))
        if on:
            facts = facts_penalty(paths, self.facts, self.facts_vol,
                                  lc.facts_estimator == "split", lc.facts_lag1_weight,
                                  self.facts_short, lc.facts_short_weight)
        else:
            facts = torch.zeros((), device=self.device)
        return adversarial + lc.facts_weight * facts, adversarial, {"facts": facts}

    def config_record(self) -> dict[str, Any]:
        return self.cfg.model_dump()

    def check_resume(self, saved: dict[str, Any]) -> None:
        check_sections(saved, self.cfg, MODEL_SECTIONS)

    # --- helpers ----------------------------------------------------------------------
    def _noise(self, batch: int, length: int, rng: torch.Generator) -> torch.Tensor:
        mc = self.cfg.model
        return draw_noise(batch, mc.noise_dim, length, mc, rng, self.device)
