"""The conditional model's parts without Ray: the state, the networks, the task's losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganjobs.config import resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.model import condition
from ganjobs.model.conditional_networks import build_conditional
from ganjobs.model.conditional_task import ConditionalTask


def _returns(n: int = 600, k: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = np.exp(np.cumsum(rng.normal(0, 0.05, (n, 1)), axis=0))
    return rng.standard_t(5, (n, k)) * vol


def test_ewma_vol_is_the_causal_recursion_from_unit_variance():
    x = _returns(300)
    decay = 0.94
    v, expected = 1.0, []
    for row in x[:, 0]:
        v = decay * v + (1 - decay) * row * row
        expected.append(max(np.sqrt(v), condition.VOL_FLOOR))
    np.testing.assert_allclose(condition.ewma_vol(x, decay)[:, 0], expected, rtol=1e-12)


def test_ewma_vol_is_floored_through_unchanged_prices():
    x = np.zeros((400, 1))
    assert condition.ewma_vol(x, 0.94)[-1, 0] == condition.VOL_FLOOR


def test_states_never_read_returns_after_their_origin():
    x = _returns()
    origins = np.array([100, 250, 400])
    a = condition.states(x, origins, 32, 0.94)
    changed = x.copy()
    changed[401:] *= 10.0  # the future is anything
    changed[251:400] = changed[251:400]  # unchanged before the last origin
    b = condition.states(changed, origins, 32, 0.94)
    for field in ("past", "level", "sigma"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.past.shape == (3, 32, 2) and a.level.shape == (3, 2)
    # The last past value is the origin's own return over its sigma.
    np.testing.assert_allclose(a.past[:, -1], x[origins] / a.sigma, rtol=1e-6)


def test_states_refuse_origins_without_enough_history():
    with pytest.raises(GanjobsError, match="needs at least"):
        condition.states(_returns(), np.array([5]), 32, 0.94)


def test_state_summary_and_history_hash():
    r = _returns(100) * 0.01
    s = condition.summary(r, ["A", "B"])
    expected = r[-20:, 0].std(ddof=1) * np.sqrt(252)
    assert s["realized_vol_annualised"]["A"] == pytest.approx(expected)
    dates = np.arange("2020-01-01", 100, dtype="datetime64[D]")[:100]
    h = condition.history_sha256(dates, r)
    assert h == condition.history_sha256(dates, r.copy())
    r2 = r.copy()
    r2[3, 1] += 1e-12
    assert h != condition.history_sha256(dates, r2)


def test_generator_output_follows_the_context_and_critic_scores_pairs():
    cfg = resolve_config("tiny-daily")
    g, d = build_conditional(cfg, 2, torch.Generator().manual_seed(0))
    n, p, w = 5, cfg.condition.past, cfg.data.window
    z = torch.randn(n, g.noise_length(w), cfg.model.noise_channels)
    past, level = torch.randn(n, p, 2), torch.zeros(n, 2)
    out = g(z, past, level)
    assert out.shape == (n, w, 2)
    # The same noise from another past gives other paths: the generator reads the past.
    assert not torch.allclose(out, g(z, past * 3.0, level + 1.0))
    seq = torch.cat([torch.cat([past, out], dim=1), level[:, None].expand(-1, p + w, -1)], 2)
    assert d(seq).shape == (n,)


def test_task_trains_and_penalises_only_the_future():
    cfg = resolve_config("tiny-daily")
    task = ConditionalTask(cfg, _returns().astype(np.float32), torch.device("cpu"))
    rng = torch.Generator().manual_seed(1)
    g, d = task.build(torch.Generator().manual_seed(0))
    real = task.real_batch(8, rng)
    fake = task.fake_batch(g, 8, rng)
    p, k = cfg.condition.past, 2
    # Paired conditions: the generated futures continue the real pasts and levels.
    torch.testing.assert_close(fake[:, :p], real[:, :p])
    torch.testing.assert_close(fake[:, :, k:], real[:, :, k:])
    assert not torch.allclose(fake[:, p:, :k], real[:, p:, :k])
    loss, terms = task.critic_loss(d, real, fake, rng)
    loss.backward()
    assert torch.isfinite(loss) and terms["gp"] > 0
    objective, adversarial, _ = task.generator_loss(g, d, 8, rng)
    objective.backward()
    assert all(q.grad is not None for q in g.parameters())


def test_task_refuses_too_short_histories():
    cfg = resolve_config("tiny-daily")
    with pytest.raises(GanjobsError, match="needs more than"):
        ConditionalTask(cfg, _returns(60).astype(np.float32), torch.device("cpu"))


def test_clock_channels_count_days_from_the_origin():
    from ganjobs.model.conditional_networks import clock

    c = clock(10, 4, torch.device("cpu"))
    # Output step 0 (day 1) reads input 3: the warm-up inputs 0..2 read day 0.
    torch.testing.assert_close(c[:3], torch.ones(3, 3))
    torch.testing.assert_close(c[3, 0], torch.exp(torch.tensor(-1 / 5.0)))
    assert torch.all(c[1:] <= c[:-1])
