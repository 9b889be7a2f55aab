"""Generators, critics and losses: shapes, causality, receptive field, reference equivalence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ganjobs.config import resolve_config
from ganjobs.model.losses import d_loss, g_loss, gradient_penalty, interpolate
from ganjobs.model.networks import (
    DilatedConv,
    build_critic,
    build_generator,
    draw_noise,
    init_weights,
)
from ganjobs.train.weights import state_hash


def _gen(seed: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_tcn_generator_receptive_field_and_any_length():
    cfg = resolve_config("default").model
    g_model = build_generator(cfg, k=3, window=64, generator=_gen())
    assert g_model.receptive_field == 127  # QuantGAN: dilations 1..32, two kernel-2 convs each
    for horizon in (1, 64, 300):
        z = draw_noise(2, cfg.noise_dim, g_model.noise_length(horizon), cfg, _gen(1))
        assert g_model(z).shape == (2, horizon, 3)


@pytest.mark.parametrize("head", ["linear", "volatility"])
def test_tcn_generator_is_causal_with_full_receptive_field(head):
    cfg = resolve_config("tiny", g_head=head).model
    g_model = build_generator(cfg, k=2, window=16, generator=_gen())
    horizon = 40
    rf = g_model.receptive_field
    z = draw_noise(1, cfg.noise_dim, g_model.noise_length(horizon), cfg, _gen(1))
    base = g_model(z)
    p = 150  # perturb one noise step: output j reads noise j .. j + rf - 1
    z2 = z.clone()
    z2[0, p] += 1.0
    changed = (g_model(z2) - base).abs().sum(-1)[0] > 0
    expected = torch.zeros(horizon, dtype=torch.bool)
    expected[max(0, p - rf + 1): p + 1] = True
    assert torch.equal(changed, expected)


@pytest.mark.parametrize("critic_abs", [False, True])
def test_tcn_critic_is_causal_per_step_and_scores_each_window(critic_abs):
    cfg = resolve_config("tiny", critic_abs=critic_abs).model
    critic = build_critic(cfg, k=3, window=16, generator=_gen())
    x = torch.randn(5, 16, 3, generator=_gen(2))
    assert critic(x).shape == (5,)
    # Causal padding: features at step t never read later steps.
    def features(v: torch.Tensor) -> torch.Tensor:
        return critic.tcn.features(critic.inputs(v))

    x2 = x.clone()
    x2[:, 10] += 1.0
    diff = (features(x2) - features(x)).abs().sum(dim=(0, 2))
    assert torch.all(diff[:10] == 0) and torch.all(diff[10:] > 0)


@pytest.mark.parametrize("arch, head", [("tcn", "linear"), ("tcn", "volatility"),
                                        ("mlp", "linear")])
def test_no_batchnorm_in_critic_or_generator(arch, head):
    cfg = resolve_config("tiny", arch=arch, g_head=head,
                         noise_halflives=[] if arch == "mlp" else [5.0],
                         critic_horizons=[] if arch == "mlp" else [3]).model
    for model in (build_critic(cfg, 3, 16), build_generator(cfg, 3, 16)):
        norms = [m for m in model.modules()
                 if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm,
                                   nn.LayerNorm, nn.InstanceNorm1d))]
        assert not norms
        assert not list(model.buffers())  # nothing for DDP to broadcast


def test_volatility_head_scales_the_current_noise():
    """loc + softplus(scale) * M z_t: zero current-step noise leaves only the location."""
    cfg = resolve_config("tiny", g_head="volatility").model
    g_model = build_generator(cfg, k=3, window=16, generator=_gen())
    z = draw_noise(4, cfg.noise_dim, g_model.noise_length(20), cfg, _gen(1))
    out = g_model(z)
    loc, scale = g_model.tcn(z).split(3, dim=-1)
    current = z[:, g_model.receptive_field - 1:, : cfg.noise_dim]
    torch.testing.assert_close(out, loc + nn.functional.softplus(scale) * g_model.shock(current))


@pytest.mark.parametrize("critic_abs", [False, True])
def test_mlp_generator_joins_windows_for_long_paths(critic_abs):
    cfg = resolve_config("tiny", arch="mlp", critic_abs=critic_abs, noise_halflives=[],
                         critic_horizons=[]).model
    g_model = build_generator(cfg, k=3, window=16, generator=_gen())
    z = draw_noise(4, cfg.noise_dim, g_model.noise_length(40), cfg, _gen(1))
    assert z.shape == (4, 3, cfg.noise_dim)
    assert g_model(z)[:, :40].shape == (4, 40, 3)
    critic = build_critic(cfg, k=3, window=16, generator=_gen())
    assert critic(torch.randn(4, 16, 3)).shape == (4,)


@pytest.mark.parametrize("dilation", [1, 4, 32])
@pytest.mark.parametrize("causal_pad", [False, True])
def test_dilated_conv_matches_conv1d(dilation, causal_pad):
    """The matrix-product form computes exactly what nn.Conv1d does."""
    c_in, c_out, length = 5, 7, 80
    ours = init_weights(DilatedConv(c_in, c_out, dilation, causal_pad), _gen(3))
    ref = nn.Conv1d(c_in, c_out, kernel_size=2, dilation=dilation)
    with torch.no_grad():
        w = ours.linear.weight  # (c_out, 2 c_in): [tap at t - d, tap at t]
        ref.weight.copy_(torch.stack([w[:, :c_in], w[:, c_in:]], dim=-1))
        ref.bias.copy_(ours.linear.bias)
    x = torch.randn(3, length, c_in, generator=_gen(4))
    xc = x.transpose(1, 2)
    if causal_pad:
        xc = nn.functional.pad(xc, (dilation, 0))
    expected = ref(xc).transpose(1, 2)
    torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)


def test_weights_come_from_the_passed_generator():
    cfg = resolve_config("tiny").model
    a = build_generator(cfg, 3, 16, generator=_gen(7))
    b = build_generator(cfg, 3, 16, generator=_gen(7))
    c = build_generator(cfg, 3, 16, generator=_gen(8))
    assert state_hash(a) == state_hash(b) != state_hash(c)


def test_student_t_noise_is_heavy_tailed_and_reproducible():
    cfg = resolve_config("tiny", noise="student_t", noise_df=4).model
    z1 = draw_noise(2000, 1, 50, cfg, _gen(5))
    z2 = draw_noise(2000, 1, 50, cfg, _gen(5))
    assert torch.equal(z1, z2)
    normal = draw_noise(2000, 1, 50, resolve_config("tiny").model, _gen(5))
    assert stats.kurtosis(z1.flatten().numpy()) > 3.0  # t(4): infinite excess kurtosis
    assert abs(stats.kurtosis(normal.flatten().numpy())) < 0.1


def test_student_t_noise_on_some_channels_only():
    """``noise_t_channels`` makes the last channels Student-t and leaves the others normal;
    ``None`` (all of them) draws exactly what all-t noise drew before the field existed."""
    from ganjobs.errors import GanjobsError

    mixed = resolve_config("tiny", noise_dim=4, noise="student_t", noise_df=4,
                           noise_t_channels=2, noise_halflives=[10.0]).model
    z = draw_noise(4000, 4, 50, mixed, _gen(5))
    assert z.shape == (4000, 50, 8)
    kurt = stats.kurtosis(z[..., :4].reshape(-1, 4).numpy(), axis=0)
    assert np.all(np.abs(kurt[:2]) < 0.1) and np.all(kurt[2:] > 3.0)
    averages = z[..., 4:].reshape(-1, 4).numpy()
    np.testing.assert_allclose(averages.std(axis=0), 1.0, atol=0.05)  # unit variance, t or not
    every = resolve_config("tiny", noise="student_t", noise_df=4).model
    explicit = resolve_config("tiny", noise="student_t", noise_df=4,
                              noise_t_channels=every.noise_dim).model
    assert torch.equal(draw_noise(50, every.noise_dim, 20, every, _gen(2)),
                       draw_noise(50, every.noise_dim, 20, explicit, _gen(2)))
    with pytest.raises(GanjobsError, match="noise_t_channels"):
        resolve_config("tiny", noise_t_channels=1)  # normal noise
    with pytest.raises(GanjobsError, match="noise_t_channels"):
        resolve_config("tiny", noise="student_t", noise_dim=2, noise_t_channels=3)


def test_losses_on_known_scores():
    real = torch.tensor([2.0, 0.0])
    fake = torch.tensor([-1.0, 1.0])
    sp = nn.functional.softplus
    torch.testing.assert_close(d_loss("bce", real, fake),
                               sp(-real).mean() + sp(fake).mean())
    torch.testing.assert_close(g_loss("bce", fake), sp(-fake).mean())
    torch.testing.assert_close(d_loss("wgan-gp", real, fake), torch.tensor(-1.0))
    torch.testing.assert_close(g_loss("wgan-gp", fake), torch.tensor(0.0))
    torch.testing.assert_close(d_loss("hinge", real, fake), torch.tensor(1.5))
    torch.testing.assert_close(g_loss("hinge", fake), torch.tensor(0.0))
    with pytest.raises(ValueError):
        d_loss("nope", real, fake)


def test_gradient_penalty_zero_for_unit_gradient_critic():
    u = torch.randn(10, 3, generator=_gen(1))
    u = u / u.norm()
    real, fake = torch.randn(4, 10, 3), torch.randn(4, 10, 3)
    mixed = interpolate(real, fake, _gen(2))
    scores = (mixed * u).sum(dim=(1, 2))  # gradient u everywhere, norm 1
    assert float(gradient_penalty(scores, mixed)) == pytest.approx(0.0, abs=1e-10)
    scores2 = (mixed * 3 * u).sum(dim=(1, 2))  # norm 3: penalty (3 - 1)^2
    assert float(gradient_penalty(scores2, mixed)) == pytest.approx(4.0, rel=1e-5)
    assert np.all((mixed.detach() - fake).abs().numpy() <= (real - fake).abs().numpy() + 1e-6)


def test_noise_moving_averages_are_stationary_unit_variance_ar1():
    """Each half-life h adds AR(1) copies of the noise with lag-h autocorrelation 1/2,
    unit variance from the first step on; the plain noise channels are unchanged."""
    cfg = resolve_config("tiny", noise_halflives=[5.0, 40.0]).model
    d = cfg.noise_dim
    z = draw_noise(4000, d, 120, cfg, _gen(3))
    assert z.shape == (4000, 120, cfg.noise_channels) and cfg.noise_channels == 3 * d
    plain = resolve_config("tiny", noise_halflives=[]).model
    assert torch.equal(z[..., :d], draw_noise(4000, d, 120, plain, _gen(3)))
    assert torch.equal(z, draw_noise(4000, d, 120, cfg, _gen(3)))
    for i, h in enumerate((5, 40)):
        m = z[..., d * (i + 1): d * (i + 2)].double()
        var = m.var(dim=0)
        assert torch.all((var[0] - 1).abs() < 0.08) and torch.all((var[-1] - 1).abs() < 0.08)
        rho = (m[:, 60] * m[:, 60 + h]).mean() / (m[:, 60].std() * m[:, 60 + h].std())
        assert abs(float(rho) - 0.5) < 0.05
        # Innovation of step t is the noise of step t: the averages lag the shocks.
        phi = 0.5 ** (1 / h)
        innov = (m[:, 1:] - phi * m[:, :-1]) / np.sqrt(1 - phi**2)
        torch.testing.assert_close(innov, z[:, 1:, :d].double(), rtol=1e-4, atol=1e-4)


def test_moving_averages_let_the_past_beyond_the_receptive_field_act():
    cfg = resolve_config("tiny", noise_halflives=[20.0], g_head="log_volatility").model
    g_model = build_generator(cfg, k=2, window=16, generator=_gen())
    rf, horizon, p = g_model.receptive_field, 60, 40
    z = draw_noise(1, cfg.noise_dim, g_model.noise_length(horizon), cfg, _gen(1))
    z2 = z.clone()
    z2[0, p, : cfg.noise_dim] += 1.0
    m = z2[0, :, cfg.noise_dim:]
    phi = 0.5 ** (1 / 20)
    for t in range(p, z.shape[1]):  # re-run the recursion from the perturbed step
        m[t] = phi * m[t - 1] + np.sqrt(1 - phi**2) * z2[0, t, : cfg.noise_dim]
    changed = (g_model(z2) - g_model(z)).abs().sum(-1)[0] > 0
    assert not changed[: max(0, p - rf + 1)].any() and changed[p - rf + 1:].all()


def test_log_volatility_head_is_constant_drift_plus_lognormal_scale():
    cfg = resolve_config("tiny", g_head="log_volatility", noise_halflives=[10.0]).model
    g_model = build_generator(cfg, k=3, window=16, generator=_gen())
    z = draw_noise(4, cfg.noise_dim, g_model.noise_length(20), cfg, _gen(1))
    s = g_model.tcn(z)
    eps = g_model.shock(z[:, g_model.receptive_field - 1:, : cfg.noise_dim])
    expected = g_model.mu + torch.exp(8 * torch.tanh(s / 8)) * eps
    torch.testing.assert_close(g_model(z), expected)


def test_lag1_news_scales_volatility_by_the_previous_shock_size():
    """``lag1_news``: the volatility of day t is multiplied by exp(tanh(b)·(|e_{t-1}|/s -
    sqrt(2/pi))), e the shock, s its standard deviation; at b = 0 the model is the plain one
    with the same weights."""
    cfg = resolve_config("tiny", noise_halflives=[10.0], lag1_news=True).model
    plain = resolve_config("tiny", noise_halflives=[10.0], lag1_news=False).model
    g_model = build_generator(cfg, k=2, window=16, generator=_gen())
    z = draw_noise(4, cfg.noise_dim, g_model.noise_length(20), cfg, _gen(1))
    torch.testing.assert_close(g_model(z), build_generator(plain, 2, 16, _gen())(z))
    with torch.no_grad():
        g_model.news.copy_(torch.tensor([-0.5, 0.3]))
    rf, d = g_model.receptive_field, cfg.noise_dim
    loc, scale = g_model.tcn(z).split(2, dim=-1)
    shock = g_model.shock(z[:, rf - 1:, :d])
    prev = g_model.shock(z[:, rf - 2: -1, :d])
    size = prev.abs() / g_model.shock.weight.norm(dim=1) - np.sqrt(2 / np.pi)
    factor = torch.exp(torch.tanh(torch.tensor([-0.5, 0.3])) * size)
    expected = loc + torch.nn.functional.softplus(scale) * factor * shock
    torch.testing.assert_close(g_model(z), expected)
    with pytest.raises(Exception, match="lag1_news"):
        resolve_config("tiny", g_head="log_volatility", lag1_news=True)


def test_lag1_news_is_on_by_default_wherever_the_generator_supports_it():
    """Unset, ``lag1_news`` resolves to on for the TCN volatility head and off elsewhere, and
    the configuration records the resolved value."""
    for preset in ("default", "gpu", "tiny"):
        assert resolve_config(preset).model.lag1_news is True
    for preset in ("quantgan", "mlp"):
        assert resolve_config(preset).model.lag1_news is False
    assert resolve_config("tiny", g_head="log_volatility").model.lag1_news is False
    assert resolve_config("tiny", lag1_news=False).model.lag1_news is False
    assert resolve_config("tiny").model_dump()["model"]["lag1_news"] is True


def test_noise_halflives_are_validated():
    from ganjobs.errors import GanjobsError

    with pytest.raises(GanjobsError, match="noise_halflives"):
        resolve_config("tiny", noise_halflives=[0.0])
    with pytest.raises(GanjobsError, match="arch"):
        resolve_config("tiny", arch="mlp", noise_halflives=[5.0], critic_horizons=[])


def test_critic_trailing_sums_and_their_causality():
    from ganjobs.model.networks import trailing_sums

    x = torch.randn(3, 30, 2, generator=_gen(4), dtype=torch.float64)
    s5, s20 = trailing_sums(x, [5, 20])
    for t in (0, 3, 4, 17, 29):
        torch.testing.assert_close(s5[:, t], x[:, max(0, t - 4): t + 1].sum(1) / np.sqrt(5))
        torch.testing.assert_close(s20[:, t], x[:, max(0, t - 19): t + 1].sum(1) / np.sqrt(20))
    cfg = resolve_config("tiny", critic_horizons=[5, 20]).model
    critic = build_critic(cfg, k=2, window=30, generator=_gen())
    assert critic.tcn.blocks[0].conv1.linear.in_features == 2 * 2 * 3 * 2  # 2 taps, r|s5|s20, abs
    # Per-step features of prefixes still only read the past, sums included.
    x2 = x.float().clone()
    x2[:, 12] += 1.0
    feats = [critic.tcn.features(critic.inputs(v)) for v in (x.float(), x2)]
    changed = (feats[1] - feats[0]).abs().sum((0, 2)) > 0
    assert not changed[:12].any() and changed[12:].all()


def test_critic_horizons_are_validated():
    from ganjobs.errors import GanjobsError

    with pytest.raises(GanjobsError, match="critic_horizons"):
        resolve_config("tiny", critic_horizons=[1])
    with pytest.raises(GanjobsError, match="arch"):
        resolve_config("tiny", arch="mlp", critic_horizons=[5], noise_halflives=[])
