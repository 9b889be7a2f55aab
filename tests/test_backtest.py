"""``ganjobs backtest`` end to end in a tiny configuration: outputs, no look-ahead, refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ganjobs.backtest.command import run_backtest
from ganjobs.cli import main

BOOK = "name: book\npositions:\n  SPX: 1000\n  WTI: -500\n"
OPTIONS = dict(start="2016-01-04", refit_every=None, n=100, horizons=(1, 5),
               preset="tiny-daily", seed=4, progress=False)


def _prices(tmp_path, last: str | None, name: str) -> str:
    from ganjobs.data.sample import bundled_prices

    p = bundled_prices()
    p = p[p["symbol"].isin(["SPX", "WTI"])]
    if last:
        p = p[p["date"] <= pd.Timestamp(last)]
    (tmp_path / name).mkdir()
    p.to_csv(tmp_path / name / "prices.csv", index=False, float_format="%.17g")
    return str(tmp_path / name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same backtest on prices ending 2016-03-31 and on prices that go on to 2016-05-31
    (origins to 2016-04-15); one fit each (the refit schedule is tested below without the
    GAN, whose training is the slow part)."""
    tmp = tmp_path_factory.mktemp("bt")
    (tmp / "book.yaml").write_text(BOOK)
    short = run_backtest(_prices(tmp, "2016-03-31", "short"), str(tmp / "a"),
                         portfolio=str(tmp / "book.yaml"), **OPTIONS)
    full = run_backtest(_prices(tmp, "2016-05-31", "full"), str(tmp / "b"), end="2016-04-15",
                        portfolio=str(tmp / "book.yaml"), **OPTIONS)
    return tmp, short, full


def _table(url) -> pd.DataFrame:
    return pq.read_table(f"{url}/forecasts.parquet").to_pandas()


def test_outputs_are_published_with_every_model_target_and_level(runs):
    tmp, _, full = runs
    out = tmp / "b"
    assert {p.name for p in out.iterdir()} >= {"forecasts.parquet", "backtest.json",
                                               "report.html", "_SUCCESS"}
    table = pq.read_table(out / "forecasts.parquet")
    assert [str(t) for t in table.schema.types] == [
        "date32[day]", "string", "int32", "string", "double", "double", "double", "double"]
    df = table.to_pandas()
    models = ["ganjobs", "ganjobs-unconditional", "fhs", "garch-t", "hs-250", "hs-500"]
    assert sorted(df["model"].unique()) == sorted(models) and full["models"] == models
    assert list(df["target"].unique()) == ["SPX", "WTI", "book"]
    keys = list(df[["model", "target", "horizon", "date"]].itertuples(index=False, name=None))
    assert keys == sorted(keys)
    assert (df[["var_99", "var_975", "es_975"]].to_numpy() > 0).all()
    assert (df["var_99"] >= df["var_975"]).all() and (df["es_975"] >= df["var_975"]).all()
    assert len(full["results"]) == len(models) * 3 * 2 * 2
    assert full["refit_dates"] == ["2016-01-04"] and full["refit_every"] is None
    summary = json.loads((out / "backtest.json").read_text())
    assert summary["format"] == "ganjobs.backtest/1" and summary["results"] == full["results"]
    html = (out / "report.html").read_text()
    assert "fhs" in html and "book" in html


def test_realized_returns_and_portfolio(runs):
    tmp, _, _ = runs
    from ganjobs.data.sample import bundled_prices

    df = _table(tmp / "b")
    p = bundled_prices().pivot(index="date", columns="symbol", values="close")
    p = p[["SPX", "WTI"]].dropna()
    day = pd.Timestamp("2016-02-01")
    i = p.index.get_loc(day)
    spx = p["SPX"].iloc[i + 5] / p["SPX"].iloc[i] - 1
    wti = p["WTI"].iloc[i + 5] / p["WTI"].iloc[i] - 1
    row = df[(df.model == "fhs") & (df.horizon == 5) & (df.date == day.date())]
    got = row.set_index("target")["realized"]
    assert got["SPX"] == pytest.approx(spx, rel=1e-9)
    assert got["book"] == pytest.approx((1000 * spx - 500 * wti) / 1500, rel=1e-9)
    # Where the prices end, the last origin's 5-day return is null, not made up.
    short = _table(tmp / "a")
    last = short[(short.horizon == 5) & (short.date == short.date.max())]
    assert last["realized"].isna().all()


def test_no_look_ahead_forecasts_do_not_depend_on_later_prices(runs):
    tmp, _, _ = runs
    a, b = _table(tmp / "a"), _table(tmp / "b")
    cols = ["model", "target", "horizon", "date", "var_99", "var_975", "es_975"]
    b = b[b.date <= a.date.max()][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b)


def test_the_conditional_model_moves_with_the_market_and_the_long_run_one_does_not(runs):
    tmp, _, _ = runs
    df = _table(tmp / "b")
    g = df[(df.model == "ganjobs") & (df.target == "SPX") & (df.horizon == 1)]
    u = df[(df.model == "ganjobs-unconditional") & (df.target == "SPX") & (df.horizon == 1)]
    assert g["var_99"].nunique() == len(g)
    assert u["var_99"].nunique() == 1  # one long-run sample per fit


def test_no_look_ahead_across_refits(tmp_path):
    """Baselines refitted every 20 days: forecasts up to X do not move when prices go on."""
    opts = {**OPTIONS, "refit_every": 20, "models": ["fhs", "hs-250"]}
    a = run_backtest(_prices(tmp_path, "2016-03-31", "a"), str(tmp_path / "ra"), **opts)
    b = run_backtest(_prices(tmp_path, "2016-05-31", "b"), str(tmp_path / "rb"), **opts)
    assert len(a["refit_dates"]) == 4 and b["refit_dates"][:4] == a["refit_dates"]
    ta, tb = _table(tmp_path / "ra"), _table(tmp_path / "rb")
    cols = ["model", "target", "horizon", "date", "var_99", "var_975", "es_975"]
    tb = tb[tb.date <= ta.date.max()][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(ta[cols].reset_index(drop=True), tb)


@pytest.mark.parametrize("extra, msg", [
    (["--start", "2016-31-01"], "--start '2016-31-01': give a date"),
    (["--start", "2030-01-02"], "no price dates between"),
    (["--start", "2016-01-04", "--n", "10"], "--n must be an integer of at least 100"),
    (["--start", "2016-01-04", "--refit-every", "soon"], "--refit-every: 'soon'"),
    (["--start", "2016-01-04", "--horizons", "1,0"], "--horizons must be distinct days"),
    (["--start", "2016-01-04", "--models", "ganjobs-unconditional,fhs"], "needs model ganjobs"),
    (["--start", "2016-01-04", "--models", "magic"], "magic"),
    (["--start", "2016-01-04", "--portfolio", "BOOK"], "not in the prices"),
])
def test_bad_input_refused_before_anything_is_written(tmp_path, sample_dir, capsys, extra,
                                                      msg):
    book = tmp_path / "book.yaml"
    book.write_text("name: b\npositions:\n  XYZ: 1\n")
    out = tmp_path / "out"
    args = [a.replace("BOOK", str(book)) for a in extra]
    code = main(["backtest", "--prices", sample_dir, "--out", str(out), "--steps", "1",
                 "--preset", "tiny-daily", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and msg in err[-1]
    assert not out.exists() or not any(out.iterdir())


def test_refit_schedule_counts_from_the_start():
    from ganjobs.backtest.engine import refit_positions

    assert list(refit_positions(10, 100, 40)) == [10, 50, 90]
    assert list(refit_positions(10, 100, None)) == [10]
    assert np.array_equal(refit_positions(10, 95, 40), refit_positions(10, 200, 40)[:3])
