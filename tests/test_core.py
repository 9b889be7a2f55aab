"""The shared concepts: one VaR/ES rule, windows, seeds, the training/holdout split, version."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ganjobs.core.risk import expected_shortfall, level_key, lower_quantiles, value_at_risk, var_es
from ganjobs.core.seeds import SEED_RANGE, block_seed, check_seed, derive_seed, stream
from ganjobs.core.split import holdout_count, read_split, split_holdout
from ganjobs.core.version import code_version
from ganjobs.core.windows import chunks, sliding_windows
from ganjobs.data.prices import MarketData
from ganjobs.errors import GanjobsError


def test_quantile_is_numpys_inverted_cdf_away_from_representation_error():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(997)
    levels = [0.001, 0.013, 0.025, 0.5, 0.77, 0.99]
    np.testing.assert_array_equal(lower_quantiles(x, levels),
                                  np.quantile(x, levels, method="inverted_cdf"))


def test_quantile_ignores_the_representation_error_of_one_minus_a_level():
    x = np.arange(1.0, 101.0)  # n·0.05 = 5 exactly; 1 − 0.95 is 0.05000000000000004
    assert lower_quantiles(x, [1 - 0.95])[0] == 5.0
    assert value_at_risk(-x, 0.95) == 96.0


def test_var_es_of_returns_and_of_pnl_agree():
    rng = np.random.default_rng(1)
    x = rng.standard_t(4, size=5000)
    var, es = var_es(x, 0.01)
    assert var == value_at_risk(x, 0.99)
    assert es == expected_shortfall(x, 0.99)
    assert es >= var > 0
    assert all(np.isnan(v) for v in var_es(np.empty(0), 0.01))
    assert level_key(0.975) == "97.5" and level_key(0.99) == "99"


def test_es_includes_ties_with_the_var():
    x = np.array([-3.0, -3.0, -1.0, 0.0, 2.0])
    assert value_at_risk(x, 0.8) == 3.0
    assert expected_shortfall(x, 0.8) == 3.0  # both tied outcomes are in the tail
    assert var_es(x.reshape(5, 1), 0.2) == (3.0, 3.0)  # any shape is flattened


def test_sliding_windows_and_chunks():
    x = np.arange(10.0).reshape(5, 2)
    w = sliding_windows(x, 3)
    assert w.shape == (3, 3, 2)
    np.testing.assert_array_equal(w[1], x[1:4])
    assert sliding_windows(np.arange(5.0), 3).shape == (3, 3, 1)
    assert sliding_windows(np.arange(2.0), 3).shape == (0, 3, 1)
    np.testing.assert_array_equal(chunks(np.arange(7.0), 3), [[0, 1, 2], [3, 4, 5]])
    assert chunks(np.arange(2.0), 3).shape == (1, 2)


def test_one_seed_range_and_named_streams():
    assert check_seed(0) == 0 and check_seed(np.int64(5)) == 5
    assert check_seed(SEED_RANGE - 1) == SEED_RANGE - 1
    for bad in (-1, SEED_RANGE, True, 1.5, "3"):
        with pytest.raises(GanjobsError, match=r"--seed must be an integer in \[0, 2\*\*63\)"):
            check_seed(bad)
    with pytest.raises(GanjobsError, match="--other"):
        check_seed(-1, "--other")
    a1 = stream(7, "garch").standard_normal(4)
    assert np.array_equal(a1, stream(7, "garch").standard_normal(4))
    assert not np.array_equal(a1, stream(7, "bootstrap").standard_normal(4))
    assert not np.array_equal(a1, stream(8, "garch").standard_normal(4))
    assert 0 <= derive_seed(3, 0, 1) < 2**63 and derive_seed(3, 0) != derive_seed(3, 1)
    assert block_seed(3, 0) != block_seed(3, 1)


def _market(n_prices: int) -> MarketData:
    dates = pd.bdate_range("2020-01-01", periods=n_prices).to_numpy("datetime64[ns]")
    closes = np.exp(np.cumsum(np.full((n_prices, 2), 0.001), axis=0))
    return MarketData(returns=np.diff(np.log(closes), axis=0), dates=dates, symbols=["A", "B"],
                      closes=closes, fingerprint="0" * 64, source="mem://prices")


def test_split_recorded_at_training_is_what_evaluation_reads_back():
    md = _market(101)  # 100 returns
    split = split_holdout(md, 0.1, min_train=10)
    assert (split.n_train, split.n_holdout) == (90, 10) == (90, holdout_count(100, 0.1))
    rec = split.record
    assert rec["n_train_returns"] == 90 and rec["holdout_fraction"] == 0.1
    back = read_split(md.dates, rec)
    assert back.source == "manifest" and back.note is None
    np.testing.assert_array_equal(np.flatnonzero(back.train_mask), np.arange(90))
    np.testing.assert_array_equal(np.flatnonzero(back.holdout_mask), np.arange(90, 100))
    assert back.span(md.dates, "train") == {"first_date": rec["first_date"],
                                             "last_date": rec["last_date"], "n_returns": 90}
    assert back.span(md.dates, "holdout")["first_date"] == rec["last_date"]
    assert back.span(md.dates, "holdout")["last_date"] == rec["holdout_last_date"]
    # Prices that end at the training window: no holdout, and the note says so.
    cut = read_split(md.dates[:91], rec)
    assert not cut.holdout_mask.any() and "no holdout" in cut.note


def test_split_without_dates_assumes_the_default_share_and_says_so():
    md = _market(101)
    back = read_split(md.dates, {"location": "x"})
    assert back.source == "fallback" and "may have seen" in back.note
    assert back.train_mask.sum() == 90 and back.holdout_mask.sum() == 10
    with pytest.raises(GanjobsError, match="data.first_date"):
        read_split(md.dates, {"first_date": "not a date", "last_date": "2020-02-01"})
    with pytest.raises(GanjobsError, match="need at least 95"):
        split_holdout(md, 0.1, min_train=95)
    assert split_holdout(md, 0.0, min_train=10).record["holdout_first_date"] is None


def test_code_version_names_package_and_sources():
    assert re.fullmatch(r"[\w.]+\+src\.[0-9a-f]{12}", code_version())


def test_training_split_follows_the_data_section():
    from ganjobs.config import resolve_config
    from ganjobs.core.split import split_for_training

    md = _market(101)
    cfg = resolve_config("tiny")  # window 16, holdout 10%
    split = split_for_training(md, cfg.data)
    assert (split.n_train, split.n_holdout) == (90, 10)
    with pytest.raises(GanjobsError, match="need at least 16"):
        split_for_training(_market(18), cfg.data)
