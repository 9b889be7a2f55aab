"""Conditional baselines (FHS, GARCH-t, historical simulation) on the bundled real returns."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model
from scipy import special

from ganjobs.core.risk import value_at_risk
from ganjobs.data.prices import load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.forecast.base import Forecaster
from ganjobs.forecast.copula import StudentQuantile
from ganjobs.forecast.filters import SCALE, filter_variance, standardized_residuals
from ganjobs.forecast.registry import CONDITIONAL_BASELINES, make_forecaster

SYMBOLS = ["SPX", "NDX", "WTI"]
FIT_END = 1500  # fit on the first 1,500 returns (1999–2004)


@pytest.fixture(scope="module")
def market(sample_dir):
    """Returns (T, 3) and the date of each return, as ISO strings."""
    md = load_market_data(sample_dir, SYMBOLS)
    dates = np.datetime_as_string(md.dates[1:], unit="D")
    return md.returns, dates


@pytest.fixture(scope="module")
def fitted(market):
    """One forecaster per conditional baseline, fitted on the first returns."""
    returns, _ = market
    out = {}
    for name in CONDITIONAL_BASELINES:
        f = make_forecaster(name)
        f.fit(returns[:FIT_END])
        out[name] = f
    return out


def _position(dates: np.ndarray, day: str) -> int:
    pos = np.flatnonzero(dates == day)
    assert pos.size == 1, f"{day} is not a trading day of the sample"
    return int(pos[0])


def _run(f, market, origins, n=64, horizon=5, seed=3, returns=None):
    r, dates = market
    origins = np.asarray(origins)
    return f.scenarios(r if returns is None else returns, origins, n, horizon,
                       list(dates[origins]), seed)


def test_registry(market):
    for name in CONDITIONAL_BASELINES:
        f = make_forecaster(name)
        assert f.name == name
        assert isinstance(f, Forecaster)
    assert make_forecaster("hs-750").window == 750
    with pytest.raises(GanjobsError, match="unknown conditional baseline"):
        make_forecaster("hs-")
    with pytest.raises(GanjobsError, match="takes no options"):
        make_forecaster("fhs", window=3)


@pytest.mark.parametrize("name", CONDITIONAL_BASELINES)
def test_shapes_and_values(name, fitted, market):
    out = _run(fitted[name], market, [FIT_END, FIT_END + 50, FIT_END + 99], n=64, horizon=5)
    m = 64 if name in ("fhs", "garch-t") else fitted[name].window - 4
    assert out.shape == (3, m, 5, 3)
    assert out.dtype == np.float64
    assert np.all(np.isfinite(out))
    # Daily log returns of indices and oil: no scenario step beyond ±100%.
    assert np.abs(out).max() < 1.0
    empty = _run(fitted[name], market, np.array([], dtype=np.int64), n=64, horizon=5)
    assert empty.shape[0] == 0


@pytest.mark.parametrize("name", CONDITIONAL_BASELINES)
def test_no_look_ahead(name, fitted, market):
    r, _ = market
    origins = [FIT_END, FIT_END + 100, FIT_END + 199]
    cut = FIT_END + 200
    full = _run(fitted[name], market, origins)
    short = _run(fitted[name], market, origins, returns=r[:cut])
    altered = r.copy()
    altered[cut:] *= 3.0
    altered[cut + 10] = np.nan
    changed = _run(fitted[name], market, origins, returns=altered)
    np.testing.assert_array_equal(full, short)
    np.testing.assert_array_equal(full, changed)


@pytest.mark.parametrize("name", CONDITIONAL_BASELINES)
def test_origin_alone_equals_origin_in_batch(name, fitted, market):
    batch = _run(fitted[name], market, [FIT_END + 300, FIT_END + 40, FIT_END + 700])
    alone = _run(fitted[name], market, [FIT_END + 40])
    np.testing.assert_array_equal(batch[1], alone[0])


@pytest.mark.parametrize("name", ["fhs", "garch-t"])
def test_seeded(name, fitted, market):
    r, dates = market
    f = fitted[name]
    a = _run(f, market, [FIT_END + 10], seed=5)
    b = _run(f, market, [FIT_END + 10], seed=5)
    c = _run(f, market, [FIT_END + 10], seed=6)
    other_key = f.scenarios(r, np.array([FIT_END + 10]), 64, 5, ["another day"], 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, other_key)


def test_historical_simulation_is_the_last_window(fitted, market):
    r, _ = market
    o = FIT_END + 123
    one_day = _run(fitted["hs-250"], market, [o], horizon=1)
    np.testing.assert_array_equal(one_day[0, :, 0, :], r[o - 249:o + 1])
    ten_day = _run(fitted["hs-500"], market, [o], horizon=10)
    assert ten_day.shape == (1, 491, 10, 3)
    for j in (0, 200, 490):  # overlapping windows, oldest first, the last ends at the origin
        np.testing.assert_array_equal(ten_day[0, j], r[o - 499 + j:o - 489 + j])
    # Nothing random: the seed does not change the paths.
    np.testing.assert_array_equal(one_day, _run(fitted["hs-250"], market, [o], horizon=1,
                                                seed=99))


def test_historical_simulation_needs_the_window(fitted, market):
    with pytest.raises(GanjobsError, match="needs 500 daily returns"):
        _run(fitted["hs-500"], market, [FIT_END, 498])
    assert _run(fitted["hs-500"], market, [499], horizon=1).shape == (1, 500, 1, 3)
    with pytest.raises(GanjobsError, match="does not fit"):
        _run(fitted["hs-250"], market, [FIT_END], horizon=251)


@pytest.mark.parametrize("asymmetric", [True, False])
def test_filter_equals_arch_conditional_volatility(asymmetric, fitted, market):
    r, _ = market
    params = fitted["fhs" if asymmetric else "garch-t"].params
    _, sigma2 = filter_variance(params, r[:FIT_END])
    for j in range(3):
        res = arch_model(SCALE * r[:FIT_END, j], mean="Constant", vol="GARCH", p=1,
                         o=int(asymmetric), q=1, dist="t", rescale=False
                         ).fit(disp="off", backcast=params.backcast[j])
        assert res.params["beta[1]"] == pytest.approx(params.beta[j], rel=1e-12)
        np.testing.assert_allclose(np.sqrt(sigma2[:-1, j]), res.conditional_volatility,
                                   rtol=1e-6)
    # The last row is the next day's variance, by the recursion.
    e = SCALE * r[FIT_END - 1] - params.mu
    expected = (params.omega + (params.alpha + params.gamma * (e < 0)) * e**2
                + params.beta * sigma2[-2])
    np.testing.assert_allclose(sigma2[-1], expected, rtol=1e-12)


def test_fhs_scales_to_todays_volatility(market):
    r, dates = market
    f = make_forecaster("fhs")
    f.fit(r[:_position(dates, "2006-01-03")])
    calm, turbulent = _position(dates, "2006-06-01"), _position(dates, "2008-10-15")
    out = _run(f, market, [calm, turbulent], n=4000, horizon=1)
    var_calm, var_turbulent = (value_at_risk(out[i, :, 0, 0], 0.99) for i in (0, 1))
    assert var_turbulent > 3 * var_calm
    # The 1-day scenarios are μ + σ_{t+1}·z: their spread follows the filtered volatility.
    _, sigma2 = filter_variance(f.params, r[:turbulent + 1])
    ratio = np.sqrt(sigma2[turbulent + 1, 0] / sigma2[calm + 1, 0])
    assert out[1, :, 0, 0].std() / out[0, :, 0, 0].std() == pytest.approx(ratio, rel=0.1)


@pytest.mark.parametrize("name", ["fhs", "garch-t"])
def test_cross_correlation_kept(name, fitted, market):
    r, _ = market
    f = fitted[name]
    o = FIT_END + 400
    sims = _run(f, market, [o], n=20000, horizon=1)[0, :, 0, :]
    z = standardized_residuals(f.params, r[: (o if name == "fhs" else FIT_END) + 1])
    target = np.corrcoef(z, rowvar=False)
    np.testing.assert_allclose(np.corrcoef(sims, rowvar=False), target, atol=0.04)
    assert target[0, 1] > 0.7  # SPX and NDX: the property is not trivially met


def test_garch_t_one_day_moments(fitted, market):
    r, _ = market
    f = fitted["garch-t"]
    o = FIT_END + 250
    sims = _run(f, market, [o], n=20000, horizon=1)[0, :, 0, :]
    _, sigma2 = filter_variance(f.params, r[:o + 1])
    np.testing.assert_allclose(sims.std(axis=0), np.sqrt(sigma2[o + 1]) / SCALE, rtol=0.05)
    np.testing.assert_allclose(sims.mean(axis=0), f.params.mu / SCALE,
                               atol=4 * float(np.sqrt(sigma2[o + 1].max())) / SCALE / 141)


@pytest.mark.parametrize("nu", [2.05, 4.0, 6.5, 40.0])
def test_student_quantile_matches_exact(nu):
    x = np.r_[np.linspace(-8.5, 8.5, 20001), [-12.0, -9.0, 9.0, 12.0]]
    exact = -np.sign(x) * special.stdtrit(nu, special.ndtr(-np.abs(x)))
    exact *= np.sqrt((nu - 2) / nu)
    got = StudentQuantile(nu)(x)
    np.testing.assert_allclose(got, exact, rtol=1e-8, atol=1e-12)
    g = StudentQuantile(nu)(np.random.default_rng(0).standard_normal(200_000))
    if nu > 4:  # a finite fourth moment: the sample variance is a usable check
        assert g.var() == pytest.approx(1.0, rel=0.05)


def test_fit_needs_enough_data_and_reports_non_convergence(market):
    r, _ = market
    f = make_forecaster("fhs")
    with pytest.raises(GanjobsError, match="call fit"):
        _run(f, market, [FIT_END])
    with pytest.raises(GanjobsError, match="at least 250 daily returns"):
        f.fit(r[:249])
    with pytest.raises(GanjobsError, match="constant"):
        f.fit(np.c_[r[:300, 0], np.zeros(300)])
    # 95% zero returns: arch's optimiser stops without converging.
    rng = np.random.default_rng(0)
    mostly_zero = np.where(rng.random(300) < 0.95, 0.0, rng.standard_normal(300))
    with pytest.raises(GanjobsError, match="did not converge"):
        f.fit(mostly_zero[:, None])


def test_bad_requests(fitted, market):
    r, dates = market
    f = fitted["fhs"]
    with pytest.raises(GanjobsError, match="one per origin"):
        f.scenarios(r, np.array([FIT_END]), 10, 1, [], 0)
    with pytest.raises(GanjobsError, match="origins must lie"):
        f.scenarios(r, np.array([len(r)]), 10, 1, ["x"], 0)
    with pytest.raises(GanjobsError, match="integer"):
        f.scenarios(r, np.array([1.5]), 10, 1, ["x"], 0)
    with pytest.raises(GanjobsError, match="horizon"):
        f.scenarios(r, np.array([FIT_END]), 10, 0, ["x"], 0)
    with pytest.raises(GanjobsError, match="seed"):
        f.scenarios(r, np.array([FIT_END]), 10, 1, ["x"], -1)
    with pytest.raises(GanjobsError, match="fitted on 3 symbols"):
        f.scenarios(r[:, :2], np.array([FIT_END]), 10, 1, ["x"], 0)
