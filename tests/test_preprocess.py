"""Standardisation and inverse Lambert-W: round trips, IGMM estimates, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from ganjobs.errors import GanjobsError
from ganjobs.model.preprocess import Preprocessor, h_delta, igmm, w_delta


def _lambert_sample(delta: float, n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal(n)
    return h_delta(z, delta)


def test_w_delta_inverts_h_delta():
    z = np.linspace(-6, 6, 101)
    for delta in (0.0, 0.05, 0.3, 1.0):
        np.testing.assert_allclose(w_delta(h_delta(z, delta), delta), z, rtol=1e-10, atol=1e-12)


def test_igmm_recovers_delta_of_lambert_w_gaussian():
    y = 0.5 + 2.0 * _lambert_sample(0.2, 20_000, seed=1)
    mu, sigma, delta = igmm(y)
    assert delta == pytest.approx(0.2, abs=0.03)
    assert mu == pytest.approx(0.5, abs=0.05)
    assert sigma == pytest.approx(2.0, rel=0.05)


def test_gaussian_data_gets_no_tail_transform():
    y = np.random.default_rng(2).standard_normal(5000)
    assert igmm(y)[2] < 0.02


def _returns(seed: int = 3) -> np.ndarray:
    """Heavy-tailed correlated returns of 3 symbols at daily scale."""
    rng = np.random.default_rng(seed)
    base = rng.standard_t(df=4, size=(3000, 3)) @ np.array(
        [[1.0, 0.6, 0.1], [0.0, 0.8, 0.1], [0.0, 0.0, 1.0]])
    return 0.01 * base + np.array([3e-4, 2e-4, -1e-4])


def test_round_trip_and_gaussianised_tails():
    x = _returns()
    pre = Preprocessor.fit(x, lambert_w=True)
    z = pre.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-9)
    assert np.all(np.abs(stats.kurtosis(z, axis=0)) < 0.2)  # tails made Gaussian
    assert np.all(stats.kurtosis(x, axis=0) > 1.0)
    assert np.all(pre.delta > 0.05)
    np.testing.assert_allclose(pre.inverse(z), x, rtol=1e-9, atol=1e-12)
    # Works on (n, horizon, k) paths as well as (T, k).
    paths = np.random.default_rng(4).standard_normal((5, 7, 3))
    np.testing.assert_allclose(pre.transform(pre.inverse(paths)), paths, rtol=1e-8, atol=1e-9)


def test_standardise_only():
    x = _returns()
    pre = Preprocessor.fit(x, lambert_w=False)
    np.testing.assert_array_equal(pre.delta, 0.0)
    z = pre.transform(x)
    np.testing.assert_allclose(z, (x - x.mean(0)) / x.std(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pre.inverse(z), x, rtol=1e-9, atol=1e-12)


def test_dict_round_trip_through_json():
    x = _returns()
    pre = Preprocessor.fit(x)
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    y = np.random.default_rng(5).standard_normal((11, 3))
    np.testing.assert_array_equal(again.inverse(y), pre.inverse(y))
    np.testing.assert_array_equal(again.transform(x), pre.transform(x))


def test_real_sample_data_round_trip(sample_dir):
    from ganjobs.data.prices import load_market_data

    data = load_market_data(sample_dir)
    pre = Preprocessor.fit(data.returns)
    np.testing.assert_allclose(pre.inverse(pre.transform(data.returns)), data.returns,
                               rtol=1e-9, atol=1e-13)


def test_refuses_constant_or_bad_input():
    x = _returns()
    x[:, 1] = 0.001
    with pytest.raises(GanjobsError, match="constant"):
        Preprocessor.fit(x)
    with pytest.raises(GanjobsError):
        Preprocessor.fit(np.ones(5))
    with pytest.raises(GanjobsError):
        Preprocessor.from_dict({"mean": [0.0]})
