"""The fast channels-last models compute what the plain ``nn.Conv1d`` reference computes.

``bench/reference_tcn.py`` is the eager PyTorch baseline of the training benchmark (issue #12).
Built with ganjobs' activations and heads and given ganjobs' weights, it must agree with
``ganjobs.model.networks`` on outputs, on weight gradients, and on the WGAN-GP penalty's double
backward; the fast training step and the reference step must both run on gpu-preset shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.reference_tcn import ReferenceGAN, from_ganjobs
from ganjobs.config import resolve_config
from ganjobs.model.losses import gradient_penalty
from ganjobs.model.networks import build_critic, build_generator
from ganjobs.train.loop import train_loop_per_worker

K, WINDOW, BATCH = 3, 24, 2
TOL = {"rtol": 1e-4, "atol": 1e-5}
# Gradients are compared in float64: in float32 the two layouts round differently (~1e-7),
# and a LeakyReLU pre-activation that close to 0 (one in ~1e5 here) flips its slope in one
# model only, which moves the penalty's input gradient by ~1e-4. In float64 the models agree
# to ~1e-17; ganjobs' penalty takes its norms in float32, hence 1e-5.
TOL64 = {"rtol": 1e-5, "atol": 1e-9}


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _model_cfg(**overrides):
    # The gpu preset's architecture (80 channels, 6 blocks, 8 noise channels).
    # The reference is the plain QuantGAN operator: no moving-average noise channels and
    # no trailing sums in the critic.
    return resolve_config("gpu", noise_halflives=[], critic_horizons=[], lag1_news=False,
                          **overrides).model


def _grad_pairs(ref_tcn: nn.Module, tcn: nn.Module):
    """(reference gradient, ganjobs gradient in the reference's layout) for every weight."""
    def dilated(conv, linear):
        c_in = conv.in_channels
        w = linear.weight.grad
        yield conv.weight.grad, torch.stack([w[:, :c_in], w[:, c_in:]], dim=-1)
        yield conv.bias.grad, linear.bias.grad

    def pointwise(conv, linear):
        yield conv.weight.grad, linear.weight.grad[:, :, None]
        if linear.bias is not None:
            yield conv.bias.grad, linear.bias.grad

    for rb, gb in zip(ref_tcn.blocks, tcn.blocks, strict=True):
        yield from dilated(rb.conv1, gb.conv1.linear)
        yield from dilated(rb.conv2, gb.conv2.linear)
        if gb.down is not None:
            yield from pointwise(rb.down, gb.down)
    yield from pointwise(ref_tcn.head, tcn.head)


def _assert_grads_match(ref: nn.Module, ours: nn.Module) -> None:
    pairs = list(_grad_pairs(ref.tcn, ours.tcn))
    if getattr(ours, "shock", None) is not None:
        pairs.append((ref.shock.weight.grad, ours.shock.weight.grad[:, :, None]))
    n_ref = sum(1 for p in ref.parameters() if p.requires_grad)
    assert len(pairs) == n_ref  # every reference parameter is compared
    for got, want in pairs:
        assert got is not None and want is not None
        torch.testing.assert_close(got, want, **TOL64)
    assert sum(int((want != 0).sum()) for _, want in pairs) > 0.9 * sum(
        want.numel() for _, want in pairs)  # not vacuous: gradients reach nearly everything


@pytest.mark.parametrize("head", ["linear", "volatility"])
def test_generator_matches_conv1d_reference(head):
    cfg = _model_cfg(g_head=head)
    ours = build_generator(cfg, K, WINDOW, _gen(0))
    ref = from_ganjobs(ours)
    z = torch.randn(BATCH, ours.noise_length(WINDOW), cfg.noise_dim, generator=_gen(1))
    out = ours(z)
    assert out.shape == (BATCH, WINDOW, K)
    torch.testing.assert_close(ref(z.transpose(1, 2)).transpose(1, 2), out, **TOL)
    ours, ref, z = ours.double(), ref.double(), z.double()
    out, out_ref = ours(z), ref(z.transpose(1, 2)).transpose(1, 2)
    weights = torch.randn(out.shape, generator=_gen(2), dtype=torch.float64)
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    _assert_grads_match(ref, ours)


@pytest.mark.parametrize("critic_abs", [False, True])
def test_critic_and_gradient_penalty_match_conv1d_reference(critic_abs):
    cfg = _model_cfg(critic_abs=critic_abs)
    ours = build_critic(cfg, K, WINDOW, _gen(0))
    ref = from_ganjobs(ours)
    real = torch.randn(BATCH, WINDOW, K, generator=_gen(1))
    torch.testing.assert_close(ref(real.transpose(1, 2)), ours(real), **TOL)
    ours, ref, real = ours.double(), ref.double(), real.double()
    mixed = torch.randn(BATCH, WINDOW, K, generator=_gen(2), dtype=torch.float64)
    mixed.requires_grad_(True)
    mixed_ref = mixed.detach().transpose(1, 2).clone().requires_grad_(True)
    # The critic's training loss as in Trainer.train_step: scores plus the gradient penalty,
    # whose backward is a double backward through every layer.
    loss = ours(real).mean() - ours(mixed).mean() + 10 * gradient_penalty(ours(mixed), mixed)
    s_ref = ref(mixed_ref)
    (g_ref,) = torch.autograd.grad(s_ref.sum(), mixed_ref, create_graph=True)
    gp_ref = ((g_ref.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    loss_ref = ref(real.transpose(1, 2)).mean() - s_ref.mean() + 10 * gp_ref
    torch.testing.assert_close(loss_ref, loss, **TOL64)
    loss.backward()
    loss_ref.backward()
    _assert_grads_match(ref, ours)


def _small_gpu_cfg(**overrides):
    # gpu preset (6 blocks, noise 8, volatility head, |r| critic) scaled down for a CPU.
    return resolve_config("gpu", window=32, g_channels=16, d_channels=16, batch_size=8,
                          steps=2, checkpoint_every=2, log_every=1, gpu=False, **overrides)


def test_fast_training_step_runs_on_cpu_with_gpu_preset_shapes():
    data = np.random.default_rng(0).standard_t(4, size=(600, K)).astype(np.float32)
    out = train_loop_per_worker({"gan": _small_gpu_cfg().model_dump(), "data": data,
                                 "device": "cpu", "threads": 1})
    assert out["step"] == 2
    for report in out["history"]:
        assert all(np.isfinite(report[key]) for key in ("d_loss", "g_loss", "gp"))


def test_reference_step_runs_on_cpu_and_losses_are_finite():
    data = np.random.default_rng(0).standard_t(4, size=(600, K)).astype(np.float32)
    gan = ReferenceGAN(data, "cpu", batch=4, channels=8, window=16)  # gpu preset, smaller
    before = [p.detach().clone() for p in gan.G.parameters()]
    loss_d, loss_g = gan.step()
    assert np.isfinite(loss_d) and np.isfinite(loss_g)
    assert gan.real_batch().shape == (4, K, 16)
    assert any(not torch.equal(a, b) for a, b in zip(before, gan.G.parameters(), strict=True))
