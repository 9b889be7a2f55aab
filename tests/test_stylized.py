"""The stylized-facts penalty: same estimator as the evaluation, and it moves a generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganjobs.config import config_from_dict, resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.primitives import acf_rows, leverage_rows
from ganjobs.model.networks import build_generator, draw_noise
from ganjobs.model.stylized import (
    VOL_LEVELS,
    data_curves,
    fact_curves,
    facts_penalty,
    short_acf,
    vol_quantiles,
)
from ganjobs.train.loop import train_loop_per_worker


def _clustered(rng: np.random.Generator, n: int, length: int, k: int) -> np.ndarray:
    """Student-t shocks scaled by a random-walk log volatility: clustered, heavy tailed."""
    logvol = np.cumsum(rng.normal(0.0, 0.15, (n, length, 1)), axis=1)
    return rng.standard_t(4, size=(n, length, k)) * np.exp(logvol)


def test_curves_equal_the_evaluation_estimator():
    x = _clustered(np.random.default_rng(0), 12, 252, 2)
    acf, lev = fact_curves(torch.tensor(x), 50)
    assert acf.shape == (2, 50) and lev.shape == (2, 20)
    for j in range(2):
        np.testing.assert_allclose(acf[j].numpy(), acf_rows(np.abs(x[:, :, j]), 50), atol=1e-6)
        np.testing.assert_allclose(lev[j].numpy(), leverage_rows(x[:, :, j], 20), atol=1e-6)


def test_data_curves_average_every_window():
    series = _clustered(np.random.default_rng(1), 1, 400, 1)[0]
    acf, lev = data_curves(torch.tensor(series), 100, 10, stride=7)
    starts = range(0, 400 - 100 + 1, 7)
    rows = np.stack([series[s: s + 100, 0] for s in starts])
    np.testing.assert_allclose(acf[0].numpy(), acf_rows(np.abs(rows), 10), atol=1e-6)
    np.testing.assert_allclose(lev[0].numpy(), leverage_rows(rows, 10), atol=1e-6)


def test_penalty_is_zero_at_the_target_and_has_gradients():
    x = torch.tensor(_clustered(np.random.default_rng(2), 8, 120, 3), dtype=torch.float32)
    target = fact_curves(x, 30)
    assert facts_penalty(x, target).item() == pytest.approx(0.0, abs=1e-10)
    iid = torch.randn(8, 120, 3, requires_grad=True)
    loss = facts_penalty(iid, target)
    loss.backward()
    assert loss.item() > 0.01 and torch.isfinite(iid.grad).all() and iid.grad.abs().sum() > 0


def test_split_estimate_leaves_out_the_batch_variance():
    """Averaged over batches, the split estimate is the squared distance of the expected
    curves; the square adds the variance of a batch mean (measured: 0.0280 truth, 0.0282
    split, 0.0585 square with 16 paths per batch)."""
    x = torch.tensor(_clustered(np.random.default_rng(7), 4000, 100, 1), dtype=torch.float32)
    target = tuple(c * 0.5 for c in fact_curves(x[:10], 20))
    acf, lev = fact_curves(x, 20)
    truth = ((acf - target[0]).square().sum() + (lev - target[1]).square().sum()).item()
    batches = x.reshape(250, 16, 100, 1)
    split = np.mean([facts_penalty(b, target, split=True).item() for b in batches])
    square = np.mean([facts_penalty(b, target).item() for b in batches])
    assert split == pytest.approx(truth, rel=0.05)
    assert square > 1.5 * truth


@pytest.mark.parametrize("split", [False, True])
def test_lag1_weight_scales_only_the_acf_lag1_term(split: bool):
    x = torch.tensor(_clustered(np.random.default_rng(3), 8, 120, 2), dtype=torch.float32)
    target = fact_curves(torch.randn(8, 120, 2), 30)
    halves = (x[:4], x[4:]) if split else (x, x)
    dev_a, dev_b = (fact_curves(h, 30)[0][:, 0] - target[0][:, 0] for h in halves)
    lag1 = (dev_a * dev_b).mean().item()  # the lag-1 term, averaged over symbols
    plain = facts_penalty(x, target, split=split).item()
    weighted = facts_penalty(x, target, split=split, lag1_weight=9.0).item()
    assert weighted == pytest.approx(plain + 8.0 * lag1, rel=1e-4, abs=1e-7)
    assert resolve_config("tiny").loss.facts_lag1_weight == 1.0


def test_vol_quantiles_pool_every_window_of_every_path():
    x = _clustered(np.random.default_rng(5), 3, 60, 2)
    got = vol_quantiles(torch.tensor(x), 20).numpy()
    assert got.shape == (2, len(VOL_LEVELS))
    for j in range(2):
        w = np.lib.stride_tricks.sliding_window_view(x[:, :, j], 20, axis=1)  # (3, 41, 20)
        logvol = np.log(w.std(axis=-1, ddof=1) + 1e-6).ravel()
        np.testing.assert_allclose(got[j], np.quantile(logvol, VOL_LEVELS), rtol=1e-5)


def test_vol_term_is_zero_at_the_target_and_moves_the_scale():
    x = torch.tensor(_clustered(np.random.default_rng(6), 8, 120, 2), dtype=torch.float32)
    curves, vol = fact_curves(x, 30), (20, vol_quantiles(x, 20))
    assert facts_penalty(x, curves, vol).item() == pytest.approx(0.0, abs=1e-8)
    scale = torch.tensor(1.5, requires_grad=True)
    # Scaling leaves the curves alone; the volatility quantiles move by log 1.5 at every level.
    loss = facts_penalty(x * scale, curves, vol)
    loss.backward()
    assert loss.item() == pytest.approx(len(VOL_LEVELS) * np.log(1.5) ** 2, rel=1e-3)
    assert scale.grad.item() > 0


def test_short_acf_is_the_evaluation_estimator_over_every_short_window():
    x = _clustered(np.random.default_rng(7), 3, 60, 2)
    got = short_acf(torch.tensor(x), 20, 4).numpy()
    assert got.shape == (2, 4)
    for j in range(2):
        w = np.lib.stride_tricks.sliding_window_view(np.abs(x[:, :, j]), 20, axis=1)
        np.testing.assert_allclose(got[j], acf_rows(w.reshape(-1, 20), 4), rtol=1e-4,
                                   atol=1e-6)


@pytest.mark.parametrize("split", [False, True])
def test_short_term_adds_its_weighted_squared_deviation(split: bool):
    x = torch.tensor(_clustered(np.random.default_rng(8), 8, 120, 2), dtype=torch.float32)
    target = fact_curves(torch.randn(8, 120, 2), 30)
    short = (20, short_acf(torch.randn(8, 120, 2), 20, 5))
    halves = (x[:4], x[4:]) if split else (x, x)
    dev_a, dev_b = (short_acf(h, 20, 5) - short[1] for h in halves)
    term = (dev_a * dev_b).sum(dim=1).mean().item()  # summed over lags, averaged over symbols
    plain = facts_penalty(x, target, split=split).item()
    for weight in (1.0, 25.0):
        got = facts_penalty(x, target, split=split, short=short, short_weight=weight).item()
        assert got == pytest.approx(plain + weight * term, rel=1e-4, abs=1e-7)
    at_target = (20, short_acf(x, 20, 5))
    assert facts_penalty(x, fact_curves(x, 30), short=at_target).item() == pytest.approx(
        0.0, abs=1e-8)


def test_facts_config_is_validated_and_old_models_keep_it_off():
    with pytest.raises(GanjobsError, match="facts_lags"):
        resolve_config(facts_length=50, facts_lags=50)
    with pytest.raises(GanjobsError):
        resolve_config(facts_weight=-1.0)
    for bad in (1, 300):
        with pytest.raises(GanjobsError, match="facts_vol_window"):
            resolve_config(facts_vol_window=bad)
    for window, lags in ((5, 5), (300, 5)):
        with pytest.raises(GanjobsError, match="facts_short_window"):
            resolve_config(facts_short_window=window, facts_short_lags=lags)
    tree = resolve_config(facts_weight=5.0).model_dump()
    for name in ("facts_weight", "facts_vol_window", "facts_estimator", "facts_short_window"):
        del tree["loss"][name]  # as recorded before the fields existed
    loss = config_from_dict(tree).loss
    assert loss.facts_weight == 0.0 and loss.facts_vol_window == 0
    assert loss.facts_short_window == 0
    assert loss.facts_estimator == "square"


def test_the_penalty_pulls_the_generator_to_the_data_curves():
    """Same seed, same steps: the penalty alone makes the generator's |r| ACF closer."""
    data = _clustered(np.random.default_rng(3), 1, 1500, 1)[0].astype(np.float32)
    data = (data - data.mean()) / data.std()
    target = data_curves(torch.tensor(data), 100, 20)

    def distance(weight: float) -> float:
        cfg = resolve_config("tiny", steps=100, facts_weight=weight, facts_length=100,
                             facts_lags=20, facts_vol_window=0, facts_short_window=0,
                             lambert_w=False, max_recoveries=0, lr_g=3e-3,
                             log_every=100, checkpoint_every=100)
        out = train_loop_per_worker({"gan": cfg.model_dump(), "data": data, "threads": 1})
        g = build_generator(cfg.model, 1, cfg.data.window, torch.Generator().manual_seed(0))
        g.load_state_dict(out["generator"])
        z = draw_noise(256, cfg.model.noise_dim, g.noise_length(100), cfg.model,
                       torch.Generator().manual_seed(9))
        with torch.no_grad():
            return facts_penalty(g(z), target).item()

    # Measured: 0.119 -> 0.020, 0.103 -> 0.014, 0.118 -> 0.018 for seeds 0, 1, 2.
    assert distance(200.0) < 0.5 * distance(0.0)


def test_training_reports_the_penalty_apart_from_the_adversarial_loss():
    train_data = _clustered(np.random.default_rng(4), 1, 400, 2)[0].astype(np.float32)
    cfg = resolve_config("tiny", steps=2)
    on = train_loop_per_worker({"gan": cfg.model_dump(), "data": train_data, "threads": 1})
    assert cfg.loss.facts_weight > 0 and on["metrics"]["facts"] != 0.0  # split: either sign
    off_cfg = resolve_config("tiny", steps=2, facts_weight=0.0)
    off = train_loop_per_worker({"gan": off_cfg.model_dump(), "data": train_data, "threads": 1})
    assert off["metrics"]["facts"] == 0.0
    assert np.isfinite(on["metrics"]["g_loss"]) and on["metrics"]["g_hash"] != off["metrics"][
        "g_hash"]
