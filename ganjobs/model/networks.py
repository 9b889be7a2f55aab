"""Generators and critics: QuantGAN-style temporal convolutions and the MLP baseline.

Layout is channels-last, ``(batch, time, channels)``, throughout: a generator maps noise
``(n, noise_length(horizon), noise_dim)`` to a path ``(n, horizon, k)`` of all ``k`` symbols
jointly (its channels mix the symbols); a critic maps a window ``(n, window, k)`` to one score
per window ``(n,)``. Convolutions are written as matrix products (:class:`DilatedConv`).

No normalisation layers anywhere: BatchNorm in a critic couples the samples of a batch (which
breaks the per-sample gradient penalty) and its running statistics would be buffers that DDP
has to broadcast.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ganjobs.config import ModelConfig


class DilatedConv(nn.Module):
    """Kernel-2 dilated convolution over time as one matrix product on ``[x(t-d), x(t)]``.

    Channels-last ``(n, time, channels)``: the two taps are concatenated along channels and
    multiplied by one ``(2 c_in, c_out)`` weight, which is what ``nn.Conv1d`` computes but
    runs as a single large GEMM (several times faster than Conv1d's backward on CPU, and the
    layout tensor cores want on GPU).

    Parameters
    ----------
    c_in, c_out, dilation : int
    causal_pad : bool
        Left-pad with ``dilation`` zeros so the output is as long as the input; otherwise
        the output is ``dilation`` steps shorter (valid convolution).
    """

    def __init__(self, c_in: int, c_out: int, dilation: int, causal_pad: bool) -> None:
        super().__init__()
        self.dilation = dilation
        self.causal_pad = causal_pad
        self.linear = nn.Linear(2 * c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        if self.causal_pad:
            past = F.pad(x, (0, 0, d, 0))[:, : x.shape[1]]
            return self.linear(torch.cat([past, x], dim=-1))
        return self.linear(torch.cat([x[:, :-d], x[:, d:]], dim=-1))


class TemporalBlock(nn.Module):
    """Two dilated kernel-2 convolutions with a residual path and a skip output.

    Parameters
    ----------
    c_in, c_hidden : int
        Input and output channels.
    dilation : int
        Dilation of both convolutions; the block consumes ``2 * dilation`` past steps.
    causal_pad : bool
        Left-pad so that the output is as long as the input (critic); without padding the
        block shortens its input by ``2 * dilation`` (generator: every output step sees a
        full receptive field of real noise, never padding, so paths are stationary from
        their first step).
    negative_slope : float
        LeakyReLU slope.
    """

    def __init__(self, c_in: int, c_hidden: int, dilation: int, causal_pad: bool,
                 negative_slope: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.causal_pad = causal_pad
        self.negative_slope = negative_slope
        self.conv1 = DilatedConv(c_in, c_hidden, dilation, causal_pad)
        self.conv2 = DilatedConv(c_hidden, c_hidden, dilation, causal_pad)
        self.down = nn.Linear(c_in, c_hidden) if c_in != c_hidden else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slope = self.negative_slope
        h = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), slope)), slope)
        res = x if self.down is None else self.down(x)
        if not self.causal_pad:
            res = res[:, 2 * self.dilation:]
        return h + res, h


class TCN(nn.Module):
    """Stack of temporal blocks with dilations ``1, 2, 4, ...``; output from summed skips.

    Input and output are channels-last ``(n, time, channels)``.
    """

    def __init__(self, c_in: int, c_hidden: int, c_out: int, blocks: int, causal_pad: bool,
                 negative_slope: float) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.blocks = nn.ModuleList(
            TemporalBlock(c_in if i == 0 else c_hidden, c_hidden, 2**i, causal_pad,
                          negative_slope)
            for i in range(blocks)
        )
        self.head = nn.Linear(c_hidden, c_out)
        self.receptive_field = 1 + 2 * (2**blocks - 1)

    def output_length(self, length: int) -> int:
        if self.blocks[0].causal_pad:
            return length
        return length - (self.receptive_field - 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Activated sum of the skips, ``(n, output_length, c_hidden)``; ``head`` follows."""
        length = self.output_length(x.shape[1])
        total = None
        for block in self.blocks:
            x, skip = block(x)
            # Without padding, earlier skips are longer: add their last `length` (aligned)
            # steps at once, so only one running sum is kept alive rather than every skip.
            skip = skip[:, skip.shape[1] - length:]
            total = skip if total is None else total + skip
        return F.leaky_relu(total, self.negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TCNGenerator(nn.Module):
    """QuantGAN generator: noise of length ``horizon + receptive_field - 1`` to a path.

    With ``g_head="linear"`` (QuantGAN) the path is a linear read-out of the TCN features.
    With ``g_head="volatility"`` it is ``loc(h_t) + softplus(scale(h_t)) * (M z_t)``: the
    features ``h_t`` of the past noise set a scale that multiplies a learnt mix of the
    current step's noise ``z_t``, a stochastic-volatility form in which clustered volatility
    and heavy-tailed aggregates come from the structure rather than having to be learnt
    from scratch by a piecewise-linear map. ``g_head="log_volatility"`` is
    ``mu + exp(s(h_t)) * (M z_t)`` with a learnt constant ``mu``: the log-normal volatility
    of stochastic-volatility models, and a drift that cannot depend on past shocks (a
    feature-dependent ``loc`` learnt negative lag-1 autocorrelations the data do not have).
    """

    #: Bound of the log-scale: exp(±8) spans any volatility ratio a market has shown.
    LOG_SCALE_BOUND = 8.0

    def __init__(self, cfg: ModelConfig, k: int, window: int) -> None:
        super().__init__()
        self.k = k
        self.noise_dim = cfg.noise_dim
        self.head = cfg.g_head
        c_out = {"linear": k, "volatility": 2 * k, "log_volatility": k}[self.head]
        self.tcn = TCN(cfg.noise_channels, cfg.g_channels, c_out, cfg.blocks, causal_pad=False,
                       negative_slope=cfg.negative_slope)
        self.shock = (nn.Linear(cfg.noise_dim, k, bias=False) if self.head != "linear"
                      else None)
        self.mu = nn.Parameter(torch.zeros(k)) if self.head == "log_volatility" else None
        #: EGARCH-style response of the next day's volatility to a shock's size (lag1_news).
        self.news = nn.Parameter(torch.zeros(k)) if cfg.lag1_news else None
        self.receptive_field = self.tcn.receptive_field

    def noise_length(self, horizon: int) -> int:
        return horizon + self.receptive_field - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.tcn(z)
        if self.shock is None:
            return out
        # The newest noise step of each output; its moving averages only steer the scale.
        shock = self.shock(z[:, self.receptive_field - 1:, : self.noise_dim])
        if self.mu is not None:
            bound = self.LOG_SCALE_BOUND
            return self.mu + torch.exp(bound * torch.tanh(out / bound)) * shock
        loc, scale = out.split(self.k, dim=-1)
        vol = F.softplus(scale)
        if self.news is not None:
            prev = self.shock(z[:, self.receptive_field - 2: -1, : self.noise_dim])
            size = prev.abs() / (self.shock.weight.norm(dim=1) + 1e-8) - math.sqrt(2 / math.pi)
            vol = vol * torch.exp(torch.tanh(self.news) * size)
        return loc + vol * shock


def _score(head: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``head(x).squeeze(1)`` for a one-output layer, as a weighted sum.

    ``nn.Linear``'s weight gradient for one output row comes out of the matrix product with
    transposed strides, which DDP then copies into its bucket with a warning on every step;
    this form yields a gradient in the parameter's own layout.
    """
    return (x * head.weight[0]).sum(dim=-1) + head.bias[0]


def trailing_sums(x: torch.Tensor, horizons: list[int]) -> list[torch.Tensor]:
    """Sums of the last ``h`` steps of ``x`` (fewer at the start), over ``sqrt(h)``, per ``h``."""
    total = F.pad(x.cumsum(dim=1), (0, 0, 1, 0))  # total[:, t] = sum of the first t steps
    length = x.shape[1]
    out = []
    for h in horizons:
        start = (torch.arange(1, length + 1, device=x.device) - h).clamp_min(0)
        out.append((total[:, 1:] - total[:, start]) / math.sqrt(h))
    return out


class TCNCritic(nn.Module):
    """Causal TCN critic: per-step scores of the window prefixes, averaged per window."""

    def __init__(self, cfg: ModelConfig, k: int, window: int) -> None:
        super().__init__()
        self.abs_input = cfg.critic_abs
        self.horizons = list(cfg.critic_horizons)
        c_in = k * (1 + len(self.horizons)) * (2 if self.abs_input else 1)
        self.tcn = TCN(c_in, cfg.d_channels, 1, cfg.blocks, causal_pad=True,
                       negative_slope=cfg.negative_slope)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Channels the TCN reads: ``x``, its trailing sums and, with ``critic_abs``, all
        their absolute values."""
        if self.horizons:
            x = torch.cat([x, *trailing_sums(x, self.horizons)], dim=-1)
        return torch.cat([x, x.abs()], dim=-1) if self.abs_input else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Mean over time of the per-step linear scores, computed as the score of the mean
        # feature (the head is linear): one small product instead of one per step.
        return _score(self.tcn.head, self.tcn.features(self.inputs(x)).mean(dim=1))


class MLPGenerator(nn.Module):
    """Classic fully connected generator: one noise vector per window of ``window`` steps.

    Paths longer than ``window`` join independent windows (like a block bootstrap), so the
    baseline keeps dependence only within a window.
    """

    def __init__(self, cfg: ModelConfig, k: int, window: int) -> None:
        super().__init__()
        self.k = k
        self.window = window
        self.noise_dim = cfg.noise_dim
        hidden, slope = cfg.mlp_hidden, cfg.negative_slope
        self.net = nn.Sequential(
            nn.Linear(cfg.noise_dim, hidden), nn.LeakyReLU(slope),
            nn.Linear(hidden, hidden), nn.LeakyReLU(slope),
            nn.Linear(hidden, window * k),
        )
        self.receptive_field = window

    def noise_length(self, horizon: int) -> int:
        return math.ceil(horizon / self.window)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, blocks, _ = z.shape
        out = self.net(z)  # (n, blocks, window * k), time-major within a block
        return out.reshape(n, blocks * self.window, self.k)


class MLPCritic(nn.Module):
    """Classic fully connected discriminator over a flattened window."""

    def __init__(self, cfg: ModelConfig, k: int, window: int) -> None:
        super().__init__()
        hidden, slope = cfg.mlp_hidden, cfg.negative_slope
        self.abs_input = cfg.critic_abs
        width = window * k * (2 if self.abs_input else 1)
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.LeakyReLU(slope),
            nn.Linear(hidden, hidden), nn.LeakyReLU(slope),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.abs_input:
            x = torch.cat([x, x.abs()], dim=-1)
        return _score(self.net[-1], self.net[:-1](x.flatten(1)))


def init_weights(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every weight from ``generator`` with PyTorch's default layer initialisation.

    Layers are built with the global RNG; drawing again from a passed-in generator makes the
    initial weights a function of the run seed alone.
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                if layer.bias is not None:
                    fan_in = layer.weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return module


def build_generator(cfg: ModelConfig, k: int, window: int,
                    generator: torch.Generator | None = None) -> nn.Module:
    """Generator for ``k`` symbols; weights drawn from ``generator`` when given."""
    cls = TCNGenerator if cfg.arch == "tcn" else MLPGenerator
    model = cls(cfg, k, window)
    return init_weights(model, generator) if generator is not None else model


def build_critic(cfg: ModelConfig, k: int, window: int,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Critic (discriminator) of windows of ``window`` steps of ``k`` symbols."""
    cls = TCNCritic if cfg.arch == "tcn" else MLPCritic
    model = cls(cfg, k, window)
    return init_weights(model, generator) if generator is not None else model


def draw_noise(n: int, noise_dim: int, length: int, cfg: ModelConfig,
               generator: torch.Generator, device: torch.device | str | None = None
               ) -> torch.Tensor:
    """Generator input ``(n, length, cfg.noise_channels)`` drawn from ``generator``.

    The first ``noise_dim`` channels are i.i.d. noise, of which the last ``cfg.t_channels``
    are Student-t, ``z / sqrt(chi2_df / df)`` with the chi-square built from ``df`` squared
    normals: exact for integer ``df`` and reproducible from the seeded generator. For each
    half-life ``h`` of ``cfg.noise_halflives`` follow ``noise_dim`` channels
    ``m_t = phi m_{t-1} + sqrt(1 - phi^2) z_t`` with ``phi = 2^(-1/h)`` whose state before
    the first step is an independent N(0, 1) draw, so every channel has unit variance and
    the input is stationary from its first step.
    """
    device = device if device is not None else generator.device
    shape = (n, length, noise_dim)
    z = torch.randn(shape, generator=generator, device=device)
    m = min(cfg.t_channels, noise_dim)
    # Student-t has variance df / (df - 2); the averages get unit variance either way.
    scale = torch.ones(noise_dim, device=device)
    if m:
        df = cfg.noise_df
        chi2 = torch.randn((df, n, length, m), generator=generator, device=device).square().sum(0)
        z = torch.cat([z[..., : noise_dim - m], z[..., noise_dim - m:] * torch.rsqrt(chi2 / df)],
                      dim=-1)
        if df > 2:
            scale[noise_dim - m:] = math.sqrt((df - 2) / df)
    if not cfg.noise_halflives:
        return z
    return torch.cat([z, *_moving_averages(z * scale, cfg.noise_halflives, generator)], dim=-1)


#: Time steps per matrix product of the moving-average scan.
SCAN_CHUNK = 64


def _moving_averages(zs: torch.Tensor, halflives: list[float], generator: torch.Generator
                     ) -> list[torch.Tensor]:
    """Stationary unit-variance AR(1) filters of ``zs`` along time, one per half-life.

    A chunked scan: within a chunk of :data:`SCAN_CHUNK` steps the filter is one matrix
    product with the lower-triangular matrix ``gain * phi^(t-s)``, and the state at the end of
    a chunk carries into the next, so a path costs a few large products instead of one small
    kernel per time step (3.7x slower at the training size on a CPU, and one launch per step
    on a GPU).
    """
    n, length, d = zs.shape
    t = torch.arange(SCAN_CHUNK, dtype=torch.float64)
    lag = t[None, :] - t[:, None]  # [s, t]: t - s
    zt = zs.transpose(1, 2).reshape(n * d, length)  # one row per (path, channel)
    out = []
    for h in halflives:
        phi = 0.5 ** (1.0 / h)
        gain = math.sqrt(1.0 - phi * phi)
        weights = torch.where(lag >= 0, gain * phi ** lag.clamp_min(0), 0.0)
        weights = weights.to(device=zs.device, dtype=zs.dtype)
        decay = (phi ** (t + 1)).to(device=zs.device, dtype=zs.dtype)
        state = torch.randn((n, d), generator=generator, device=zs.device, dtype=zs.dtype)
        state = state.reshape(n * d, 1)
        pieces = []
        for start in range(0, length, SCAN_CHUNK):
            chunk = zt[:, start:start + SCAN_CHUNK]
            b = chunk.shape[1]
            x = chunk @ weights[:b, :b] + state * decay[:b]
            state = x[:, -1:]
            pieces.append(x)
        out.append(torch.cat(pieces, dim=1).reshape(n, d, length).transpose(1, 2))
    return out
