"""Histories with unchanged prices: the ingest note, tick rounding, and a body calibration
that spreads the data's point mass at zero instead of reproducing it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ganjobs.cli import main
from ganjobs.config import resolve_config
from ganjobs.core.split import split_for_training
from ganjobs.data.prices import load_market_data
from ganjobs.data.sample import bundled_prices
from ganjobs.data.ticks import ZERO_SHARE_NOTE, round_to_tick, zero_return_profile
from ganjobs.errors import DataError, GanjobsError
from ganjobs.model.marginal import BODY_PROBS, apply_body, fit_body
from ganjobs.model.preprocess import Preprocessor

PROBS = np.asarray(BODY_PROBS)
EPS = 1e-5  # "near zero", as a user measured it on scenario days


def _stale_csv(path, n: int = 1500) -> None:
    """Two symbols: STALE repeats its previous close on 10% of days, 80% of those in the
    first year; LIVE moves every day."""
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2010-01-04", periods=n)
    stale = rng.random(n - 1) < np.where(np.arange(n - 1) < 260, 0.46, 0.0255)
    stale[700:707] = True  # the longest run: 7 unchanged days
    stale[707] = False
    r_stale = np.where(stale, 0.0, rng.normal(0, 0.01, n - 1))
    r_live = rng.normal(0, 0.01, n - 1)
    frames = [pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": sym,
                            "close": 50 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))})
              for sym, r in (("STALE", r_stale), ("LIVE", r_live))]
    pd.concat(frames).to_csv(path, index=False)


def test_ingest_notes_where_a_symbols_zero_returns_sit(tmp_path, capsys):
    _stale_csv(tmp_path / "p.csv")
    data = load_market_data(str(tmp_path / "p.csv"))
    zero = data.returns[:, data.symbols.index("STALE")] == 0
    assert zero.mean() > ZERO_SHARE_NOTE and np.mean(data.returns[:, 0] == 0) == 0
    assert len(data.notes) == 1 and data.notes[0].startswith("STALE: ")
    note = data.notes[0]
    assert f"{zero.mean():.1%} of daily returns are exactly zero ({zero.sum()} of " in note
    assert "longest run 7 day(s) to" in note and "(2010)" in note  # the worst year
    p = zero_return_profile(data.returns[:, 1], data.dates[1:])
    assert p.longest_run == 7 and p.by_year[2010] > 0.3 > 0.05 > p.by_year[2012]
    assert p.half_by < "2011-01-01"  # most of them in the first year
    assert main(["validate", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("note: ")] == [f"note: {note}"]


def test_the_bundled_indices_stay_quiet_and_their_record_is_unchanged(sample_dir):
    data = load_market_data(sample_dir)
    assert data.notes == []  # WTI aligned on the indices' dates: 0.8% zero returns
    assert np.mean(data.returns == 0, axis=0).max() < ZERO_SHARE_NOTE
    assert data.data_record() == {"location": sample_dir, "sha256": data.fingerprint,
                                  "first_date": data.first_date,
                                  "last_date": data.last_date}
    # WTI alone since 1986 has 1.6%: said once, for WTI.
    wti = load_market_data(sample_dir, ["WTI"])
    assert len(wti.notes) == 1 and wti.notes[0].startswith("WTI: 1.6% ")


def test_rounding_the_sp500_to_eighths_before_decimalisation():
    spx = bundled_prices().query("symbol == 'SPX'").reset_index(drop=True)
    eighths = round_to_tick(spx, 1 / 8, before="2001-01-01")
    early = (eighths["date"] < "2001-01-01").to_numpy()
    assert np.all(eighths["close"][early] * 8 == np.round(eighths["close"][early] * 8))
    pd.testing.assert_series_equal(eighths["close"][~early], spx["close"][~early])
    # At 1,200-1,500 points a close rarely moves by less than 1/16: hardly any zero.
    r = np.diff(np.log(eighths["close"].to_numpy()))
    assert 0 < np.mean(r == 0) < 0.002
    # As a share priced at a hundredth of the index (about $14), eighths make many.
    share = spx.assign(close=spx["close"] / 100)
    r = np.diff(np.log(round_to_tick(share, 1 / 8, "2001-01-01")["close"].to_numpy()))
    assert np.mean(r[: early.sum() - 1] == 0) > 0.25
    with pytest.raises(DataError, match="tick"):
        round_to_tick(spx, 0.0)
    with pytest.raises(DataError, match="rounds to 0"):
        round_to_tick(share, 100.0)


def _with_atom(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Continuous daily returns and the same with every |r| < 0.0008 recorded as 0 (6%)."""
    x = np.random.default_rng(seed).standard_t(4, (n, 1)) * 0.01
    return x, np.where(np.abs(x) < 0.0008, 0.0, x)


def test_calibration_spreads_the_datas_atom_instead_of_copying_it():
    continuous, target = _with_atom(60_000)
    rng = np.random.default_rng(1)
    body = fit_body(rng.standard_normal((100_000, 1)), target)
    assert np.all(np.diff(body["target"][0]) > 0)
    y = apply_body(rng.standard_normal((400_000, 1)), body)[:, 0]
    at_atom = np.mean(np.abs(y - body["shift"][0]) <= EPS)  # where the atom was mapped to
    atom, smooth = np.mean(target == 0), np.mean(np.abs(continuous) <= EPS)
    assert atom > 0.05 and smooth < 0.001
    assert 0.5 * smooth < at_atom < 2 * smooth
    # Knots away from the atom are the data's quantiles, bit for bit.
    plain = np.quantile(target, PROBS, axis=0).T[0]
    far = (plain < -0.0015) | (plain > 0.0015)
    np.testing.assert_array_equal(np.asarray(body["target"][0])[far], plain[far])


@pytest.mark.parametrize("case", ["atom at the minimum", "many adjacent atoms"])
def test_calibration_stays_strictly_increasing_with_atoms_anywhere(case):
    x, _ = _with_atom(30_000, seed=2)
    # A price that never falls (zero or positive returns), or returns on a coarse grid.
    target = np.where(x < 0.005, 0.0, x) if case == "atom at the minimum" else (
        np.round(x / 0.002) * 0.002)
    assert np.any(np.diff(np.quantile(target, PROBS, axis=0).T) == 0)
    sample = np.random.default_rng(3).standard_normal((50_000, 1))
    body = fit_body(sample, target)
    knots = np.asarray(body["target"][0])
    assert np.all(np.diff(knots) > 0)
    assert target.min() <= knots[0] and knots[-1] <= target.max()
    grid = np.linspace(-6, 6, 200_001)[:, None]
    assert np.all(np.diff(apply_body(grid, body)[:, 0]) > 0)


def test_without_ties_the_fit_is_unchanged_bit_for_bit():
    rng = np.random.default_rng(5)
    target = np.column_stack([rng.standard_t(3, 20_000), rng.laplace(0.1, 0.5, 20_000)])
    sample = rng.standard_normal((40_000, 2))
    body = fit_body(sample, target)
    assert body["target"] == np.quantile(target, PROBS, axis=0).T.tolist()
    assert fit_body(sample, target) == body
    with pytest.raises(GanjobsError, match="constant"):
        fit_body(sample[:, :1], np.ones((100, 1)))


def test_the_bundled_configurations_keep_their_knots_but_wti_alone(sample_dir):
    """The demo (all three jointly) and the indices alone have no flat knot, so their
    models are those of before; WTI alone since 1986 (1.7% zero returns in its training
    window) has one, now spread."""
    cfg = resolve_config("default")
    for symbols in (["SPX", "NDX", "WTI"], ["SPX"], ["NDX"], ["WTI"]):
        split = split_for_training(load_market_data(sample_dir, symbols), cfg.data)
        pre = Preprocessor.fit(split.train, cfg.preprocess.lambert_w)
        target = pre.transform(split.train).astype(np.float32).astype(float)
        plain = np.quantile(target, PROBS, axis=0).T
        fitted = np.asarray(fit_body(np.random.default_rng(0).standard_normal(
            (20_000, len(symbols))), target)["target"])
        flat = np.diff(plain, axis=1) <= 0
        assert flat.any() == (symbols == ["WTI"])
        assert np.all(np.diff(fitted, axis=1) > 0)
        moved = fitted != plain
        assert moved.sum() == (2 if symbols == ["WTI"] else 0)  # the two tied knots
