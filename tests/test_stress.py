"""Stress testing: exact P&L, closed-form VaR/ES, streaming == in-memory, history, CLI, refusals.

Every scenario set here is written by hand in the scenario-set layout of docs/formats.md, so
these tests do not depend on training or generation.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

import ganjobs.stress.accumulator as accumulator_mod
import ganjobs.stress.sources as sources_mod
from ganjobs.cli import main
from ganjobs.core.risk import expected_shortfall, lower_quantiles, value_at_risk
from ganjobs.core.windows import sliding_windows
from ganjobs.data.portfolio import parse_portfolio
from ganjobs.errors import GanjobsError
from ganjobs.io.storage import read_bytes
from ganjobs.scenarios import FORMAT, open_scenarios
from ganjobs.stress.accumulator import StressAccumulator
from ganjobs.stress.command import run_stress
from ganjobs.stress.sources import stress_scenario_set

# --------------------------------------------------------------------------- helpers


def write_set(root: Path, paths: np.ndarray, symbols: list[str], parts: int = 1,
              success: bool = True, data: dict | None = None) -> str:
    """Write ``paths`` (N, H, k) as a scenario set; return its location."""
    root.mkdir(parents=True, exist_ok=True)
    n, h, k = paths.shape
    entries = []
    for i, ids in enumerate(np.array_split(np.arange(n), parts)):
        cols = {"scenario": pa.array(np.repeat(ids, h).astype(np.int64)),
                "step": pa.array(np.tile(np.arange(1, h + 1, dtype=np.int32), len(ids)))}
        for j, s in enumerate(symbols):
            cols[s] = pa.array(paths[ids, :, j].astype(np.float32).ravel())
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf)
        name = f"part-{i:05d}.parquet"
        (root / name).write_bytes(buf.getvalue())
        entries.append({"name": name, "rows": len(ids) * h, "sha256": "x"})
    manifest = {"format": FORMAT, "symbols": symbols, "horizon": h, "n_scenarios": n,
                "return_kind": "log", "seed": 0, "parts": entries}
    if data is not None:
        manifest["data"] = data
    (root / "manifest.json").write_text(json.dumps(manifest))
    if success:
        (root / "_SUCCESS").write_bytes(b"")
    return str(root)


def write_portfolio(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


PORT = """
name: test-book
base_value: 1000000
currency: USD
positions:
  A: 600000
  B: -200000
"""


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def reference(paths: np.ndarray, notionals: np.ndarray, horizons: list[int], threshold: float,
              k: int) -> dict:
    """Independent in-memory computation on the whole (float32-stored) array."""
    cum = np.cumsum(paths.astype(np.float32).astype(np.float64), axis=1)
    pnl = np.stack([np.expm1(cum[:, h - 1]) @ notionals for h in horizons], axis=1)
    worst = [np.lexsort((np.arange(len(pnl)), pnl[:, j]))[:k] for j in range(len(horizons))]
    hmax = horizons[-1]
    breach = pnl[:, -1] <= -threshold
    mean_path = np.expm1(cum[breach, :hmax]).mean(axis=0)
    return {"pnl": pnl, "worst": worst, "breach": breach, "mean_path": mean_path, "cum": cum}


# --------------------------------------------------------------------------- measures


def test_quantile_var_es_conventions():
    x = np.arange(1.0, 201.0) - 100.0  # -99 .. 100, 200 values
    # q_{0.05} is the ceil(200*0.05) = 10th smallest = -90 (not the 11th: 1-0.95 > 0.05 in fp)
    assert value_at_risk(x, 0.95) == 90.0
    assert value_at_risk(x, 0.99) == 98.0  # 2nd smallest
    assert expected_shortfall(x, 0.975) == pytest.approx(-np.mean(x[:5]))  # 5 smallest
    assert expected_shortfall(x, 0.99) == pytest.approx(98.5)
    ref = np.quantile(x, [0.013, 0.5, 0.77], method="inverted_cdf")
    np.testing.assert_array_equal(lower_quantiles(x, [0.013, 0.5, 0.77]), ref)
    # a single value: everything equals it
    one = np.array([-3.0])
    assert value_at_risk(one, 0.99) == 3.0 == expected_shortfall(one, 0.99)


def test_constant_returns_give_exact_pnl(tmp_path):
    """Scenario i has return r_i on A and a fixed return on B at every step: P&L is exact."""
    n, h = 200, 20
    r = (np.arange(n) - 100) * 1e-4  # scenario 0 worst for the long A position
    paths = np.zeros((n, h, 2))
    paths[:, :, 0] = r[:, None]
    paths[:, :, 1] = 0.003
    sset = write_set(tmp_path / "set", paths, ["A", "B"], parts=3)
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    out = str(tmp_path / "out")
    res = run_stress(sset, port, out)["results"]

    assert res["horizons"] == [1, 10, 20]
    assert res["portfolio"]["loss_threshold"] == pytest.approx(0.1 * 800000)
    r32 = r.astype(np.float32).astype(np.float64)
    b32 = float(np.float32(0.003))
    pnl_tab = pq.read_table(os.path.join(out, "pnl.parquet")).to_pandas()
    assert list(pnl_tab.columns) == ["scenario", "pnl_h1", "pnl_h10", "pnl_h20"]
    for hh in (1, 10, 20):
        exact = 600000 * np.expm1(hh * r32) - 200000 * np.expm1(hh * b32)
        np.testing.assert_allclose(pnl_tab[f"pnl_h{hh}"], exact, rtol=1e-11, atol=1e-7)
        m = res["sources"]["ganjobs"]["horizons"][str(hh)]
        srt = np.sort(exact)
        assert m["var"]["95"] == pytest.approx(-srt[9], rel=1e-11)
        assert m["var"]["99"] == pytest.approx(-srt[1], rel=1e-11)
        assert m["es"]["97.5"] == pytest.approx(-srt[:5].mean(), rel=1e-11)
        assert m["es"]["99"] == pytest.approx(-srt[:2].mean(), rel=1e-11)
        assert m["mean"] == pytest.approx(exact.mean(), rel=1e-10)
        assert m["prob_loss_beyond_threshold"] == pytest.approx(np.mean(exact <= -80000))
        worst = m["worst"]
        assert [w["scenario"] for w in worst] == list(range(10))
        assert worst[0]["cum_return"]["A"] == pytest.approx(np.expm1(hh * r32[0]), rel=1e-12)
        assert worst[0]["path"]["B"] == pytest.approx(np.expm1(np.arange(1, hh + 1) * b32))
        assert len(worst[0]["pnl_path"]) == hh
        assert worst[0]["pnl_path"][-1] == pytest.approx(worst[0]["pnl"])
    # 20 days: loss >= 80,000 when 600000*expm1(20 r) - 200000*expm1(0.06) <= -80000
    rs = res["sources"]["ganjobs"]["reverse_stress"]
    exact20 = 600000 * np.expm1(20 * r32) - 200000 * np.expm1(20 * b32)
    breach = exact20 <= -80000
    assert rs["n_breach"] == breach.sum() > 0
    assert rs["mean_cum_return"]["A"][-1] == pytest.approx(np.expm1(20 * r32[breach]).mean())
    assert rs["mean_pnl"] == pytest.approx(exact20[breach].mean())
    assert res["sources"]["historical"]["skipped"]


def test_identical_scenarios(tmp_path):
    """Every scenario the same: VaR = ES = the one loss, worst ids 0..k-1, plot still drawn."""
    paths = np.full((30, 5, 2), -0.01)
    sset = write_set(tmp_path / "set", paths, ["A", "B"], parts=2)
    port = write_portfolio(tmp_path / "p.yaml", "name: c\nbase_value: 1e6\nworst_k: 4\n"
                           "positions: {A: 1e6, B: 1e6}\n")
    res = run_stress(sset, port, str(tmp_path / "out"))["results"]
    m = res["sources"]["ganjobs"]["horizons"]["5"]
    loss = -2e6 * math.expm1(5 * float(np.float32(-0.01)))
    for v in (*m["var"].values(), *m["es"].values()):
        assert v == pytest.approx(loss, rel=1e-12)
    assert [w["scenario"] for w in m["worst"]] == [0, 1, 2, 3]
    assert m["prob_loss_beyond_threshold"] == 0.0  # threshold 200,000 > loss 97,541
    assert res["sources"]["ganjobs"]["reverse_stress"]["n_breach"] == 0
    assert (tmp_path / "out" / "stress.png").stat().st_size > 1000


def test_normal_returns_match_closed_form_var_es(tmp_path):
    """i.i.d. N(mu, s) log returns: P&L = N·(exp(X) − 1), X ~ N(h·mu, √h·s), closed form."""
    rng = np.random.default_rng(42)
    n, h, mu, s, notional = 100_000, 4, 0.0005, 0.01, 1_000_000.0
    paths = rng.normal(mu, s, size=(n, h, 1))
    sset = open_scenarios(write_set(tmp_path / "set", paths, ["X"], parts=2))
    port = parse_portfolio(f"name: n\nbase_value: 1e6\npositions: {{X: {notional}}}\n")
    res = stress_scenario_set(sset, port, [1, 4])
    for j, hh in enumerate([1, 4]):
        m_, sd = hh * mu, math.sqrt(hh) * s
        pnl = res.pnl[:, j]
        for a in (0.95, 0.99):
            z = stats.norm.ppf(1 - a)
            var_true = -notional * math.expm1(m_ + sd * z)
            # quantile standard error: sqrt(p(1-p)/n) / density, in log-return units
            se = math.sqrt(a * (1 - a) / n) / stats.norm.pdf(z) * sd * notional
            assert abs(value_at_risk(pnl, a) - var_true) < 5 * se, (hh, a)
        for a in (0.975, 0.99):
            z = stats.norm.ppf(1 - a)
            # E[exp(X) | X <= m + sd z] = exp(m + sd²/2) Φ(z − sd) / Φ(z)
            cond = math.exp(m_ + sd**2 / 2) * stats.norm.cdf(z - sd) / stats.norm.cdf(z)
            es_true = -notional * (cond - 1)
            tail = pnl[pnl <= -value_at_risk(pnl, a)]
            se = tail.std() / math.sqrt(len(tail)) + 0.01 * es_true / math.sqrt(n * (1 - a))
            assert abs(expected_shortfall(pnl, a) - es_true) < 5 * se, (hh, a)
            assert expected_shortfall(pnl, a) >= value_at_risk(pnl, a)


def test_streaming_equals_in_memory(tmp_path, monkeypatch):
    """Seven uneven parts, chunks of 37 scenarios, tied P&L: same result as one array."""
    monkeypatch.setattr(accumulator_mod, "CHUNK", 37)
    rng = np.random.default_rng(7)
    n, h = 1000, 12
    paths = rng.standard_t(4, size=(n, h, 3)) * 0.01
    paths[[100, 500, 900]] = paths[5]  # exact ties: the id tie-break must hold across parts
    syms = ["A", "B", "C"]
    notionals = np.array([3e5, -1e5, 2e5])
    port = parse_portfolio("name: s\nbase_value: 5e5\nworst_k: 6\nloss_threshold: 20000\n"
                           "horizons: [1, 5, 12]\npositions: {A: 3e5, B: -1e5, C: 2e5}\n")
    many = stress_scenario_set(open_scenarios(write_set(tmp_path / "many", paths, syms, 7)),
                               port, [1, 5, 12])
    monkeypatch.setattr(accumulator_mod, "CHUNK", 10**6)
    one = stress_scenario_set(open_scenarios(write_set(tmp_path / "one", paths, syms, 1)),
                              port, [1, 5, 12])
    ref = reference(paths, notionals, [1, 5, 12], 20000.0, 6)
    for res in (many, one):
        np.testing.assert_allclose(res.pnl, ref["pnl"], rtol=1e-12, atol=1e-9)
        for j in range(3):
            np.testing.assert_array_equal(res.worst[j].ids, ref["worst"][j])
            np.testing.assert_allclose(res.worst[j].cum, ref["cum"][ref["worst"][j]], rtol=1e-12)
        assert res.breach_count == ref["breach"].sum() > 10
        np.testing.assert_allclose(res.breach_sum_cum / res.breach_count, ref["mean_path"],
                                   rtol=1e-10, atol=1e-14)
    # tie at the worst end: 5, 100, 500, 900 share a P&L; ids must come out ascending
    j5 = [i for i in many.worst[2].ids if i in (5, 100, 500, 900)]
    assert j5 == sorted(j5)
    a, b = many.to_dict(), one.to_dict()
    for hh in ("1", "5", "12"):
        assert a["horizons"][hh]["var"] == b["horizons"][hh]["var"]
        assert a["horizons"][hh]["es"] == b["horizons"][hh]["es"]
        assert [w["scenario"] for w in a["horizons"][hh]["worst"]] == \
            [w["scenario"] for w in b["horizons"][hh]["worst"]]


def test_accumulator_refuses_duplicate_and_missing_ids():
    acc = StressAccumulator(4, ["A"], [1.0], [2], 0.1, 2, 1.0)
    acc.update(np.array([0, 1]), np.zeros((2, 2, 1)))
    with pytest.raises(GanjobsError, match="appears twice"):
        acc.update(np.array([1]), np.zeros((1, 2, 1)))
    with pytest.raises(GanjobsError, match="expected 4 scenarios"):
        acc.finalize()
    with pytest.raises(GanjobsError, match="non-finite"):
        acc.update(np.array([2]), np.full((1, 2, 1), np.nan))


def test_stress_var_es_is_the_core_rule_on_the_sets_pnl(tmp_path):
    """One rule: the published VaR, ES and quantiles are ganjobs.core.risk's on the P&L.

    400 scenarios make ``n·0.05`` and ``n·0.025`` integers, where a rule that did not strip
    the representation error of ``1 − α`` would pick the next rank.
    """
    rng = np.random.default_rng(9)
    paths = rng.standard_t(3, size=(400, 6, 2)) * 0.01
    sset = write_set(tmp_path / "set", paths, ["A", "B"], parts=3)
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    out = tmp_path / "out"
    res = run_stress(sset, port, str(out))["results"]
    table = pq.read_table(out / "pnl.parquet").to_pandas()
    for hh in res["horizons"]:
        pnl = table[f"pnl_h{hh}"].to_numpy()
        m = res["sources"]["ganjobs"]["horizons"][str(hh)]
        assert m["var"] == {"95": value_at_risk(pnl, 0.95), "99": value_at_risk(pnl, 0.99)}
        assert m["es"] == {"97.5": expected_shortfall(pnl, 0.975),
                           "99": expected_shortfall(pnl, 0.99)}
        levels = [float(k) for k in m["quantiles"]]
        assert list(m["quantiles"].values()) == lower_quantiles(pnl, levels).tolist()


# --------------------------------------------------------------------------- historical


def _prices_csv(path: Path, dates: pd.DatetimeIndex, closes: dict[str, np.ndarray]) -> str:
    rows = [pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": s, "close": c})
            for s, c in closes.items()]
    pd.concat(rows).to_csv(path, index=False)
    return str(path)


def test_historical_windows_in_training_window(tmp_path):
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=120)
    logp = np.cumsum(rng.normal(0, 0.01, size=(120, 2)), axis=0)
    prices = _prices_csv(tmp_path / "p.csv", dates,
                         {"A": 100 * np.exp(logp[:, 0]), "B": 50 * np.exp(logp[:, 1])})
    # the set was trained on dates[10]..dates[99]: history must use only those closes
    data = {"first_date": str(dates[10].date()), "last_date": str(dates[99].date())}
    sset = write_set(tmp_path / "set", rng.normal(0, 0.01, (300, 5, 2)), ["A", "B"], data=data)
    port = write_portfolio(tmp_path / "p.yaml", PORT + "horizons: [1, 5]\nworst_k: 3\n")
    res = run_stress(sset, port, str(tmp_path / "out"), prices=prices, baselines=[])["results"]
    hist = res["sources"]["historical"]
    assert (hist["first_date"], hist["last_date"], hist["n_returns"]) == (
        data["first_date"], data["last_date"], 89)
    closes = np.stack([100 * np.exp(logp[10:100, 0]), 50 * np.exp(logp[10:100, 1])], axis=1)
    ret = np.diff(np.log(closes), axis=0)
    for hh in (1, 5):
        w = sliding_windows(ret, hh).sum(axis=1)  # (89 - h + 1, 2)
        pnl = 600000 * np.expm1(w[:, 0]) - 200000 * np.expm1(w[:, 1])
        m = hist["horizons"][str(hh)]
        assert m["n"] == 89 - hh + 1
        assert m["var"]["99"] == pytest.approx(value_at_risk(pnl, 0.99), rel=1e-9)
        assert m["es"]["97.5"] == pytest.approx(expected_shortfall(pnl, 0.975), rel=1e-9)
        i = int(np.argmin(pnl))
        assert m["worst"][0]["scenario"] == i
        assert m["worst"][0]["start_date"] == str(dates[10 + i].date())
        assert m["worst"][0]["end_date"] == str(dates[10 + i + hh].date())
    assert "baseline:gaussian" not in res["sources"]
    assert res["baselines_skipped"] == "no baselines requested"


def test_historical_window_without_recorded_dates_is_the_default_split(tmp_path):
    """No training dates in the manifest: history uses read_split's default window (the
    first 90% of the returns), and says so in the results and the folder's manifest."""
    rng = np.random.default_rng(8)
    dates = pd.bdate_range("2021-01-01", periods=121)  # 120 returns: 108 kept, 12 held out
    logp = np.cumsum(rng.normal(0, 0.01, size=(121, 2)), axis=0)
    prices = _prices_csv(tmp_path / "p.csv", dates,
                         {"A": 100 * np.exp(logp[:, 0]), "B": 50 * np.exp(logp[:, 1])})
    sset = write_set(tmp_path / "set", rng.normal(0, 0.01, (100, 5, 2)), ["A", "B"],
                     data={"location": "elsewhere"})
    port = write_portfolio(tmp_path / "p.yaml", PORT + "horizons: [1, 5]\n")
    out = tmp_path / "out"
    hist = run_stress(sset, port, str(out), prices=prices, baselines=[]
                      )["results"]["sources"]["historical"]
    assert (hist["first_date"], hist["last_date"], hist["n_returns"]) == (
        str(dates[0].date()), str(dates[108].date()), 108)
    assert hist["window_source"] == "fallback"
    assert "no training dates recorded" in hist["window_note"]
    assert hist["window_from_manifest"] is False
    ret = np.diff(logp[:109], axis=0)
    pnl = 600000 * np.expm1(ret[:, 0]) - 200000 * np.expm1(ret[:, 1])
    assert hist["horizons"]["1"]["n"] == 108
    assert hist["horizons"]["1"]["var"]["99"] == pytest.approx(value_at_risk(pnl, 0.99),
                                                                rel=1e-9)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["prices"]["window_source"] == "fallback"
    # with both dates recorded, the record decides and there is nothing to note
    sset2 = write_set(tmp_path / "set2", rng.normal(0, 0.01, (100, 5, 2)), ["A", "B"],
                      data={"first_date": str(dates[0].date()),
                            "last_date": str(dates[-1].date())})
    hist2 = run_stress(sset2, port, str(tmp_path / "out2"), prices=prices, baselines=[]
                       )["results"]["sources"]["historical"]
    assert (hist2["n_returns"], hist2["window_source"]) == (120, "manifest")
    assert hist2["window_note"] == "no prices after the training window's last date " \
        f"{dates[-1].date()}: no holdout"


def test_baseline_draws_do_not_depend_on_the_other_baselines(tmp_path):
    """Each baseline draws from its own named seed stream: running it alone or after
    another gives the same numbers."""
    pytest.importorskip("ganjobs.baselines")
    rng = np.random.default_rng(6)
    dates = pd.bdate_range("2020-01-01", periods=300)
    ret = rng.normal(0, 0.01, size=(299, 2))
    real = sources_mod.RealReturns(ret, dates.to_numpy("datetime64[ns]"), {})
    port = parse_portfolio(PORT)
    alone = sources_mod.run_baselines(["gaussian"], real, port, [1, 5], 300, 3, {})
    both = sources_mod.run_baselines(["bootstrap", "gaussian"], real, port, [1, 5], 300, 3, {})
    assert alone["baseline:gaussian"] == both["baseline:gaussian"]
    other_seed = sources_mod.run_baselines(["gaussian"], real, port, [1, 5], 300, 4, {})
    assert other_seed["baseline:gaussian"]["horizons"]["5"]["var"] != \
        alone["baseline:gaussian"]["horizons"]["5"]["var"]


def test_baselines_side_by_side(tmp_path, sample_dir, monkeypatch):
    pytest.importorskip("ganjobs.baselines")
    monkeypatch.setattr(sources_mod, "BASELINE_BATCH", 150)  # 400 paths in three batches
    rng = np.random.default_rng(5)
    sset = write_set(tmp_path / "set", rng.normal(0, 0.01, (400, 5, 2)), ["SPX", "WTI"],
                     data={"first_date": "2015-01-01", "last_date": "2019-12-31"})
    port = write_portfolio(tmp_path / "p.yaml", "name: b\nbase_value: 1e6\n"
                           "positions: {SPX: 7e5, WTI: 3e5}\n")
    out = str(tmp_path / "out")
    res = run_stress(sset, port, out, prices=sample_dir, baselines=["gaussian", "bootstrap"],
                     seed=1)["results"]
    for name in ("baseline:gaussian", "baseline:bootstrap"):
        src = res["sources"][name]
        assert "error" not in src, src.get("error")
        assert src["n"] == 400  # min(N, 20000)
        assert set(src["horizons"]) == {"1", "5"}
        assert src["horizons"]["5"]["es"]["99"] >= src["horizons"]["5"]["var"]["99"]
    assert res["sources"]["historical"]["last_date"] <= "2019-12-31"
    # seeded: the same call gives the same numbers
    again = run_stress(sset, port, out, prices=sample_dir, baselines=["gaussian", "bootstrap"],
                       seed=1, overwrite=True)["results"]
    assert again["sources"]["baseline:gaussian"]["horizons"]["5"]["var"] == \
        res["sources"]["baseline:gaussian"]["horizons"]["5"]["var"]
    with pytest.raises(GanjobsError, match="unknown baseline"):
        run_stress(sset, port, str(tmp_path / "o2"), prices=sample_dir, baselines=["nope"])
    assert not os.path.exists(tmp_path / "o2")


# --------------------------------------------------------------------------- portfolio


def test_portfolio_defaults_and_horizons():
    p = parse_portfolio("name: x\nbase_value: 100\npositions: {A: 30, B: -20}\n")
    assert p.threshold == pytest.approx(5.0)  # 10% of gross 50
    assert p.worst_k == 10 and p.currency is None
    assert p.resolve_horizons(252) == [1, 10, 252]
    assert p.resolve_horizons(5) == [1, 5]
    assert p.resolve_horizons(1) == [1]
    q = parse_portfolio("name: x\nbase_value: 100\npositions: {A: 1}\nhorizons: [5, 1, 5]\n")
    assert q.resolve_horizons(5) == [1, 5]
    with pytest.raises(GanjobsError, match="horizon"):
        q.resolve_horizons(4)


def test_results_record_where_base_value_came_from(tmp_path, small_set):
    """A book without base_value is valued at its gross notional: stress.json's portfolio
    block and the folder's manifest say so; a stated base_value is recorded as the file's."""
    for name, text, source, value in (
            ("default", "name: d\npositions: {A: 6e5, B: -2e5}\n", "gross_notional", 8e5),
            ("stated", PORT, "file", 1e6)):
        port = write_portfolio(tmp_path / f"{name}.yaml", text)
        out = tmp_path / name
        res = run_stress(small_set, port, str(out))["results"]["portfolio"]
        assert (res["base_value"], res["base_value_source"]) == (value, source)
        assert bool(res["notes"]) == (source == "gross_notional")
        manifest = json.loads((out / "manifest.json").read_text())["portfolio"]
        assert (manifest["base_value"], manifest["base_value_source"]) == (value, source)


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("# only a comment\n", "empty"),
    ("name: x\npositions: [A: 1\n", "malformed YAML"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("name: x\nbase_value: 1\npositions: {A: 1}\nleverage: 2\n", "leverage: unknown key"),
    ("name: x\nbase_value: 1\npositions: {A: abc}\n", "positions.A"),
    ("name: x\nbase_value: 1\npositions: {A: '100'}\n", "positions.A"),
    ("name: x\nbase_value: 1\npositions: {A: .nan}\n", "positions.A"),
    ("name: x\nbase_value: 1\npositions: {}\n", "positions"),
    ("name: x\nbase_value: null\npositions: {A: 1}\n", "base_value"),
    ("name: x\nbase_value: -5\npositions: {A: 1}\n", "base_value"),
    ("name: x\nbase_value: 1\npositions: {A: 1}\nhorizons: [0]\n", "horizons"),
    ("name: x\nbase_value: 1\npositions: {A: 1}\nloss_threshold: 0\n", "loss_threshold"),
    ("name: x\nbase_value: 1\npositions: {A: 0}\n", "all notionals are zero"),
])
def test_portfolio_refusals(text, problem):
    with pytest.raises(GanjobsError) as err:
        parse_portfolio(text, source="book.yaml")
    assert str(err.value).startswith("book.yaml: ")
    assert problem in str(err.value)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def small_set(tmp_path) -> str:
    rng = np.random.default_rng(11)
    return write_set(tmp_path / "set", rng.normal(0, 0.01, (500, 8, 2)), ["A", "B"], parts=2)


def test_cli_success_and_overwrite(tmp_path, small_set, capsys):
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    out = str(tmp_path / "out")
    args = ["stress", "--scenarios", small_set, "--portfolio", port, "--out", out]
    rc, stdout, err = run_cli(args, capsys)
    assert rc == 0, err
    assert "8-day VaR 99%" in stdout and "stress results written to" in stdout
    names = sorted(os.listdir(out))
    assert names == ["_SUCCESS", "manifest.json", "pnl.parquet", "stress.json", "stress.png"]
    assert read_bytes(os.path.join(out, "stress.png"))[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads(Path(out, "manifest.json").read_text())
    assert manifest["format"] == "ganjobs.stress/1"
    assert {p["name"] for p in manifest["parts"]} == {"pnl.parquet", "stress.json", "stress.png"}
    res = json.loads(Path(out, "stress.json").read_text())
    assert res["horizons"] == [1, 8]
    assert pq.read_table(os.path.join(out, "pnl.parquet")).num_rows == 500
    # published: refused without --overwrite, replaced with it
    rc, _, err = run_cli(args, capsys)
    assert rc == 2 and err.startswith("error:") and "--overwrite" in err
    rc, _, err = run_cli([*args, "--overwrite"], capsys)
    assert rc == 0, err


BAD_PORTFOLIOS = {
    "empty": "",
    "malformed": "name: x\npositions: {A: 1\n",
    "unknown-key": PORT + "extra: 1\n",
    "non-numeric": "name: x\nbase_value: 1\npositions: {A: lots}\n",
    "unknown-symbol": "name: x\nbase_value: 1\npositions: {A: 1, ZZZ: 2}\n",
    "horizon-too-long": PORT + "horizons: [1, 9]\n",
}


@pytest.mark.parametrize("case", sorted(BAD_PORTFOLIOS))
def test_cli_bad_portfolio_exit_2_nothing_written(tmp_path, small_set, capsys, case):
    port = write_portfolio(tmp_path / "p.yaml", BAD_PORTFOLIOS[case])
    out = tmp_path / "out"
    rc, _, err = run_cli(["stress", "--scenarios", small_set, "--portfolio", port,
                          "--out", str(out)], capsys)
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "p.yaml" in err
    assert not out.exists()


def test_cli_bad_sets_and_files_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(1)
    unfinished = write_set(tmp_path / "unfinished", rng.normal(0, 0.01, (20, 3, 2)), ["A", "B"],
                           success=False)
    good = write_set(tmp_path / "good", rng.normal(0, 0.01, (20, 3, 2)), ["A", "B"])
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    cases = [
        (unfinished, port, "_SUCCESS"),
        (str(tmp_path / "absent"), port, "_SUCCESS"),
        (good, str(tmp_path / "missing.yaml"), "not found"),
        (good, port + ".nope", "not found"),
    ]
    for sset, pf, needle in cases:
        out = tmp_path / "out"
        rc, _, err = run_cli(["stress", "--scenarios", sset, "--portfolio", pf,
                              "--out", str(out)], capsys)
        assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert needle in err
        assert not out.exists()
    # the output may not be the scenario set itself
    rc, _, err = run_cli(["stress", "--scenarios", good, "--portfolio", port, "--out", good,
                          "--overwrite"], capsys)
    assert rc == 2 and "scenario set itself" in err
    assert (tmp_path / "good" / "_SUCCESS").exists()
    # prices lacking a portfolio symbol: refused before anything is written
    dates = pd.bdate_range("2021-01-01", periods=30)
    prices = _prices_csv(tmp_path / "px.csv", dates, {"A": np.linspace(10, 12, 30)})
    rc, _, err = run_cli(["stress", "--scenarios", good, "--portfolio", port, "--out",
                          str(tmp_path / "out"), "--prices", prices], capsys)
    assert rc == 2 and "B" in err and not (tmp_path / "out").exists()


def test_seed_and_output_location_refused_before_any_work(tmp_path, small_set):
    """A seed out of range, or an output folder holding files it did not publish, is refused
    before anything is computed or written (the publisher's own check)."""
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    for bad in (-1, 2**63, 1.5, True):
        with pytest.raises(GanjobsError, match="--seed"):
            run_stress(small_set, port, str(tmp_path / "out"), seed=bad)
        assert not (tmp_path / "out").exists()
    foreign = tmp_path / "busy"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(GanjobsError, match="not published here"):
        run_stress(small_set, port, str(foreign), overwrite=True)
    assert sorted(os.listdir(foreign)) == ["notes.txt"]
    with pytest.raises(GanjobsError, match="is a file"):
        run_stress(small_set, port, str(foreign / "notes.txt"))


def test_malformed_part_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    sset = write_set(tmp_path / "set", rng.normal(0, 0.01, (10, 4, 2)), ["A", "B"])
    # a part whose rows are not a multiple of H breaks the layout
    t = pq.read_table(tmp_path / "set" / "part-00000.parquet").slice(0, 39)
    pq.write_table(t, tmp_path / "set" / "part-00000.parquet")
    port = write_portfolio(tmp_path / "p.yaml", PORT)
    with pytest.raises(GanjobsError, match="malformed scenario part"):
        run_stress(sset, port, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_s3_round_trip(s3_env, tmp_path):
    """Set, portfolio and results on S3 (moto), through the standard AWS settings."""
    import fsspec

    from ganjobs.io.storage import s3_options

    rng = np.random.default_rng(4)
    local = write_set(tmp_path / "set", rng.normal(0, 0.01, (50, 3, 2)), ["A", "B"], parts=2)
    fs = fsspec.filesystem("s3", **s3_options())
    fs.put(local + "/", f"{s3_env}/set/", recursive=True)
    fs.pipe_file(f"{s3_env}/book.yaml", PORT.encode())
    out = f"s3://{s3_env}/stress"
    result = run_stress(f"s3://{s3_env}/set", f"s3://{s3_env}/book.yaml", out)
    assert result["out"] == out
    assert fs.exists(f"{s3_env}/stress/_SUCCESS")
    body = json.loads(fs.cat_file(f"{s3_env}/stress/stress.json"))
    assert body["sources"]["ganjobs"]["n"] == 50
    assert body["portfolio"]["location"] == f"s3://{s3_env}/book.yaml"
