"""Networks of the conditional model: a generator that reads the observed past and a critic
that judges (past, future) pairs.

Shapes are channels-last as in :mod:`ganjobs.model.networks`. The state at an origin (see
:mod:`ganjobs.model.condition`) is the scaled past ``(n, past, k)`` and the volatility level
``(n, k)``.

- :class:`ContextEncoder`: a causal TCN over the past (returns, their sizes and the level)
  whose features at the origin become a context vector ``(n, context)``.
- :class:`ConditionalGenerator`: the QuantGAN generator of :mod:`ganjobs.model.networks`
  (volatility head included) whose noise channels are joined, at every step, by the context:
  the past sets the path's volatility and dependence, the noise draws the path.
- :class:`ConditionalCritic`: the causal TCN critic over the joined sequence
  ``[past, future]`` with the level as extra channels; the score is the mean of its per-step
  scores over the future steps, each of which sees the past through the causal receptive
  field. No normalisation layers (see :mod:`ganjobs.model.networks`).
"""

from __future__ import annotations

import torch
from torch import nn

from ganjobs.config import GanConfig
from ganjobs.model.networks import TCN, TCNGenerator, _score, init_weights, trailing_sums


class ContextEncoder(nn.Module):
    """Causal TCN over the past whose last step's features give the context vector."""

    def __init__(self, cfg: GanConfig, k: int) -> None:
        super().__init__()
        mc, cc = cfg.model, cfg.condition
        self.tcn = TCN(3 * k, mc.g_channels, cc.context, cc.encoder_blocks, causal_pad=True,
                       negative_slope=mc.negative_slope)

    def forward(self, past: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        lev = level[:, None, :].expand(-1, past.shape[1], -1)
        x = torch.cat([past, past.abs(), lev], dim=-1)
        return self.tcn.head(self.tcn.features(x)[:, -1])


#: Time scales (days) of the clock channels: ``exp(-s / scale)`` of the days ``s`` since the
#: origin. A convolution cannot tell one step from another; these let the generator learn
#: how the origin's state fades along the path (volatility reverting to its long-run level).
CLOCK_SCALES = (5.0, 20.0, 80.0)


def clock(length: int, receptive_field: int, device: torch.device) -> torch.Tensor:
    """``(length, len(CLOCK_SCALES))`` clock channels of a generator input of ``length`` steps:
    output step ``j`` (day ``j + 1`` after the origin) reads input ``j + receptive_field - 1``;
    the warm-up inputs before it read day 0."""
    day = (torch.arange(length, device=device) - (receptive_field - 2)).clamp_min(0)
    scales = torch.tensor(CLOCK_SCALES, device=device)
    return torch.exp(-day[:, None].float() / scales)


class ConditionalGenerator(TCNGenerator):
    """QuantGAN generator with the context vector and clock channels as extra inputs at
    every step."""

    def __init__(self, cfg: GanConfig, k: int, window: int) -> None:
        super().__init__(cfg.model, k, window)
        mc = cfg.model
        c_out = {"linear": k, "volatility": 2 * k, "log_volatility": k}[mc.g_head]
        self.tcn = TCN(mc.noise_channels + cfg.condition.context + len(CLOCK_SCALES),
                       mc.g_channels, c_out, mc.blocks, causal_pad=False,
                       negative_slope=mc.negative_slope)
        self.encoder = ContextEncoder(cfg, k)

    def context(self, past: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """``(n, context)`` vector of each state."""
        return self.encoder(past, level)

    def paths(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Paths ``(n, horizon, k)`` from noise ``(n, noise_length(horizon), channels)``.

        The noise channels come first, so the parent's read-out takes its shocks from them.
        """
        n, length = z.shape[:2]
        ctx = context[:, None, :].expand(-1, length, -1)
        tick = clock(length, self.receptive_field, z.device).to(z.dtype)
        return super().forward(torch.cat([z, ctx, tick.expand(n, -1, -1)], dim=-1))

    def forward(self, z: torch.Tensor, past: torch.Tensor,  # type: ignore[override]
                level: torch.Tensor) -> torch.Tensor:
        return self.paths(z, self.context(past, level))


class ConditionalCritic(nn.Module):
    """Critic of ``[past, future]`` sequences ``(n, past + future, 2k)``: returns and level."""

    def __init__(self, cfg: GanConfig, k: int, future: int) -> None:
        super().__init__()
        mc = cfg.model
        self.k = k
        self.future = future
        self.horizons = list(mc.critic_horizons)
        c_in = k * (1 + len(self.horizons)) * 2 + k
        self.tcn = TCN(c_in, mc.d_channels, 1, mc.blocks, causal_pad=True,
                       negative_slope=mc.negative_slope)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x, level = seq[..., : self.k], seq[..., self.k:]
        if self.horizons:
            x = torch.cat([x, *trailing_sums(x, self.horizons)], dim=-1)
        feats = self.tcn.features(torch.cat([x, x.abs(), level], dim=-1))
        return _score(self.tcn.head, feats[:, -self.future:].mean(dim=1))


def build_conditional(cfg: GanConfig, k: int, generator: torch.Generator | None = None
                      ) -> tuple[ConditionalGenerator, ConditionalCritic]:
    """Generator and critic for ``k`` symbols and futures of ``cfg.data.window`` days."""
    g = ConditionalGenerator(cfg, k, cfg.data.window)
    d = ConditionalCritic(cfg, k, cfg.data.window)
    if generator is not None:
        init_weights(g, generator)
        init_weights(d, generator)
    return g, d
