"""The stylized-facts penalty: same estimator as the evaluation, and it moves a generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganjobs.config import config_from_dict, resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.metrics import acf_rows, leverage_rows
from ganjobs.models import build_generator, draw_noise
from ganjobs.stylized import data_curves, fact_curves, facts_penalty
from ganjobs.train_loop import train_loop_per_worker


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


def test_facts_config_is_validated_and_old_models_keep_it_off():
    with pytest.raises(GanjobsError, match="facts_lags"):
        resolve_config(facts_length=50, facts_lags=50)
    with pytest.raises(GanjobsError):
        resolve_config(facts_weight=-1.0)
    tree = resolve_config(facts_weight=5.0).model_dump()
    del tree["loss"]["facts_weight"]  # as recorded before the field existed
    assert config_from_dict(tree).loss.facts_weight == 0.0


def test_the_penalty_pulls_the_generator_to_the_data_curves():
    """Same seed, same steps: the penalty alone makes the generator's |r| ACF closer."""
    data = _clustered(np.random.default_rng(3), 1, 1500, 1)[0].astype(np.float32)
    data = (data - data.mean()) / data.std()
    target = data_curves(torch.tensor(data), 100, 20)

    def distance(weight: float) -> float:
        cfg = resolve_config("tiny", steps=100, facts_weight=weight, facts_length=100,
                             facts_lags=20, lambert_w=False, max_recoveries=0, lr_g=3e-3,
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
    assert cfg.loss.facts_weight > 0 and on["metrics"]["facts"] > 0
    off_cfg = resolve_config("tiny", steps=2, facts_weight=0.0)
    off = train_loop_per_worker({"gan": off_cfg.model_dump(), "data": train_data, "threads": 1})
    assert off["metrics"]["facts"] == 0.0
    assert np.isfinite(on["metrics"]["g_loss"]) and on["metrics"]["g_hash"] != off["metrics"][
        "g_hash"]
