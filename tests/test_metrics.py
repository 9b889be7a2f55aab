"""Every metric against a case with a known answer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from ganjobs.baselines import simulate_baseline
from ganjobs.core.risk import var_es
from ganjobs.core.windows import chunks, sliding_windows
from ganjobs.data.prices import load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.bars import check_bars
from ganjobs.evaluate.definitions import PROJECT
from ganjobs.evaluate.discriminative import chance_level, discriminative_score
from ganjobs.evaluate.primitives import (
    acf_rows,
    aggregate,
    correlation_error,
    curve_score,
    leverage_rows,
    relative_error,
    strategy_pnl,
)
from ganjobs.evaluate.reference import monotone_floor
from ganjobs.evaluate.scoring import clean_json, compute_metrics


@pytest.fixture(scope="module")
def real(sample_dir) -> np.ndarray:
    """SPX and WTI returns, 2,000 days: long enough for every metric, short to stay fast."""
    return load_market_data(sample_dir, ["SPX", "WTI"]).returns[-2600:-600]


def test_aggregate_and_chunks():
    np.testing.assert_array_equal(aggregate(np.array([1.0, 2, 3, 4]), 2), [3, 5, 7])
    # Windows never cross paths.
    np.testing.assert_array_equal(aggregate(np.array([[1.0, 2, 3], [10, 20, 30]]), 2),
                                  [3, 5, 30, 50])
    assert aggregate(np.ones(3), 5).size == 0
    assert chunks(np.arange(10.0), 3).shape == (3, 3)
    assert chunks(np.arange(2.0), 3).shape == (1, 2)
    assert sliding_windows(np.arange(5.0), 3).shape == (3, 3, 1)


def test_var_es_of_a_normal_distribution():
    x = np.random.default_rng(0).standard_normal(2_000_000) * 0.02
    var99, _ = var_es(x, 0.01)
    _, es975 = var_es(x, 0.025)
    assert var99 == pytest.approx(0.02 * stats.norm.ppf(0.99), rel=0.01)
    assert es975 == pytest.approx(0.02 * stats.norm.pdf(stats.norm.ppf(0.975)) / 0.025,
                                  rel=0.01)
    assert relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert np.isnan(relative_error(1.0, 0.0))


def test_acf_separates_iid_from_garch(real):
    rng = np.random.default_rng(1)
    iid = rng.standard_normal((500, 252))
    acf_iid = acf_rows(np.abs(iid), 50)
    # Only the finite-length bias (about -1/L) remains for i.i.d. paths.
    assert np.max(np.abs(acf_iid)) < 0.02
    garch = simulate_baseline("garch-t", real[:, :1], 500, 252, rng)[:, :, 0]
    acf_garch = acf_rows(np.abs(garch), 50)
    assert acf_garch[:10].mean() > 0.05
    assert np.linalg.norm(acf_garch - acf_iid) > 0.2
    # A perfectly alternating series has ACF -1 at lag 1, +1 at lag 2 (up to the bias).
    alt = np.tile([1.0, -1.0], 50)[None, :]
    assert acf_rows(alt, 2) == pytest.approx([-0.99, 0.98], abs=1e-12)


def test_leverage_sign():
    rng = np.random.default_rng(2)
    n, length = 400, 252
    z = rng.standard_normal((n, length))
    r = np.empty_like(z)
    r[:, 0] = z[:, 0]
    for t in range(1, length):  # volatility triples after a down day
        r[:, t] = z[:, t] * np.where(r[:, t - 1] < 0, 3.0, 1.0)
    assert leverage_rows(r, 5)[0] < -0.2
    assert abs(leverage_rows(z, 5)[0]) < 0.02


def test_strategy_book_on_constant_returns():
    x = np.full(200, 0.001)
    out = strategy_pnl(x, target_vol=0.01)
    assert set(out) == {"buy_and_hold", "momentum_10d", "mean_reversion_10d", "vol_target"}
    assert len(out["buy_and_hold"]) == 200 - 20 - 100 + 1
    np.testing.assert_allclose(out["buy_and_hold"], 0.1)
    np.testing.assert_allclose(out["momentum_10d"], 0.1)
    np.testing.assert_allclose(out["mean_reversion_10d"], -0.1)
    np.testing.assert_allclose(out["vol_target"], 0.3)  # zero volatility: capped leverage 3
    assert all(v.size == 0 for v in strategy_pnl(np.ones(50), 0.01).values())


def test_correlation_error():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 3))
    assert correlation_error(x, x) == pytest.approx(0.0, abs=1e-12)
    a = rng.standard_normal(100_000)
    indep = rng.standard_normal((100_000, 2))
    same = np.stack([a, a], axis=1)
    assert correlation_error(indep, same) == pytest.approx(np.sqrt(2), abs=0.02)
    assert np.isnan(correlation_error(x[:, :1], x[:, :1]))


def test_discriminative_score_known_cases():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((600, 20, 1))
    groups = np.arange(600) // 20
    same = rng.standard_normal((600, 20, 1))
    louder = 3 * rng.standard_normal((600, 20, 1))
    sigma = np.ones(1)
    assert discriminative_score(real, groups, same, np.arange(600), sigma) < 0.08
    assert discriminative_score(real, groups, louder, np.arange(600), sigma) > 0.4


def test_chance_level_is_the_score_of_guessing():
    """½·√(2/(πn)) is E|accuracy − ½| of n fair guesses; a classifier between two samples of
    one distribution (independent windows, one group each) scores about that on average."""
    rng = np.random.default_rng(8)
    guesses = rng.binomial(2000, 0.5, size=200_000) / 2000
    assert np.mean(np.abs(guesses - 0.5)) == pytest.approx(chance_level(2000), rel=0.02)
    scores = []
    for rep in range(12):
        real, syn = rng.standard_normal((2, 500, 20, 1))
        scores.append(discriminative_score(real, np.arange(500), syn, np.arange(500),
                                           np.ones(1), seed=rep))
    assert 0.5 < np.mean(scores) / chance_level(1000) < 1.6
    with pytest.raises(ValueError, match="at least 1"):
        chance_level(0)


def test_history_itself_scores_perfectly(real):
    """Paths that are the real chunks: every distribution and ACF metric is exactly 0."""
    h = 200
    train = real[:1800]
    paths = train.reshape(-1, h, 2)
    m = compute_metrics(train, {"history": paths}, ["SPX", "WTI"], holdout=real[1800:])
    res = m["models"]["history"]
    for sym in ("SPX", "WTI"):
        row = res["per_symbol"][sym]
        assert row["emd_1d"] == pytest.approx(0, abs=1e-12)
        for key in ("acf_r", "acf_abs", "acf_sq", "leverage", "var99_1d_relerr",
                    "es975_1d_relerr"):
            assert row[key] == pytest.approx(0, abs=1e-12), key
        assert row["kurtosis"] == pytest.approx(m["real"][sym]["kurtosis"])
        assert row["copy_rate"] == 1.0
        assert row["dcr_ratio"] < 1e-6
    assert res["joint"]["corr_error"] == pytest.approx(0, abs=1e-12)
    assert res["joint"]["copy_rate"] == 1.0


def test_bootstrap_copies_gaussian_does_not(real):
    train, holdout = real[:1800], real[1800:]
    rng = np.random.default_rng(5)
    models = {name: simulate_baseline(name, train, 120, 60, rng)
              for name in ("bootstrap", "gaussian")}
    models[PROJECT] = models["gaussian"].astype(np.float32)
    m = compute_metrics(train, models, ["SPX", "WTI"], holdout=holdout, seed=1)
    boot, gauss = m["models"]["bootstrap"], m["models"]["gaussian"]
    assert boot["joint"]["copy_rate"] > 0.3
    assert gauss["joint"]["copy_rate"] == 0.0
    assert boot["joint"]["dcr_ratio"] < 0.5 * gauss["joint"]["dcr_ratio"]
    assert gauss["joint"]["dcr_ratio"] > 0.8
    # A Gaussian has no fat tails; the bootstrap keeps the real ones.
    for sym in ("SPX", "WTI"):
        assert gauss["per_symbol"][sym]["kurtosis"] == pytest.approx(0, abs=0.3)
        assert boot["per_symbol"][sym]["kurtosis"] > 2
        assert (boot["per_symbol"][sym]["es975_1d_relerr"]
                < gauss["per_symbol"][sym]["es975_1d_relerr"])
    # H = 60 < 100: the 100-day EMD and the strategy book are skipped, not faked.
    assert boot["per_symbol"]["SPX"]["emd_100d"] is None
    assert boot["per_symbol"]["SPX"]["strategy_relerr"] is None
    assert m["curves"]["SPX"]["real"]["acf_abs"][0] is not None
    json.dumps(m, allow_nan=False)  # strictly valid JSON
    bars = {(b["metric"], b["scope"]): b for b in m["bars"]}
    # Without GARCH baselines those bars cannot be judged; the fixed-threshold ones can.
    assert bars[("emd_1d", "SPX")]["met"] is None
    assert bars[("copy_rate", "joint")]["met"] is True


def test_short_paths_skip_what_they_cannot_measure(real):
    train = real[:1000]
    paths = simulate_baseline("gaussian", train, 50, 10, np.random.default_rng(6))
    m = compute_metrics(train, {"gaussian": paths}, ["SPX", "WTI"])
    g = m["models"]["gaussian"]
    assert g["per_symbol"]["SPX"]["emd_5d"] is not None
    assert g["per_symbol"]["SPX"]["emd_20d"] is None
    assert g["per_symbol"]["SPX"]["acf_abs"] is not None  # lags 1..8
    assert g["per_symbol"]["SPX"]["copy_rate"] is None
    assert g["joint"]["dcr_ratio"] is None and g["joint"]["corr_error"] is not None
    assert any("no window metrics" in n for n in m["notes"])
    one = simulate_baseline("gaussian", train, 20, 1, np.random.default_rng(6))
    m1 = compute_metrics(train, {"g": one}, ["SPX", "WTI"])
    assert m1["models"]["g"]["per_symbol"]["SPX"]["acf_r"] is None  # undefined, not 0


def test_check_bars_thresholds():
    def block(**kv):
        return {"per_symbol": {"X": kv}, "joint": kv}

    metrics = {"symbols": ["X"], "models": {
        PROJECT: block(emd_1d=0.1, var99_1d_relerr=0.05, dcr_ratio=0.7, copy_rate=0.0),
        "garch-t": block(emd_1d=0.2),
    }}
    rows = {r["metric"]: r for r in check_bars(metrics)}
    assert rows["emd_1d"]["met"] is True and rows["emd_1d"]["threshold"] == 0.2
    assert rows["var99_1d_relerr"]["met"] is True
    assert rows["dcr_ratio"]["met"] is False
    assert rows["copy_rate"]["met"] is True
    assert rows["leverage"]["met"] is None
    assert "corr_error" not in rows  # one symbol: no correlation bar


def test_clean_json():
    out = clean_json({"a": np.float32(1.5), "b": [np.nan, np.inf], "c": np.arange(2),
                      "d": np.bool_(True)})
    assert out == {"a": 1.5, "b": [None, None], "c": [0, 1], "d": True}


def test_monotone_floor_bounds_every_decaying_curve():
    """No curve that is non-increasing from lag 2 on scores below the monotone floor of a noisy
    real curve; a decaying real curve (with any lag 1) has floor 0."""
    rng = np.random.default_rng(5)
    smooth = 0.2 * np.arange(1, 51) ** -0.4
    dip = smooth.copy()
    dip[0] = -0.1
    assert monotone_floor(smooth) == 0.0
    assert monotone_floor(dip) == 0.0
    real = smooth + rng.normal(0.0, 0.02, 50)
    floor = monotone_floor(real)
    assert 0.05 < floor < 0.02 * np.sqrt(50)
    for _ in range(300):
        candidate = np.sort(rng.uniform(-0.1, 0.4, 50))[::-1]
        candidate[0] = rng.uniform(-1.0, 1.0)
        assert curve_score(candidate, real) >= floor - 1e-12
    assert np.isnan(monotone_floor(np.array([0.1, np.nan, np.nan])))


def test_curve_floor_is_the_score_a_perfect_model_gets():
    """When the market *is* the model (both i.i.d. Student-t), the model's curve scores
    scatter around the floor computed from the real chunks; more history lowers it."""
    rng = np.random.default_rng(11)
    h, n_chunks = 100, 40
    real = rng.standard_t(5, size=(h * n_chunks, 1)) * 0.01
    scores, floors = [], []
    for rep in range(8):
        fresh = rng.standard_t(5, size=(h * n_chunks, 1)) * 0.01
        paths = rng.standard_t(5, size=(2000, h, 1)) * 0.01
        m = compute_metrics(fresh, {"model": paths}, ["X"], seed=rep)
        scores.append(m["models"]["model"]["per_symbol"]["X"]["acf_abs"])
        floors.append(m["real"]["X"]["acf_abs_floor"])
        # a model's curve decays, up to its own small estimation noise (2,000 paths)
        assert scores[-1] > m["real"]["X"]["acf_abs_monotone_floor"] - 0.02
        assert np.isfinite(m["real"]["X"]["leverage_floor"])
    assert 0.7 < np.mean(scores) / np.mean(floors) < 1.3
    short = compute_metrics(real[: h * 4], {"model": paths}, ["X"])["real"]["X"]
    assert short["acf_abs_floor"] > 2 * np.mean(floors)  # 4 chunks instead of 40


def test_each_model_draws_its_own_stream_and_any_seed_works(real):
    """Adding a model never changes another's numbers; seeds up to 2**63 - 1 are accepted
    (the classifier's own seed is drawn from the stream, below scikit-learn's 2**32)."""
    train = real[:1000]
    rng = np.random.default_rng(9)
    a, b = (simulate_baseline("gaussian", train, 30, 40, rng) for _ in range(2))
    alone = compute_metrics(train, {"a": a}, ["SPX", "WTI"], seed=2**63 - 1)
    both = compute_metrics(train, {"b": b, "a": a}, ["SPX", "WTI"], seed=2**63 - 1)
    assert alone["models"]["a"]["per_symbol"] == both["models"]["a"]["per_symbol"]
    assert alone["models"]["a"]["joint"] == both["models"]["a"]["joint"]
    assert alone["models"]["a"]["joint"]["discriminative"] is not None
    with pytest.raises(GanjobsError, match="seed"):
        compute_metrics(train, {"a": a}, ["SPX", "WTI"], seed=-1)
