"""The output calibration: one fixed affine map fitted on the generator's own sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganjobs.config import resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.modelio import (
    CALIBRATION_PATHS,
    CALIBRATION_SEED,
    fit_calibration,
    load_model,
    write_model_folder,
)
from ganjobs.models import build_generator
from ganjobs.preprocess import Preprocessor


def _folder(tmp_path, k: int, calibrate: bool, target: np.ndarray | None = None):
    cfg = resolve_config("tiny", seed=3)
    gen = torch.Generator().manual_seed(3)
    state = build_generator(cfg.model, k, cfg.data.window, gen).state_dict()
    rng = np.random.default_rng(0)
    returns = rng.standard_t(4, size=(500, k)) * 0.01 + 0.0004
    pre = Preprocessor.fit(returns, False)
    cal = fit_calibration(cfg, state, k, target) if calibrate else None
    out = str(tmp_path / f"model-{k}-{calibrate}")
    write_model_folder(out, cfg=cfg, generator_state=state, preprocessor=pre,
                       symbols=["A", "B", "C"][:k], data_record={}, step=0, metrics={},
                       training={}, created_at="2026-01-01T00:00:00+00:00", calibration=cal)
    return load_model(out), pre, cfg


@pytest.mark.parametrize("k", [1, 3])
def test_calibrated_output_has_target_mean_variance_and_correlation(tmp_path, k):
    target_corr = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.3], [0.2, 0.3, 1.0]])[:k, :k]
    target = np.random.default_rng(1).multivariate_normal(np.zeros(k), target_corr, 20_000)
    model, pre, cfg = _folder(tmp_path, k, True, target)
    cal = model.meta["calibration"]
    assert cal["kind"] == "affine" and cal["paths"] == CALIBRATION_PATHS
    # The calibration sample itself, mapped back into the networks' space.
    paths = model.sample(CALIBRATION_PATHS, cfg.data.window, CALIBRATION_SEED)
    y = pre.transform(paths.reshape(-1, k).astype(np.float64))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.cov(y.T).reshape(k, k), np.corrcoef(target.T).reshape(k, k),
                               atol=1e-3)


def test_uncalibrated_model_samples_the_raw_generator(tmp_path):
    raw, _, cfg = _folder(tmp_path, 2, False)
    assert raw.meta["calibration"] == {"kind": "none"}
    cal, _, _ = _folder(tmp_path, 2, True)
    a, b = raw.sample(64, 10, seed=5), cal.sample(64, 10, seed=5)
    assert a.shape == b.shape == (64, 10, 2) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, raw.sample(64, 10, seed=5))  # deterministic


def test_degenerate_generator_output_is_refused():
    cfg = resolve_config("tiny")
    state = build_generator(cfg.model, 2, cfg.data.window, torch.Generator().manual_seed(0)
                            ).state_dict()
    state = {k: torch.zeros_like(v) for k, v in state.items()}  # constant output
    with pytest.raises(GanjobsError, match="calibration impossible"):
        fit_calibration(cfg, state, 2)
