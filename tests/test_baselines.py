"""Baselines on the bundled real returns: shapes, determinism, and what each must preserve."""

from __future__ import annotations

import numpy as np
import pytest

from ganjobs.baselines import (
    BASELINES,
    BootstrapFit,
    bootstrap_block_length,
    fit_baseline,
    simulate_baseline,
)
from ganjobs.data.prices import load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.primitives import acf_rows, leverage_rows


@pytest.fixture(scope="module")
def returns(sample_dir) -> np.ndarray:
    """NDX, SPX, WTI daily log returns 1999–2016 (about 4,500 days)."""
    md = load_market_data(sample_dir, ["NDX", "SPX", "WTI"])
    return md.returns[:4500]


@pytest.mark.parametrize("name", BASELINES)
def test_shape_finite_and_seeded(name, returns):
    a = simulate_baseline(name, returns, 40, 25, np.random.default_rng(7))
    b = simulate_baseline(name, returns, 40, 25, np.random.default_rng(7))
    c = simulate_baseline(name, returns, 40, 25, np.random.default_rng(8))
    assert a.shape == (40, 25, 3)
    assert a.dtype == np.float64
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", BASELINES)
def test_one_symbol_from_1d_input(name, returns):
    out = simulate_baseline(name, returns[:, 1], 10, 5, np.random.default_rng(0))
    assert out.shape == (10, 5, 1)


def test_unknown_name_and_bad_sizes(returns):
    with pytest.raises(GanjobsError, match="unknown baseline"):
        simulate_baseline("hmm", returns, 2, 2, np.random.default_rng(0))
    with pytest.raises(GanjobsError):
        simulate_baseline("gaussian", returns, 0, 2, np.random.default_rng(0))
    with pytest.raises(GanjobsError):
        simulate_baseline("gaussian", np.array([[np.nan], [1.0]]), 2, 2,
                          np.random.default_rng(0))


def test_fits_are_cached_per_data(returns):
    assert fit_baseline("garch-t", returns) is fit_baseline("garch-t", returns.copy())
    assert fit_baseline("garch-t", returns[:-1]) is not fit_baseline("garch-t", returns)


def test_gaussian_matches_sample_moments(returns):
    x = simulate_baseline("gaussian", returns, 400, 50, np.random.default_rng(1)).reshape(-1, 3)
    np.testing.assert_allclose(x.std(axis=0), returns.std(axis=0), rtol=0.03)
    np.testing.assert_allclose(np.corrcoef(x, rowvar=False), np.corrcoef(returns, rowvar=False),
                               atol=0.02)


def test_bootstrap_is_joint_and_block_wise(returns):
    fit = fit_baseline("bootstrap", returns)
    assert isinstance(fit, BootstrapFit)
    assert fit.block_length == pytest.approx(bootstrap_block_length(returns))
    assert fit.block_length > 20  # volatility clustering keeps blocks long on real data
    x = simulate_baseline("bootstrap", returns, 50, 60, np.random.default_rng(2))
    rows = {tuple(r) for r in returns}
    # Same historical date for every symbol: each simulated day is a whole training row.
    assert all(tuple(r) in rows for r in x.reshape(-1, 3))
    # Consecutive days mostly come from consecutive dates (the blocks).
    where = {tuple(r): i for i, r in enumerate(returns)}
    idx = np.array([[where[tuple(r)] for r in path] for path in x])
    follow = np.mean(np.diff(idx, axis=1) % len(returns) == 1)
    assert follow == pytest.approx(1 - 1 / fit.block_length, abs=0.03)


@pytest.mark.parametrize("name", ["garch-t", "gjr-garch-t"])
def test_garch_keeps_clustering_and_correlation(name, returns):
    x = simulate_baseline(name, returns, 300, 252, np.random.default_rng(3))
    # Volatility clustering: positive ACF of |r| at short lags, per path.
    assert acf_rows(np.abs(x[:, :, 1]), 5).mean() > 0.03
    # Cross-symbol dependence from the copula: NDX and SPX stay strongly correlated.
    c = np.corrcoef(x.reshape(-1, 3), rowvar=False)
    assert c[0, 1] > 0.75
    assert abs(c[0, 2]) < 0.4


def test_gjr_has_more_leverage_than_garch(returns):
    spx = returns[:, [1]]
    lev = {name: leverage_rows(simulate_baseline(name, spx, 400, 252,
                                                 np.random.default_rng(4))[:, :, 0], 10)
           for name in ("garch-t", "gjr-garch-t")}
    assert lev["gjr-garch-t"][:5].mean() < lev["garch-t"][:5].mean() - 0.01
