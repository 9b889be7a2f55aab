"""The plain eager PyTorch reference the presets are timed against: a QuantGAN-style TCN GAN.

This is what a straightforward implementation of QuantGAN (Wiese et al. 2020) in PyTorch looks
like, sized like the ``gpu`` preset (channels, blocks, window, noise channels, batch, Adam
settings and ``n_critic`` all read from ``resolve_config("gpu")``):

- channels-first ``(n, channels, time)`` tensors and ``nn.Conv1d`` (kernel 2, dilations
  ``1, 2, ..., 32``), PReLU activations, residual ``1x1`` convolutions where the channel count
  changes, skip connections summed into a ``1x1`` read-out, as in QuantGAN's temporal blocks;
- fp32 everywhere, eager mode, ``torch.optim.Adam`` with its default (for-each, not fused)
  implementation;
- WGAN-GP as usually written: the critic scores real and generated windows in separate
  forwards, the gradient penalty takes a third forward over the interpolates, then one
  generator update after ``n_critic`` critic updates;
- training windows sampled on the host with NumPy and copied to the device every critic step,
  noise drawn on the device, the step's losses read back with ``.item()`` for the log.

No deliberate slowness: no weight norm, no dropout, no per-sample Python loops. The same
modules, built with ``activation="leaky"`` and the optional ``volatility`` head and ``|r|``
critic input, compute exactly what ``ganjobs.model.networks`` computes, which
``tests/test_reference.py`` checks by copying weights across (:func:`from_ganjobs`).

``samples/s`` counts generated training windows per second, one batch per step, as
``bench.bench_train`` does for the presets.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _act(kind: str, slope: float) -> nn.Module:
    # QuantGAN: PReLU (one learnt slope per layer); "leaky" mirrors ganjobs' fixed slope.
    return nn.PReLU() if kind == "prelu" else nn.LeakyReLU(slope)


class RefBlock(nn.Module):
    """Two kernel-2 dilated ``Conv1d`` with activations, a residual and a skip output."""

    def __init__(self, c_in: int, c_hidden: int, dilation: int, causal_pad: bool,
                 activation: str, slope: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.causal_pad = causal_pad
        self.conv1 = nn.Conv1d(c_in, c_hidden, kernel_size=2, dilation=dilation)
        self.act1 = _act(activation, slope)
        self.conv2 = nn.Conv1d(c_hidden, c_hidden, kernel_size=2, dilation=dilation)
        self.act2 = _act(activation, slope)
        self.down = nn.Conv1d(c_in, c_hidden, kernel_size=1) if c_in != c_hidden else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.dilation
        pad = (lambda v: F.pad(v, (d, 0))) if self.causal_pad else (lambda v: v)
        h = self.act1(self.conv1(pad(x)))
        h = self.act2(self.conv2(pad(h)))
        res = x if self.down is None else self.down(x)
        if not self.causal_pad:
            res = res[:, :, 2 * d:]
        return h + res, h


class RefTCN(nn.Module):
    """Blocks with dilations ``1, 2, 4, ...``; activated sum of skips; ``1x1`` read-out."""

    def __init__(self, c_in: int, c_hidden: int, c_out: int, blocks: int, causal_pad: bool,
                 activation: str = "prelu", slope: float = 0.2) -> None:
        super().__init__()
        self.causal_pad = causal_pad
        self.blocks = nn.ModuleList(
            RefBlock(c_in if i == 0 else c_hidden, c_hidden, 2**i, causal_pad, activation,
                     slope)
            for i in range(blocks))
        self.act = _act(activation, slope)
        self.head = nn.Conv1d(c_hidden, c_out, kernel_size=1)
        self.receptive_field = 1 + 2 * (2**blocks - 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1] if self.causal_pad else x.shape[-1] - self.receptive_field + 1
        total = 0
        for block in self.blocks:
            x, skip = block(x)
            total = total + skip[:, :, skip.shape[-1] - length:]
        return self.act(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class RefGenerator(nn.Module):
    """Noise ``(n, noise_dim, window + rf - 1)`` to paths ``(n, k, window)``, channels-first.

    ``head="linear"`` is QuantGAN's read-out; ``"volatility"`` mirrors ganjobs' head
    ``loc + softplus(scale) * shock(z_t)``.
    """

    def __init__(self, noise_dim: int, channels: int, k: int, blocks: int,
                 activation: str = "prelu", slope: float = 0.2, head: str = "linear") -> None:
        super().__init__()
        self.k = k
        self.volatility = head == "volatility"
        self.tcn = RefTCN(noise_dim, channels, 2 * k if self.volatility else k, blocks,
                          causal_pad=False, activation=activation, slope=slope)
        self.shock = (nn.Conv1d(noise_dim, k, kernel_size=1, bias=False)
                      if self.volatility else None)
        self.receptive_field = self.tcn.receptive_field

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.tcn(z)
        if self.shock is None:
            return out
        loc, scale = out.split(self.k, dim=1)
        return loc + F.softplus(scale) * self.shock(z[:, :, self.receptive_field - 1:])


class RefCritic(nn.Module):
    """Causal TCN critic of windows ``(n, k, window)``: mean over time of per-step scores."""

    def __init__(self, k: int, channels: int, blocks: int, activation: str = "prelu",
                 slope: float = 0.2, abs_input: bool = False) -> None:
        super().__init__()
        self.abs_input = abs_input
        self.tcn = RefTCN(2 * k if abs_input else k, channels, 1, blocks, causal_pad=True,
                          activation=activation, slope=slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.abs_input:
            x = torch.cat([x, x.abs()], dim=1)
        return self.tcn(x).mean(dim=(1, 2))


# --- weights from ganjobs' channels-last modules --------------------------------------------

def _copy_dilated(conv: nn.Conv1d, linear: nn.Linear) -> None:
    c_in = conv.in_channels
    w = linear.weight  # (c_out, 2 c_in): [tap at t - d, tap at t]
    conv.weight.copy_(torch.stack([w[:, :c_in], w[:, c_in:]], dim=-1))
    conv.bias.copy_(linear.bias)


def _copy_pointwise(conv: nn.Conv1d, linear: nn.Linear) -> None:
    conv.weight.copy_(linear.weight[:, :, None])
    if linear.bias is not None:
        conv.bias.copy_(linear.bias)


def _copy_tcn(ref: RefTCN, tcn: nn.Module) -> None:
    for rb, gb in zip(ref.blocks, tcn.blocks, strict=True):
        _copy_dilated(rb.conv1, gb.conv1.linear)
        _copy_dilated(rb.conv2, gb.conv2.linear)
        if gb.down is not None:
            _copy_pointwise(rb.down, gb.down)
    _copy_pointwise(ref.head, tcn.head)


def from_ganjobs(model: nn.Module) -> nn.Module:
    """The ``Conv1d`` twin of a ganjobs ``TCNGenerator`` or ``TCNCritic``, same weights.

    Built with ganjobs' LeakyReLU slope and heads, so it computes the same function in the
    channels-first layout (inputs and outputs transposed).
    """
    from ganjobs.model.networks import TCNCritic, TCNGenerator

    tcn = model.tcn
    blocks = len(tcn.blocks)
    c_in = tcn.blocks[0].conv1.linear.in_features // 2
    hidden = tcn.head.in_features
    slope = tcn.negative_slope
    with torch.no_grad():
        if isinstance(model, TCNGenerator):
            if model.head == "log_volatility" or c_in != model.noise_dim:
                raise TypeError("the reference mirrors the linear and volatility heads on "
                                "plain noise (noise_halflives=[])")
            ref = RefGenerator(c_in, hidden, model.k, blocks, "leaky", slope, model.head)
            if model.shock is not None:
                _copy_pointwise(ref.shock, model.shock)
        elif isinstance(model, TCNCritic):
            if model.horizons:
                raise TypeError("the reference mirrors the critic of r (and |r|) only "
                                "(critic_horizons=[])")
            k = c_in // 2 if model.abs_input else c_in
            ref = RefCritic(k, hidden, blocks, "leaky", slope, model.abs_input)
        else:
            raise TypeError(f"not a ganjobs TCN model: {type(model).__name__}")
        _copy_tcn(ref.tcn, tcn)
    return ref


# --- the plain training step ----------------------------------------------------------------

class ReferenceGAN:
    """QuantGAN-style WGAN-GP training in plain eager fp32 PyTorch, ``gpu``-preset sized."""

    def __init__(self, data: np.ndarray, device: torch.device | str, batch: int | None = None,
                 seed: int = 0, preset: str = "gpu", channels: int | None = None,
                 window: int | None = None) -> None:
        from ganjobs.config import resolve_config

        cfg = resolve_config(preset)
        self.device = torch.device(device)
        self.data = np.asarray(data, dtype=np.float32)  # (T, k), stays on the host
        self.k = self.data.shape[1]
        self.window = window or cfg.data.window
        self.batch = batch or cfg.train.batch_size
        self.noise_dim = cfg.model.noise_dim
        self.n_critic = cfg.optim.n_critic
        self.gp_weight = float(cfg.loss.gp_weight)  # wgan-gp: 10
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        m = cfg.model
        self.G = RefGenerator(m.noise_dim, channels or m.g_channels, self.k,
                              m.blocks).to(self.device)
        self.D = RefCritic(self.k, channels or m.d_channels, m.blocks).to(self.device)
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.optim.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.optim.lr_d, betas=betas)
        self.noise_len = self.window + self.G.receptive_field - 1
        self.history: list[tuple[float, float]] = []

    def real_batch(self) -> torch.Tensor:
        starts = self.rng.integers(0, len(self.data) - self.window + 1, size=self.batch)
        windows = self.data[starts[:, None] + np.arange(self.window)]  # (n, window, k)
        return torch.from_numpy(windows).permute(0, 2, 1).to(self.device)  # (n, k, window)

    def noise(self) -> torch.Tensor:
        return torch.randn(self.batch, self.noise_dim, self.noise_len, device=self.device)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        eps = torch.rand(real.shape[0], 1, 1, device=self.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        scores = self.D(mixed)
        (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
        return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    def step(self) -> tuple[float, float]:
        for _ in range(self.n_critic):
            real = self.real_batch()
            with torch.no_grad():
                fake = self.G(self.noise())
            self.opt_d.zero_grad()
            loss_d = (self.D(fake).mean() - self.D(real).mean()
                      + self.gp_weight * self.gradient_penalty(real, fake))
            loss_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = -self.D(self.G(self.noise())).mean()
        loss_g.backward()
        self.opt_g.step()
        out = (loss_d.item(), loss_g.item())
        self.history.append(out)
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_step_rate(batch: int, steps: int, device: torch.device | str,
                        data: np.ndarray | None = None, warmup: int = 1,
                        seed: int = 0) -> float:
    """Samples/s (``batch`` windows per generator step) of the plain reference step.

    ``warmup`` untimed steps come first (cuDNN/allocator warm-up); ``steps`` are timed.
    """
    if data is None:
        data = np.random.default_rng(seed).standard_t(4, size=(4500, 3)).astype(np.float32)
    gan = ReferenceGAN(data, device, batch=batch, seed=seed)
    for _ in range(warmup):
        gan.step()
    _sync(gan.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        gan.step()
    _sync(gan.device)
    return batch * steps / (time.perf_counter() - t0)
