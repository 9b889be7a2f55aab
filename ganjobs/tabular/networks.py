"""Generator and critic of the table model (CTGAN's shapes, written here).

The generator maps noise and the conditional vector through residual layers (each layer's
output is concatenated to its input) to one row in the transformed space: ``tanh`` for the
scalar of each continuous column, Gumbel-softmax for each one-hot span (mixture modes,
categories, the missing slot). The critic reads ``pac`` rows with their conditional vectors
at once (PacGAN), with LeakyReLU layers and no normalisation (a critic under a gradient
penalty, or under per-sample clipping, must treat each sample on its own).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: ``(kind, start, width)`` of each output span, ``kind`` in {"tanh", "softmax"}.
SpanLayout = Sequence[tuple[str, int, int]]


class Residual(nn.Module):
    """``[x, relu(bn(linear(x)))]``: the input goes on next to what the layer adds."""

    def __init__(self, width_in: int, width_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width_in, width_out)
        self.bn = nn.BatchNorm1d(width_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, F.relu(self.bn(self.fc(x)))], dim=1)


class TableGenerator(nn.Module):
    """``(noise, cond) -> logits`` of one row; :meth:`activate` turns them into a row."""

    def __init__(self, noise_dim: int, cond_dim: int, hidden: Sequence[int],
                 spans: SpanLayout, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = noise_dim + cond_dim
        for h in hidden:
            layers.append(Residual(size, h))
            size += h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(size, width)
        self.spans = [(str(k), int(s), int(w)) for k, s, w in spans]
        self.noise_dim = noise_dim

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([noise, cond], dim=1)))

    def activate(self, logits: torch.Tensor, tau: float,
                 gumbel: torch.Tensor | None) -> torch.Tensor:
        """Rows from logits: ``tanh`` scalars, softmax spans with Gumbel noise ``gumbel``
        (drawn by the caller from its own generator; ``None``: plain softmax)."""
        parts = []
        for kind, start, width in self.spans:
            x = logits[:, start:start + width]
            if kind == "tanh":
                parts.append(torch.tanh(x))
            else:
                if gumbel is not None:
                    x = x + gumbel[:, start:start + width]
                parts.append(F.softmax(x / tau, dim=1))
        return torch.cat(parts, dim=1)


class TableCritic(nn.Module):
    """Scores packs of ``pac`` rows (each with its conditional vector)."""

    def __init__(self, row_dim: int, hidden: Sequence[int], pac: int,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = row_dim * pac
        for h in hidden:
            layers += [nn.Linear(size, h), nn.LeakyReLU(negative_slope)]
            size = h
        layers.append(nn.Linear(size, 1))
        self.net = nn.Sequential(*layers)
        self.pac = pac
        self.row_dim = row_dim

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows (n, row_dim)`` with ``n`` a multiple of ``pac`` -> scores ``(n / pac,)``."""
        return self.net(rows.reshape(-1, self.row_dim * self.pac)).squeeze(1)


def gumbel_noise(shape: tuple[int, int], rng: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """Standard Gumbel draws ``-log(-log U)`` from ``rng``."""
    u = torch.rand(shape, generator=rng, device=device).clamp_(1e-10, 1.0 - 1e-10)
    return -torch.log(-torch.log(u))
