"""Backtest statistics: coverage tests, traffic-light zones, scoring functions, ES test, DM."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from scipy import integrate, stats

from ganjobs.backtest.coverage import BASEL_RED_FROM, BASEL_YELLOW_FROM, basel_zone
from ganjobs.backtest.shortfall import t_location_scale, z2_statistic
from ganjobs.backtest.stats import (
    acerbi_szekely,
    basel_zones,
    christoffersen_independence,
    conditional_coverage,
    diebold_mariano,
    fz0_loss,
    hits,
    kupiec_pof,
    non_overlapping,
    summarise,
    tick_loss,
)


def _hit_seq(n: int, x: int) -> np.ndarray:
    h = np.zeros(n, dtype=bool)
    h[np.linspace(0, n - 1, x).astype(int) if x else []] = True
    return h


def _kupiec_by_binomial(n: int, x: int, alpha: float) -> float:
    """The LR from scipy's binomial log-likelihoods (the binomial coefficient cancels)."""
    return -2.0 * (stats.binom.logpmf(x, n, alpha) - stats.binom.logpmf(x, n, x / n))


# --- exceptions and coverage tests ----------------------------------------------------------

def test_a_hit_is_a_return_below_minus_var():
    r = np.array([-0.05, -0.03, -0.01, 0.02, np.nan])
    np.testing.assert_array_equal(hits(r, np.full(5, 0.03)), [True, False, False, False, False])


def test_kupiec_on_textbook_numbers():
    lr, p = kupiec_pof(_hit_seq(250, 4), 0.99)
    assert lr == pytest.approx(_kupiec_by_binomial(250, 4, 0.01), rel=1e-10)
    assert lr == pytest.approx(0.77, abs=0.01) and p == pytest.approx(0.38, abs=0.01)
    lr10, p10 = kupiec_pof(_hit_seq(250, 10), 0.99)
    assert lr10 == pytest.approx(_kupiec_by_binomial(250, 10, 0.01), rel=1e-10)
    assert p10 < 0.001
    # Exactly the expected count: no evidence against the forecast.
    assert kupiec_pof(_hit_seq(1000, 25), 0.975) == (0.0, 1.0)


def test_kupiec_with_no_or_only_exceptions():
    lr0, p0 = kupiec_pof(np.zeros(250, bool), 0.99)
    assert lr0 == pytest.approx(-2 * 250 * np.log(0.99)) and 0.02 < p0 < 0.03
    lr1, p1 = kupiec_pof(np.ones(20, bool), 0.99)
    assert lr1 == pytest.approx(-2 * 20 * np.log(0.01)) and p1 < 1e-10
    assert all(np.isnan(kupiec_pof(np.array([], bool), 0.99)))


def test_coverage_tests_leave_nan_rows_out():
    h = _hit_seq(250, 4).astype(float)
    with_nan = np.concatenate([h, np.full(7, np.nan)])
    assert kupiec_pof(with_nan, 0.99) == kupiec_pof(h, 0.99)
    assert christoffersen_independence(with_nan) == christoffersen_independence(h)


def test_independence_on_a_hand_counted_sequence():
    h = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    # n00=4, n01=2, n10=2, n11=1: π01 = 2/6, π11 = 1/3, π = 3/9 -> equal, LR = 0.
    assert christoffersen_independence(h)[0] == pytest.approx(0.0, abs=1e-12)
    h2 = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    n00, n01, n10, n11 = 5, 1, 1, 2
    pi, pi01, pi11 = 3 / 9, n01 / (n00 + n01), n11 / (n10 + n11)
    ll0 = 3 * np.log(pi) + 6 * np.log(1 - pi)
    ll1 = n01 * np.log(pi01) + n00 * np.log(1 - pi01) + n11 * np.log(pi11) + n10 * np.log(
        1 - pi11)
    lr, p = christoffersen_independence(h2)
    assert lr == pytest.approx(-2 * (ll0 - ll1), rel=1e-12)
    assert p == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)


def test_independence_rejects_clustered_hits_not_iid_ones():
    rng = np.random.default_rng(3)
    iid = rng.random(2000) < 0.02
    assert christoffersen_independence(iid)[1] > 0.05
    clustered = np.zeros(2000, dtype=bool)
    for start in rng.choice(np.arange(0, 1990, 10), size=8, replace=False):
        clustered[start:start + 5] = True  # 40 exceptions in 8 runs of 5 days
    assert christoffersen_independence(clustered)[1] < 0.001
    # Same count, so Kupiec alone cannot tell them apart; conditional coverage does.
    assert kupiec_pof(clustered, 0.98) == kupiec_pof(np.sort(clustered), 0.98)
    assert conditional_coverage(clustered, 0.98)[1] < 0.001


def test_independence_is_uninformative_on_degenerate_samples():
    assert christoffersen_independence(np.zeros(300, bool)) == (0.0, 1.0)
    assert christoffersen_independence(np.ones(30, bool)) == (0.0, 1.0)
    last_only = np.zeros(300, bool)
    last_only[-1] = True  # no transition out of an exception
    assert christoffersen_independence(last_only) == (0.0, 1.0)
    assert all(np.isnan(christoffersen_independence(np.array([True]))))


def test_conditional_coverage_adds_the_two_statistics():
    rng = np.random.default_rng(5)
    h = rng.random(500) < 0.03
    lr, p = conditional_coverage(h, 0.99)
    assert lr == pytest.approx(kupiec_pof(h, 0.99)[0] + christoffersen_independence(h)[0])
    assert p == pytest.approx(stats.chi2.sf(lr, 2))


def test_non_overlapping_takes_every_hth_observation():
    np.testing.assert_array_equal(non_overlapping(np.arange(25), 10), [0, 10, 20])
    np.testing.assert_array_equal(non_overlapping(np.arange(5), 1), np.arange(5))
    # A gap: the next kept origin is the first at least h after the last kept one.
    np.testing.assert_array_equal(non_overlapping(np.array([0, 1, 2, 13, 14, 23]), 10),
                                  [0, 13, 23])
    with pytest.raises(ValueError):
        non_overlapping(np.arange(3), 0)


# --- Basel traffic light -----------------------------------------------------------------

def test_basel_zone_thresholds():
    assert [basel_zone(x) for x in (0, 4, 5, 9, 10, 25)] == [
        "green", "green", "yellow", "yellow", "red", "red"]
    # The Basel definition: yellow from the count whose Bin(250, 1%) CDF reaches 95%, red
    # from the one reaching 99.99%.
    cdf = stats.binom.cdf(np.arange(20), 250, 0.01)
    assert BASEL_YELLOW_FROM == int(np.argmax(cdf >= 0.95))
    assert BASEL_RED_FROM == int(np.argmax(cdf >= 0.9999))


def test_basel_zones_cut_blocks_of_250_from_the_first_date():
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + 600)
    h = np.zeros(600, bool)
    h[[3, 50, 100, 200]] = True                 # block 1: 4 -> green
    h[260:265] = True                           # block 2: 5 -> yellow
    h[500:512] = True                           # last 100 days: 12, but incomplete
    zones = basel_zones(days, h)
    assert [(z["n"], z["exceptions"], z["zone"], z["complete"]) for z in zones] == [
        (250, 4, "green", True), (250, 5, "yellow", True), (100, 12, None, False)]
    assert zones[0]["start"] == "2020-01-01" and zones[0]["end"] == str(days[249])
    assert zones[2]["end"] == str(days[-1])
    as_dates = basel_zones([d.astype(dt.date) for d in days], h)
    assert as_dates == zones
    red = basel_zones(days[:250], _hit_seq(250, 10))
    assert red[0]["zone"] == "red"


# --- scoring functions ---------------------------------------------------------------------

def test_tick_loss_is_smallest_at_the_true_quantile():
    rng = np.random.default_rng(11)
    r = rng.normal(0.0, 0.01, size=200_000)
    true_var = -stats.norm.ppf(0.01, scale=0.01)
    at = tick_loss(r, np.full(r.size, true_var), 0.99).mean()
    for wrong in (0.8 * true_var, 1.2 * true_var):
        assert tick_loss(r, np.full(r.size, wrong), 0.99).mean() > at
    # The formula on two points, either side of q = -0.02 at alpha = 1%.
    np.testing.assert_allclose(tick_loss([-0.03, 0.01], [0.02, 0.02], 0.99),
                               [(0.01 - 1) * -0.01, 0.01 * 0.03])
    assert np.all(tick_loss(r[:1000], np.full(1000, true_var), 0.99) >= 0)


def test_fz0_loss_prefers_the_true_var_and_es():
    rng = np.random.default_rng(12)
    r = rng.normal(0.0, 0.01, size=200_000)
    alpha = 0.025
    z = stats.norm.ppf(alpha)
    var, es = -0.01 * z, 0.01 * stats.norm.pdf(z) / alpha
    ones = np.ones(r.size)
    at = fz0_loss(r, var * ones, es * ones, 0.975).mean()
    for wrong_es in (0.8 * es, 1.25 * es):
        assert fz0_loss(r, var * ones, wrong_es * ones, 0.975).mean() > at
    assert fz0_loss(r, 0.8 * var * ones, 0.8 * es * ones, 0.975).mean() > at
    # One point by hand: r = -0.04, v = -0.02, e = -0.03.
    expected = -1 / (alpha * -0.03) * (-0.02 + 0.04) + (-0.02 / -0.03) + np.log(0.03) - 1
    assert fz0_loss([-0.04], [0.02], [0.03], 0.975)[0] == pytest.approx(expected)
    assert np.isnan(fz0_loss([0.01, np.nan], [0.0, 0.02], [0.0, 0.03], 0.975)).all()


# --- Acerbi–Szekely ------------------------------------------------------------------------

def test_t_null_matches_the_forecast_var_and_es():
    var, es = np.array([0.02, 0.05]), np.array([0.026, 0.07])
    loc, scale = t_location_scale(var, es, 0.025, df=5)
    for i in range(2):
        dist = stats.t(5, loc=loc[i], scale=scale[i])
        q = dist.ppf(0.025)
        tail_mean = integrate.quad(lambda x, d=dist: x * d.pdf(x), -np.inf, q)[0] / 0.025
        assert q == pytest.approx(-var[i], rel=1e-9)
        assert -tail_mean == pytest.approx(es[i], rel=1e-6)


def _t_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """t(5) returns with a volatility that moves, and their true VaR and ES at 97.5%."""
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(0.3 * np.sin(np.arange(n) / 50))
    r = sigma * rng.standard_t(5, size=n)
    q = stats.t.ppf(0.025, 5)
    m = stats.t.pdf(q, 5) * (5 + q * q) / (4 * 0.025)
    return r, -sigma * q, sigma * m


def test_acerbi_szekely_accepts_the_true_es_and_rejects_an_underestimate():
    r, var, es = _t_sample(2500, seed=21)
    right = acerbi_szekely(r, var, es, 0.975, rng=1)
    assert right["p"] > 0.05 and right["reject_5pct"] is False and right["n"] == 2500
    assert abs(right["z2"]) < 0.3
    low = acerbi_szekely(r, 0.7 * var, 0.7 * es, 0.975, rng=1)
    assert low["p"] < 0.05 and low["reject_5pct"] is True and low["z2"] < -0.7
    assert acerbi_szekely(r, var, es, 0.975, rng=1) == right  # seeded: reproducible


def test_z2_by_its_definition_and_nan_rows():
    r = np.array([-0.05, 0.01, -0.02, np.nan])
    var, es = np.array([0.03, 0.03, 0.03, 0.03]), np.array([0.04, 0.04, 0.04, 0.04])
    out = acerbi_szekely(r, var, es, 0.975, rng=0, simulations=50)
    assert out["n"] == 3
    assert out["z2"] == pytest.approx(-0.05 / (3 * 0.025 * 0.04) + 1)
    assert out["z2"] == z2_statistic(r[:3], var[:3], es[:3], 0.025)
    empty = acerbi_szekely([np.nan], [0.1], [0.2], 0.975)
    assert empty["n"] == 0 and empty["reject_5pct"] is None


# --- Diebold–Mariano -----------------------------------------------------------------------

def test_dm_of_a_model_with_itself_is_one():
    loss = np.random.default_rng(0).random(300)
    assert diebold_mariano(loss, loss) == (0.0, 1.0)
    assert diebold_mariano(loss, loss, horizon=10) == (0.0, 1.0)


def test_dm_at_one_day_is_the_one_sample_t_test():
    rng = np.random.default_rng(7)
    a, b = rng.random(400), rng.random(400) + 0.02
    stat, p = diebold_mariano(a, b)
    ref = stats.ttest_1samp(a - b, 0.0)
    assert stat == pytest.approx(ref.statistic, rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-8)


def test_dm_finds_a_clearly_better_model_also_with_overlap():
    rng = np.random.default_rng(8)
    r = rng.normal(0, 0.01, size=1500)
    good = tick_loss(r, np.full(r.size, 0.0233), 0.99)
    bad = tick_loss(r, np.full(r.size, 0.012), 0.99)
    stat, p = diebold_mariano(good, bad)
    assert stat < 0 and p < 0.01
    # Overlapping 10-day losses: a moving sum of i.i.d. noise plus a difference in mean.
    e = rng.normal(size=1509)
    d = np.convolve(e, np.ones(10), mode="valid") + 1.0
    assert diebold_mariano(d, np.zeros(d.size), horizon=10)[1] < 0.01
    noise = np.convolve(rng.normal(size=1509), np.ones(10), mode="valid")
    assert diebold_mariano(noise, np.zeros(noise.size), horizon=10)[1] > 0.01
    assert diebold_mariano(np.append(good, np.nan), np.append(bad, 0.0)) == (stat, p)


def test_dm_keeps_its_size_on_overlapping_ten_day_losses():
    # Under the null, 10-day losses from daily origins are an MA(9): the test must reject
    # about 5% of the time, not more (equal-weight long-run variance over 9 lags).
    p = [diebold_mariano(np.convolve(np.random.default_rng(s).normal(size=509), np.ones(10),
                                     mode="valid"), np.zeros(500), horizon=10)[1]
         for s in range(400)]
    assert 0.025 <= np.mean(np.array(p) < 0.05) <= 0.085


# --- summarise -----------------------------------------------------------------------------

def _forecasts(n: int, seed: int) -> dict[str, np.ndarray]:
    r, var975, es975 = _t_sample(n, seed)
    scale = var975 / -stats.t.ppf(0.025, 5)
    return {"realized": r, "var_99": -scale * stats.t.ppf(0.01, 5), "var_975": var975,
            "es_975": es975}


def test_summarise_rows_are_json_ready_and_count_without_nan():
    fc = _forecasts(600, seed=31)
    fc["realized"][-5:] = np.nan          # not known yet
    fc["var_99"][10] = np.nan             # a missing forecast
    days = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + 600)
    ref = {k: 1.3 * fc[k] for k in ("var_99", "var_975", "es_975")}
    rows = summarise(days, **fc, horizon=1, reference=ref, seed=4)
    json.dumps(rows, allow_nan=False)
    r99, r975 = rows
    assert (r99["level"], r975["level"]) == (0.99, 0.975)
    assert r99["n"] == 594 and r975["n"] == 595
    exceptions = int(np.sum(fc["realized"][:595] < -fc["var_975"][:595]))
    assert r975["exceptions"] == exceptions == r975["coverage_exceptions"]
    assert r975["expected"] == pytest.approx(595 * 0.025)
    assert r99["coverage_sample"] == "all" and r975["zones"] is None
    assert [z["n"] for z in r99["zones"]] == [250, 250, 94]
    assert sum(z["exceptions"] for z in r99["zones"]) == r99["exceptions"]
    assert "es_test" not in r99 and r975["es_test"]["n"] == 595
    for key in ("kupiec_p", "independence_p", "cc_p", "dm_tick_p"):
        assert 0.0 <= r99[key] <= 1.0 and 0.0 <= r975[key] <= 1.0
    assert 0.0 <= r975["dm_fz0_p"] <= 1.0
    assert isinstance(r975["tick_loss"], float) and isinstance(r975["fz0_loss"], float)
    assert summarise(days, **fc, horizon=1, reference=ref, seed=4) == rows


def test_summarise_at_ten_days_uses_non_overlapping_origins():
    fc = _forecasts(400, seed=32)
    days = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + 400)
    same = {k: fc[k] for k in ("var_99", "var_975", "es_975")}
    rows = summarise(days, **fc, horizon=10, reference=same)
    json.dumps(rows, allow_nan=False)
    for row in rows:
        assert row["coverage_sample"] == "non-overlapping" and row["coverage_n"] == 40
        assert row["n"] == 400 and row["zones"] is None and row["dm_tick_p"] == 1.0
    assert rows[1]["es_test"]["n"] == 40 and rows[1]["dm_fz0_p"] == 1.0
    no_ref = summarise(days, **fc, horizon=10)
    assert no_ref[0]["dm_tick_p"] is None and no_ref[1]["dm_fz0_p"] is None


def test_summarise_with_no_usable_rows_gives_nulls():
    days = np.arange(np.datetime64("2021-01-04"), np.datetime64("2021-01-04") + 3)
    nan = np.full(3, np.nan)
    rows = summarise(days, nan, nan, nan, nan, horizon=1)
    json.dumps(rows, allow_nan=False)
    assert rows[0]["n"] == 0 and rows[0]["kupiec_p"] is None and rows[0]["tick_loss"] is None
    assert rows[1]["es_test"] == {"z2": None, "p": None, "reject_5pct": None, "n": 0}
    with pytest.raises(ValueError):
        summarise(days, nan[:2], nan, nan, nan, horizon=1)
