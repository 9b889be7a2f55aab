"""Adversarial losses: critic (D) and generator (G) objectives, and the gradient penalty.

All functions take raw critic scores (logits for ``bce``) and return a scalar to minimise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

LOSS_KINDS = ("bce", "wgan-gp", "hinge")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss from the scores of real and generated windows (penalty not included).

    Parameters
    ----------
    kind : {"bce", "wgan-gp", "hinge"}
    real, fake : Tensor, shape (n,)
        Critic scores.
    """
    real, fake = real.float(), fake.float()
    if kind == "bce":
        # -log sigmoid(real) - log(1 - sigmoid(fake)), in the stable softplus form.
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown loss kind {kind!r}; choose one of {', '.join(LOSS_KINDS)}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the critic's scores of generated windows.

    ``bce`` uses the non-saturating form ``-log sigmoid(D(G(z)))``, which keeps gradients
    alive while the discriminator still wins easily (Goodfellow et al. 2014).
    """
    fake = fake.float()
    if kind == "bce":
        return F.softplus(-fake).mean()
    if kind in ("wgan-gp", "hinge"):
        return -fake.mean()
    raise ValueError(f"unknown loss kind {kind!r}; choose one of {', '.join(LOSS_KINDS)}")


def gradient_penalty(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Two-sided penalty ``mean((||grad_x D(x)|| - 1)^2)`` at the points ``inputs``.

    ``scores`` must come from a forward pass over ``inputs`` (which requires grad); the
    penalty keeps the graph (``create_graph``) so its gradient reaches the critic's weights.
    Only gradients with respect to the inputs are taken here, never with respect to the
    parameters, so a DDP-wrapped critic synchronises its weight gradients exactly once, in
    the later ``backward`` of the total loss.
    """
    (grads,) = torch.autograd.grad(scores.float().sum(), inputs, create_graph=True)
    norms = grads.float().flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """Random points on the segments between real and generated windows (WGAN-GP)."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator,
                     device=real.device, dtype=real.dtype)
    return (eps * real + (1.0 - eps) * fake).requires_grad_(True)


def critic_objective(critic: torch.nn.Module, kind: str, gp_weight: float, real: torch.Tensor,
                     fake: torch.Tensor, mixed: torch.Tensor | None = None,
                     wrt: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The critic's loss and its ``gp`` term from one forward over real, fake and (with a
    penalty) the interpolates ``mixed``: a DDP module must see one forward per backward.

    The penalty is taken with respect to ``wrt`` (the part of ``mixed`` that was
    interpolated; ``mixed`` itself when not given).
    """
    batch = real.shape[0]
    if mixed is not None:
        s_real, s_fake, s_mixed = critic(torch.cat([real, fake, mixed])).split(batch)
        gp = gradient_penalty(s_mixed, mixed if wrt is None else wrt)
        return d_loss(kind, s_real, s_fake) + gp_weight * gp, {"gp": gp}
    s_real, s_fake = critic(torch.cat([real, fake])).split(batch)
    return d_loss(kind, s_real, s_fake), {"gp": torch.zeros((), device=real.device)}


def loss_fns(kind: str) -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """``(d_loss, g_loss)`` bound to ``kind``; refuses unknown kinds at once."""
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind!r}; choose one of {', '.join(LOSS_KINDS)}")
    return (lambda real, fake: d_loss(kind, real, fake)), (lambda fake: g_loss(kind, fake))
