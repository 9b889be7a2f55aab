"""The backtest's HTML page, rendered from a forecasts table and a summary built here.

The fixture is random but shaped like a real backtest: returns with volatility clusters, six
models whose VaR follows the volatility more or less well, result rows whose counts and
zones are computed from those forecasts, and a few nulls where a real run has them.
"""

from __future__ import annotations

import html
import re
import time

import numpy as np
import pandas as pd
import pytest

from ganjobs.backtest.report import render_backtest_report

MODELS = ("ganjobs", "ganjobs-unconditional", "fhs", "garch-t", "hs-250", "hs-500")
TARGETS = ("SPX", "NDX", "book-A")
HORIZONS = (1, 10)
N_DATES = 600
#: How each model scales the true volatility (1 = right, below 1 = too many exceptions).
SCALE = {"ganjobs": 1.0, "ganjobs-unconditional": 0.8, "fhs": 1.05, "garch-t": 0.95,
         "hs-250": 0.7, "hs-500": 0.75}


def _zones(dates: pd.DatetimeIndex, hits: np.ndarray) -> list[dict]:
    out = []
    for s in range(0, len(hits), 250):
        block = hits[s:s + 250]
        exc = int(block.sum())
        complete = len(block) == 250
        zone = ("green" if exc <= 4 else "yellow" if exc <= 9 else "red") if complete else None
        out.append({"start": dates[s].date().isoformat(),
                    "end": dates[s + len(block) - 1].date().isoformat(),
                    "n": len(block), "exceptions": exc, "zone": zone, "complete": complete})
    return out


def _result(model: str, target: str, h: int, level: float, dates, realized, var, es,
            rng: np.random.Generator) -> dict:
    ok = np.isfinite(realized)
    hits = realized[ok] < -var[ok]
    n = int(ok.sum())
    row = {"model": model, "target": target, "horizon": h, "level": level, "n": n,
           "exceptions": int(hits.sum()), "expected": n * (1 - level),
           "exception_rate": float(hits.mean()),
           "kupiec_p": float(rng.uniform(0, 1)), "independence_p": float(rng.uniform(0, 1)),
           "cc_p": float(rng.uniform(0, 0.2)),
           "coverage_sample": "all" if h == 1 else "non-overlapping",
           "coverage_n": len(hits[::h]), "coverage_exceptions": int(hits[::h].sum()),
           "zones": _zones(dates[ok], hits) if (h == 1 and level == 0.99) else None,
           "tick_loss": float(rng.uniform(1e-4, 5e-4)),
           "dm_tick_p": None if model == "fhs" else float(rng.uniform(0, 0.1))}
    if level == 0.975:
        row.update(fz0_loss=float(rng.uniform(-4, -2)),
                   dm_fz0_p=None if model == "fhs" else float(rng.uniform(0, 0.5)),
                   es_test={"z2": float(rng.normal(0, 0.5)), "p": float(rng.uniform(0, 1)),
                            "reject_5pct": bool(rng.uniform() < 0.3)})
    return row


def make_backtest(models=MODELS, targets=TARGETS, n_dates=N_DATES, seed=3):
    """A forecasts table and its summary, in the layout ``ganjobs backtest`` publishes."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2007-06-01", periods=n_dates)
    frames, results = [], []
    for target in targets:
        # Volatility that doubles in the middle third: a crisis every model must meet.
        vol = 0.01 * (1 + np.exp(-((np.arange(n_dates) - n_dates / 2) / (n_dates / 10)) ** 2))
        daily = vol * rng.standard_t(4, n_dates) / np.sqrt(2)
        for h in HORIZONS:
            realized = np.array([np.expm1(daily[i + 1:i + 1 + h].sum())
                                 if i + h < n_dates else np.nan for i in range(n_dates)])
            for m in models:
                sd = vol * np.sqrt(h) * SCALE[m]
                var99, var975, es975 = 2.6 * sd, 2.1 * sd, 2.7 * sd
                if m == "hs-500":
                    var99[:40] = np.nan       # not enough history yet
                frames.append(pd.DataFrame({
                    "date": dates, "target": target, "horizon": np.int32(h), "model": m,
                    "var_99": var99, "var_975": var975, "es_975": es975,
                    "realized": realized}))
                results.append(_result(m, target, h, 0.99, dates, realized, var99, es975, rng))
                results.append(_result(m, target, h, 0.975, dates, realized, var975, es975,
                                       rng))
    forecasts = (pd.concat(frames, ignore_index=True)
                 .sort_values(["model", "target", "horizon", "date"], kind="stable")
                 .reset_index(drop=True))
    summary = {
        "format": "ganjobs.backtest/1", "start": dates[0].date().isoformat(),
        "end": dates[-1].date().isoformat(), "refit_every": 63, "n_paths": 2000,
        "horizons": list(HORIZONS), "seed": 11, "models": list(models),
        "reference_model": "fhs", "targets": list(targets),
        "data": {"prices": "s3://bucket/prices.parquet", "sha256": "ab" * 32,
                 "first_date": "2003-01-02", "rows": 5400,
                 "portfolios": {"book-A": {"SPX": 0.6, "NDX": 0.4}}},
        "timing": {"fit_s": 12.5, "forecast_s": 340.25, "tests_s": 1.75},
        "results": results,
    }
    return forecasts, summary


@pytest.fixture(scope="module")
def backtest():
    return make_backtest()


@pytest.fixture(scope="module")
def rendered(backtest):
    forecasts, summary = backtest
    t0 = time.perf_counter()
    out = render_backtest_report(forecasts, summary)
    return out, time.perf_counter() - t0


@pytest.fixture(scope="module")
def page(rendered):
    return rendered[0]


@pytest.fixture(scope="module")
def small():
    """One target, four models: for the tests that render variants of the page."""
    return make_backtest(models=("ganjobs", "fhs", "garch-t", "hs-250"), targets=("SPX",),
                         n_dates=300)


def _table_after(page: str, heading: str) -> str:
    start = page.index(heading)
    return page[start:page.index("</table>", start)]


def _row(table: str, model: str) -> str:
    return re.search(rf"<tr><td>{re.escape(model)}(?: <span[^>]*>[^<]*</span>)?</td>"
                     r".*?</tr>", table).group(0)


def test_renders_the_full_fixture_quickly(rendered):
    out, elapsed = rendered
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    assert elapsed < 15, f"rendering took {elapsed:.1f} s"
    # One VaR figure per target (1-day horizon), embedded, nothing fetched from elsewhere.
    assert out.count("data:image/png;base64,") == len(TARGETS)
    assert "src=\"http" not in out and "<script" not in out.lower()


def test_names_every_model_target_and_the_setup(page):
    for m in MODELS:
        assert f"<b>{m}</b>" in page
    for t in TARGETS:
        for h in HORIZONS:
            assert f"<h3>{t} · {h}-day horizon</h3>" in page
    assert "2007-06-01" in page and "refitted every 63 trading days" in page
    assert "2000 scenario paths" in page and "<b>fhs</b> (the reference)" in page
    for words in ("Kupiec", "Christoffersen", "Diebold–Mariano", "Acerbi–Szekely",
                  "250", "lower is better"):
        assert words in page


def test_table_shows_the_numbers_of_each_row(page, backtest):
    _, summary = backtest
    table = _table_after(page, "<h3>NDX · 1-day horizon</h3>")
    for r in summary["results"]:
        if r["target"] != "NDX" or r["horizon"] != 1:
            continue
        row = _row(table, r["model"])
        assert f"{r['exceptions']} / {r['expected']:.1f}" in row
        assert f"{r['kupiec_p']:.3f}" in row or (r["kupiec_p"] < 1e-3 and "&lt;0.001" in row)
        assert f"{r['tick_loss']:.4g}" in row
        if r["level"] == 0.975:
            assert f"{r['fz0_loss']:.4g}" in row
            assert f"Z2 {r['es_test']['z2']:.2f}" in row


def test_pass_fail_colours_and_best_loss(page, backtest):
    _, summary = backtest
    table = _table_after(page, "<h3>SPX · 10-day horizon</h3>")
    rows = [r for r in summary["results"] if r["target"] == "SPX" and r["horizon"] == 10
            and r["level"] == 0.99]
    for r in rows:
        cls = "pass" if r["kupiec_p"] >= 0.05 else "fail"
        row = _row(table, r["model"])
        assert f"<td class=\"{cls}\">{r['kupiec_p']:.3f}</td>" in row
        # The tests' own counts, of non-overlapping windows, are one hover away.
        assert (f"{r['coverage_exceptions']} exception" in row
                and f"in {r['coverage_n']} non-overlapping windows, "
                    f"{r['coverage_n'] * 0.01:.1f} expected" in row)
    best = min(rows, key=lambda r: r["tick_loss"])
    assert f"<td class=\"best\">{best['tick_loss']:.4g}</td>" in _row(table, best["model"])
    assert table.count("class=\"best\"") >= 2          # one per loss column at least
    # Diebold–Mariano against the reference: the reference's own cell is empty.
    assert "<td>–</td>" in _row(table, "fhs")


def test_dm_cell_says_who_wins(small):
    forecasts, summary = small
    rows = [dict(r) for r in summary["results"]]
    for r in rows:
        if r["target"] == "SPX" and r["horizon"] == 1 and r["level"] == 0.99:
            if r["model"] == "fhs":
                r["tick_loss"] = 3e-4
            elif r["model"] == "ganjobs":
                r.update(tick_loss=2e-4, dm_tick_p=0.01)
            elif r["model"] == "hs-250":
                r.update(tick_loss=4e-4, dm_tick_p=0.002)
            elif r["model"] == "garch-t":
                r.update(tick_loss=2.5e-4, dm_tick_p=0.4)
    out = render_backtest_report(forecasts, {**summary, "results": rows})
    table = _table_after(out, "<h3>SPX · 1-day horizon</h3>")
    assert "class=\"pass\"" in _row(table, "ganjobs") and "0.010 (better)" in table
    assert "0.002 (worse)" in _row(table, "hs-250")
    assert "0.400</td>" in _row(table, "garch-t")


def test_zone_colours_follow_the_counts(page, backtest):
    _, summary = backtest
    section = page[page.index("Traffic-light zones over time"):]
    for r in summary["results"]:
        if not r["zones"]:
            continue
        assert r["horizon"] == 1 and r["level"] == 0.99
        table = _table_after(section, f"<h3>{r['target']}</h3>")
        cells = re.findall(r"<td class=\"(zone-[a-z]+(?: partial)?)\"[^>]*>(\d+)</td>",
                           _row(table, r["model"]))
        assert [int(c) for _, c in cells] == [z["exceptions"] for z in r["zones"]]
        for (cls, _), z in zip(cells, r["zones"], strict=True):
            assert cls == (f"zone-{z['zone']}" if z["complete"] else "zone-none partial")
    used = set(re.findall(r"zone-(green|yellow|red)", section))
    assert used == {"green", "yellow", "red"}, used     # the fixture's crisis reaches red


def test_at_a_glance_names_who_passed(page, backtest):
    _, summary = backtest
    rows = [r for r in summary["results"] if r["target"] == "NDX" and r["horizon"] == 1]
    ok = {m: all(r["kupiec_p"] >= 0.05 and r["cc_p"] >= 0.05
                 and (r["level"] == 0.99 or r["es_test"]["p"] >= 0.05)
                 and not any(z["zone"] == "red" for z in r["zones"] or [])
                 for r in rows if r["model"] == m) for m in MODELS}
    line = re.search(r"<li><b>NDX</b>, 1-day: passed every test: (.*?)</li>", page).group(1)
    passed = line.split(";")[0]
    assert {m for m in MODELS if f"<b>{m}</b>" in passed} == {m for m in MODELS if ok[m]}
    for m in MODELS:
        assert (f"{m} (" in line.split("Failed:")[-1]) == (not ok[m])
    best = min((r for r in rows if r["level"] == 0.99), key=lambda r: r["tick_loss"])
    assert f"lowest 99% tick loss: <b>{best['model']}</b>" in line


def test_worst_zone_column(page, backtest):
    _, summary = backtest
    table = _table_after(page, "<h3>book-A · 1-day horizon</h3>")
    for r in summary["results"]:
        if r["target"] == "book-A" and r["horizon"] == 1 and r["level"] == 0.99:
            named = [z["zone"] for z in r["zones"] if z["zone"]]
            worst = max(named, key=("green", "yellow", "red").index)
            assert (f"class=\"zone-{worst}\" title=\"{named.count(worst)} of {len(named)}"
                    in _row(table, r["model"]))


def test_strings_from_the_data_are_escaped():
    evil = "<script>alert(1)</script>"
    attr = "\"><img src=x onerror=alert(1)>"
    forecasts, summary = make_backtest(models=("ganjobs", "fhs", "garch-t"),
                                       targets=("SPX",), n_dates=300)
    forecasts["target"] = evil
    forecasts.loc[forecasts["model"] == "garch-t", "model"] = attr
    for r in summary["results"]:
        r["target"] = evil
        r["model"] = attr if r["model"] == "garch-t" else r["model"]
        for z in r["zones"] or []:
            z["start"] = attr
    summary.update(targets=[evil], models=["ganjobs", "fhs", attr], start=evil,
                   data={"prices": f"s3://b/{evil}", evil: attr}, timing={attr: 1.0})
    out = render_backtest_report(forecasts, summary)
    assert "<script" not in out.lower() and "<img src=x" not in out
    assert html.escape(evil, quote=True) in out and html.escape(attr, quote=True) in out


def test_nulls_render_as_a_dash(small):
    forecasts, summary = small
    rows = []
    for r in summary["results"]:
        r = dict(r)
        if r["model"] == "garch-t":
            r = {k: (None if k not in ("model", "target", "horizon", "level") else v)
                 for k, v in r.items()}
        rows.append(r)
    out = render_backtest_report(forecasts, {**summary, "results": rows, "refit_every": None,
                                             "n_paths": None, "data": None, "timing": None})
    row = _row(_table_after(out, "<h3>SPX · 1-day horizon</h3>"), "garch-t")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[0] == "garch-t" and set(cells[1:]) == {"–", "– / –"}, cells
    assert "None" not in out and ">nan" not in out.lower() and "no periodic refit" in out


def test_same_inputs_give_the_same_bytes(backtest, page):
    forecasts, summary = backtest
    assert render_backtest_report(forecasts, summary) == page


def test_sparse_inputs_still_render():
    """A model never breached, a target whose returns are all unknown, plain dates, and a
    summary with no results: the page says what it has and draws what it can."""
    forecasts, summary = make_backtest(models=("ganjobs", "fhs", "garch-t"),
                                       targets=("SPX", "late"), n_dates=300)
    forecasts.loc[forecasts["model"] == "garch-t", "var_99"] = 1.0
    forecasts.loc[forecasts["target"] == "late", "realized"] = np.nan
    forecasts["date"] = forecasts["date"].dt.date
    out = render_backtest_report(forecasts, summary)
    assert out.count("data:image/png;base64,") == 2
    bare = render_backtest_report(forecasts, {})
    assert bare.count("No results for this target and horizon.") == 4
    assert "<b>ganjobs</b>" in bare and "Data and provenance" in bare
    only10 = render_backtest_report(forecasts[forecasts["horizon"] == 10], {"results": []})
    assert "<h2>Where each model failed: 10-day 99% VaR</h2>" in only10
