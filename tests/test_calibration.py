"""The output calibration: one fixed affine map fitted on the generator's own sample, and
the optional monotone map of each symbol's body."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganjobs.config import config_from_dict, resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.model.folder import (
    CALIBRATION_PATHS,
    CALIBRATION_SEED,
    fit_calibration,
    load_model,
    write_model_folder,
)
from ganjobs.model.marginal import apply_body, fit_body
from ganjobs.model.networks import build_generator
from ganjobs.model.preprocess import Preprocessor


def _folder(tmp_path, k: int, calibrate: bool, target: np.ndarray | None = None,
            body: bool = False):
    cfg = resolve_config("tiny", seed=3, calibrate_body=body)
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


def test_body_calibration_matches_the_targets_quantiles_mean_and_variance(tmp_path):
    rng = np.random.default_rng(2)
    target = np.column_stack([rng.standard_t(3, 20_000), rng.laplace(0.1, 0.5, 20_000)])
    target = (target - target.mean(0)) / target.std(0)
    model, pre, cfg = _folder(tmp_path, 2, True, target, body=True)
    body = model.meta["calibration"]["body"]
    assert body["probs"][0] == 0.05 and body["probs"][-1] == 0.95 and len(body["probs"]) == 91
    paths = model.sample(CALIBRATION_PATHS, cfg.data.window, CALIBRATION_SEED)
    y = pre.transform(paths.reshape(-1, 2).astype(np.float64))
    # The knots' quantiles are the target's up to the final shift (which restores the mean).
    probs = [0.05, 0.25, 0.5, 0.75, 0.95]
    shift = np.asarray(body["shift"])
    np.testing.assert_allclose(np.quantile(y, probs, axis=0) - shift,
                               np.quantile(target, probs, axis=0), atol=2e-3)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(y.var(axis=0), 1.0, atol=2e-3)
    # Without the flag nothing of the body is fitted.
    plain, _, _ = _folder(tmp_path, 2, True, target)
    assert "body" not in plain.meta["calibration"]


def test_body_map_is_continuous_increasing_and_linear_in_the_tails():
    """The ``variance`` rule (models fitted before ``moments``): one slope per symbol."""
    rng = np.random.default_rng(3)
    sample = np.column_stack([rng.normal(size=50_000), rng.standard_t(5, 50_000)])
    target = np.column_stack([rng.standard_t(4, 50_000), rng.normal(size=50_000)])
    body = fit_body(sample, target, tails="variance")
    assert "tails" not in body
    mapped = apply_body(sample, body)
    np.testing.assert_allclose(mapped.mean(0), target.mean(0), atol=1e-9)
    np.testing.assert_allclose(mapped.var(0), target.var(0), rtol=1e-9)
    src = np.asarray(body["source"])
    grid = np.linspace(src.min() - 5, src.max() + 5, 20_001)[:, None].repeat(2, axis=1)
    out = apply_body(grid, body)
    assert np.all(np.diff(out, axis=0) > 0) and np.abs(np.diff(out, axis=0)).max() < 0.05
    low = grid[:, 0] < src[0, 0]
    slopes = np.diff(out[low, 0]) / np.diff(grid[low, 0])
    np.testing.assert_allclose(slopes, body["tail_scale"][0], rtol=1e-6)
    # Heavier-tailed target than sample: the tails stretch to carry the variance.
    assert body["tail_scale"][0] > 1.0 > body["tail_scale"][1]


def test_moment_tails_give_each_side_the_datas_excess_moments():
    """The ``moments`` rule bends each side's excess into c·d^p with the data's first two
    moments: continuous and increasing, the mean exact, the variance the data's up to
    sampling, and a tail that the body's one slope got wrong comes out closer at the 1% and
    0.1% quantiles."""
    rng = np.random.default_rng(3)
    sample = np.column_stack([rng.normal(size=50_000), rng.standard_t(5, 50_000)])
    target = np.column_stack([rng.standard_t(4, 50_000), rng.normal(size=50_000)])
    body = fit_body(sample, target)
    assert "tail_scale" not in body and len(body["tails"]) == 2
    mapped = apply_body(sample, body)
    np.testing.assert_allclose(mapped.mean(0), target.mean(0), atol=1e-9)
    np.testing.assert_allclose(mapped.var(0), target.var(0), rtol=0.01)
    src, dst = np.asarray(body["source"]), np.asarray(body["target"])
    for j in range(2):
        shifted = mapped[:, j] - body["shift"][j]
        for side, knot_s, knot_t in ((-1, src[j, 0], dst[j, 0]), (1, src[j, -1], dst[j, -1])):
            beyond = side * (sample[:, j] - knot_s) > 0
            got = side * (shifted[beyond] - knot_t)
            want = side * (target[:, j] - knot_t)
            want = want[want > 0]
            np.testing.assert_allclose([got.mean(), (got**2).mean()],
                                       [want.mean(), (want**2).mean()], rtol=1e-6)
    grid = np.linspace(src.min() - 5, src.max() + 5, 20_001)[:, None].repeat(2, axis=1)
    out = apply_body(grid, body)
    assert np.all(np.diff(out, axis=0) > 0) and np.abs(np.diff(out, axis=0)).max() < 0.05
    # Normal sample onto Student-t(4): heavier tails need p > 1; the reverse p < 1.
    assert body["tails"][0][0][1] > 1.0 > body["tails"][1][0][1]
    old = apply_body(sample, fit_body(sample, target, tails="variance"))
    for q in (0.01, 0.001):
        real = np.quantile(target, q, axis=0)
        err_new = np.abs(np.quantile(mapped, q, axis=0) / real - 1)
        err_old = np.abs(np.quantile(old, q, axis=0) / real - 1)
        assert np.all(err_new < err_old), (q, err_new, err_old)


def test_moment_tails_fall_back_on_degenerate_sides():
    from ganjobs.model.marginal import TAIL_POWER_BOUNDS, _moment_tail

    assert _moment_tail(np.array([1.0]), np.array([1.0, 2.0])) == [1.0, 1.0]
    rng = np.random.default_rng(0)
    d = rng.exponential(size=1000)
    # A data tail far heavier than any power in the bounds can bend d into: the bound.
    heavy = np.r_[np.full(999, 1e-3), 1e3]
    assert _moment_tail(d, heavy)[1] == TAIL_POWER_BOUNDS[1]
    assert _moment_tail(d, np.full(1000, 2.0))[1] == TAIL_POWER_BOUNDS[0]


def test_body_tails_default_to_moments_and_old_models_keep_the_variance_rule():
    assert resolve_config().preprocess.body_tails == "moments"
    with pytest.raises(GanjobsError):
        resolve_config(body_tails="gpd")
    tree = resolve_config().model_dump()
    del tree["preprocess"]["body_tails"]  # as recorded before the field existed
    assert config_from_dict(tree).preprocess.body_tails == "variance"
