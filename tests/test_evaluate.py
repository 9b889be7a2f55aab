"""End to end: publish a small scenario set (docs/formats.md), evaluate it, CLI exit codes."""

from __future__ import annotations

import io
import json
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ganjobs.baselines import BASELINES, simulate_baseline
from ganjobs.cli import main
from ganjobs.data.prices import load_market_data
from ganjobs.data.sample import bundled_prices
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.command import (
    FORMAT,
    PROJECT,
    REPORT_FILE,
    evaluate_scenarios,
    scenario_set_identity,
    simulate_models,
    training_window,
)
from ganjobs.io.publisher import Publisher, is_published, precheck_out, read_manifest
from ganjobs.io.storage import exists, join, read_json

# Hostile symbol names: they must reach the page only escaped.
EVIL = ['<script>alert("x")</script>', "A&B $x^2$ 'q'"]
N, H = 120, 130


@pytest.fixture(scope="module")
def prices(tmp_path_factory) -> str:
    """SPX and WTI's last 800 common days under hostile names, one Parquet file."""
    df = bundled_prices()
    df = df[df["symbol"].isin(["SPX", "WTI"])]
    wide = df.pivot(index="date", columns="symbol", values="close").dropna().iloc[-800:]
    wide.columns = [EVIL[0] if c == "SPX" else EVIL[1] for c in wide.columns]
    long = wide.reset_index().melt(id_vars="date", var_name="symbol", value_name="close")
    out = tmp_path_factory.mktemp("evil_prices") / "prices.parquet"
    pq.write_table(pa.Table.from_pandas(long, preserve_index=False), out)
    return str(out)


def publish_set(url: str, paths: np.ndarray, symbols: list[str], data: dict | None,
                success: bool = True) -> None:
    """Write a scenario set in the published layout (parts, manifest.json, then _SUCCESS)."""
    n, h, _ = paths.shape
    cols = {"scenario": pa.array(np.repeat(np.arange(n, dtype=np.int64), h)),
            "step": pa.array(np.tile(np.arange(1, h + 1, dtype=np.int32), n))}
    for j, sym in enumerate(symbols):
        cols[sym] = pa.array(paths[:, :, j].astype(np.float32).reshape(-1))
    half = (n // 2) * h  # two parts, to read across part boundaries
    pub = Publisher(url).start()
    for i, (lo, hi) in enumerate([(0, half), (half, n * h)]):
        buf = io.BytesIO()
        pq.write_table(pa.table(cols).slice(lo, hi - lo), buf)
        pub.write_part(f"part-{i:05d}.parquet", buf.getvalue(), hi - lo)
    manifest = {"format": "ganjobs.scenarios/1", "symbols": symbols, "horizon": h,
                "n_scenarios": n, "return_kind": "log", "seed": 0,
                "created_at": "2024-01-01T00:00:00+00:00",
                "model": {"location": "memory://none", "fingerprint": "test"},
                "code_version": "test"}
    if data is not None:
        manifest["data"] = data
    if success:
        pub.commit(manifest)


@pytest.fixture(scope="module")
def scenario_set(prices, tmp_path_factory) -> str:
    """Bootstrap paths of the first 90% of the returns, published as the project's set."""
    md = load_market_data(prices, EVIL)
    n_train = int(len(md.returns) * 0.9)
    data = dict(md.data_record())
    data.update(first_date=str(md.dates[0])[:10], last_date=str(md.dates[n_train])[:10])
    paths = simulate_baseline("bootstrap", md.returns[:n_train], N, H,
                              np.random.default_rng(0))
    url = str(tmp_path_factory.mktemp("sets") / "set")
    publish_set(url, paths, EVIL, data)
    return url


def test_training_window_follows_the_manifest(prices):
    md = load_market_data(prices, EVIL)
    data = {"first_date": str(md.dates[10])[:10], "last_date": str(md.dates[700])[:10]}
    train, hold, info = training_window(md, data)
    np.testing.assert_array_equal(train, md.returns[10:700])
    np.testing.assert_array_equal(hold, md.returns[700:])
    assert info["train"]["n_returns"] == 690 and info["note"] is None
    train, hold, info = training_window(md, {})
    assert len(hold) == round(0.1 * len(md.returns)) and "no training dates" in info["note"]
    with pytest.raises(GanjobsError, match="training window"):
        training_window(md, {"first_date": "1990-01-01", "last_date": "1990-02-01"})


def test_evaluate_writes_metrics_and_escaped_report(scenario_set, prices, tmp_path):
    out = str(tmp_path / "eval")
    res = evaluate_scenarios(scenario_set, prices, out, seed=3, max_paths=100)
    assert res["metrics_url"] == join(out, "metrics.json")
    m = json.loads(open(res["metrics_url"]).read())
    assert m == json.loads(json.dumps(res["metrics"]))
    assert list(m["models"]) == [PROJECT, *BASELINES]
    assert m["n_paths"] == {name: 100 for name in m["models"]}
    assert m["symbols"] == EVIL and m["horizon"] == H
    assert m["context"]["window"]["data_sha256_match"] is True
    assert m["context"]["window"]["holdout"]["n_returns"] > 0
    ours = m["models"][PROJECT]
    # The "scenarios" are a bootstrap of history: copies, and far too close to the data.
    assert ours["joint"]["copy_rate"] > 0.3
    bars = {(b["metric"], b["scope"]): b["met"] for b in m["bars"]}
    assert bars[("copy_rate", "joint")] is False
    assert bars[("dcr_ratio", "joint")] is False
    for name in m["models"]:
        assert set(m["models"][name]["per_symbol"]) == set(EVIL)

    # Published like every folder: manifest, then _SUCCESS; the manifest says what was
    # evaluated in terms that survive a move of the set (its parts' digest, its creation).
    assert is_published(out)
    manifest = read_manifest(out)
    assert manifest == res["manifest"] and manifest["format"] == FORMAT
    assert [p["name"] for p in manifest["parts"]] == ["metrics.json", "report.html"]
    set_manifest = read_manifest(scenario_set)
    ident = manifest["scenarios"]
    assert ident == scenario_set_identity(scenario_set, set_manifest)
    assert ident["evaluated_at"] == scenario_set
    assert ident["created_at"] == set_manifest["created_at"]
    assert manifest["prices"]["matches_training_data"] is True
    assert manifest["split"]["source"] == "manifest" and manifest["seed"] == 3
    assert m["context"]["scenario_set"] == ident

    page = open(res["report_url"], encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "2024-01-01T00:00:00+00:00" in page and ident["content_sha256"][:16] in page
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "Scenario set" in text and "quality bars" in text and "issue" not in text
    assert page.count("data:image/png;base64,") >= 7
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "A&amp;B $x^2$ &#x27;q&#x27;" in page
    assert 'class="best"' in page
    # Curve scores show the real side's floors, e.g. "floor 0.123 · decaying 0.045".
    real = m["real"][EVIL[0]]
    floor, decaying = real["acf_abs_floor"], real["acf_abs_monotone_floor"]
    assert min(floor, decaying) > 1e-3  # printed with 3 decimals
    assert f"floor {floor:.3f} · decaying {decaying:.3f}" in page


def test_cli_evaluate_without_dates_to_s3(prices, tmp_path, s3_env, capsys):
    md = load_market_data(prices, EVIL)
    paths = simulate_baseline("gaussian", md.returns, 60, H, np.random.default_rng(1))
    url = str(tmp_path / "nodates")
    publish_set(url, paths, EVIL, data=None)
    out = f"s3://{s3_env}/eval/run1"
    code = main(["evaluate", "--scenarios", url, "--prices", prices, "--out", out])
    assert code == 0, capsys.readouterr().err
    assert exists(join(out, "report.html"))
    m = read_json(join(out, "metrics.json"))
    assert "no training dates" in m["notes"][0]
    assert m["context"]["window"]["source"] == "fallback"
    assert m["models"][PROJECT]["joint"]["copy_rate"] == 0.0


def _only_error_line(err: str) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err


def test_cli_refuses_unfinished_set(prices, tmp_path, capsys):
    md = load_market_data(prices, EVIL)
    url = str(tmp_path / "unfinished")
    publish_set(url, np.zeros((4, H, 2)) + md.returns[:H], EVIL, data=None, success=False)
    out = tmp_path / "out"
    code = main(["evaluate", "--scenarios", url, "--prices", prices, "--out", str(out)])
    assert code == 2
    _only_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_refusals_write_nothing(scenario_set, prices, tmp_path, sample_dir):
    out = tmp_path / "out"
    with pytest.raises(GanjobsError, match="unknown symbol"):
        evaluate_scenarios(scenario_set, sample_dir, str(out))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GanjobsError, match="not a folder"):
        evaluate_scenarios(scenario_set, prices, str(blocker / "eval"))
    with pytest.raises(GanjobsError, match="not a folder"):
        evaluate_scenarios(scenario_set, prices, str(blocker))
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(GanjobsError, match="not writable"):
            evaluate_scenarios(scenario_set, prices, str(locked / "eval"))
    with pytest.raises(GanjobsError):
        evaluate_scenarios(str(tmp_path / "absent"), prices, str(out))
    assert not out.exists()


def test_set_identity_survives_a_move_and_new_manifest_fields():
    parts = [{"name": "part-00000.parquet", "rows": 3, "sha256": "a" * 64, "bytes": 9}]
    staged = {"created_at": "2024-01-01T00:00:00+00:00", "seed": 4, "n_scenarios": 3,
              "model": {"fingerprint": "f"}, "parts": parts}
    published = {**staged, "metrics": {"x": 1}, "pipeline": {"run_id": "r1"}}
    a = scenario_set_identity("s3://b/run/_staging/scenarios", staged)
    b = scenario_set_identity("s3://b/run/scenarios", published)
    assert a["content_sha256"] == b["content_sha256"] and a["created_at"] == b["created_at"]
    assert (a["run_id"], b["run_id"]) == (None, "r1")
    other = scenario_set_identity("x", {**staged, "parts": [{**parts[0], "sha256": "b" * 64}]})
    assert other["content_sha256"] != a["content_sha256"]


def test_training_window_without_holdout_says_no_dcr(prices):
    md = load_market_data(prices, EVIL)
    last = str(md.dates[-1])[:10]
    train, hold, info = training_window(md, {"first_date": str(md.dates[0])[:10],
                                             "last_date": last})
    assert len(train) == len(md.returns) and len(hold) == 0
    assert info["source"] == "manifest" and info["holdout"]["n_returns"] == 0
    assert last in info["note"] and info["note"].endswith("no DCR ratio")


def test_baselines_are_seeded_by_name(prices):
    md = load_market_data(prices, EVIL)
    train = md.returns[:600]
    every = simulate_models(train, 8, 30, seed=5)
    alone = simulate_models(train, 8, 30, seed=5, baselines=("garch-t",))
    assert list(alone) == ["garch-t"]
    np.testing.assert_array_equal(alone["garch-t"], every["garch-t"])
    assert not np.array_equal(simulate_models(train, 8, 30, seed=6,
                                              baselines=("garch-t",))["garch-t"],
                              every["garch-t"])


def test_precheck_out_refuses_what_publishing_would(tmp_path):
    precheck_out(str(tmp_path / "new" / "deeper"))  # creatable: fine, nothing written
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanjobsError, match="not a folder"):
        precheck_out(str(tmp_path / "file"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(GanjobsError, match="not published here"):
        precheck_out(str(foreign))
    done = str(tmp_path / "done")
    with Publisher(done) as pub:
        pub.write_part("metrics.json", b"{}", rows=1)
        pub.commit({"format": FORMAT})
    with pytest.raises(GanjobsError, match="already published"):
        precheck_out(done)
    precheck_out(done, overwrite=True)


def test_failure_while_publishing_leaves_nothing_published(scenario_set, prices, tmp_path,
                                                           monkeypatch):
    out = str(tmp_path / "eval")
    with Publisher(out) as pub:  # an earlier evaluation, replaced by this one
        pub.write_part("metrics.json", b"{}", rows=1)
        pub.commit({"format": FORMAT})
    write_part = Publisher.write_part

    def fail_on_report(self, name, data, rows):
        if name == REPORT_FILE:
            raise OSError("disk full")
        return write_part(self, name, data, rows)

    monkeypatch.setattr(Publisher, "write_part", fail_on_report)
    with pytest.raises(OSError, match="disk full"):
        evaluate_scenarios(scenario_set, prices, out, seed=1, max_paths=40)
    assert not is_published(out)
    assert not exists(join(out, "metrics.json")) and not exists(join(out, REPORT_FILE))


def test_seed_out_of_range_is_refused_before_work(scenario_set, prices, tmp_path):
    out = tmp_path / "out"
    for bad in (-1, 2**63, True):
        with pytest.raises(GanjobsError, match="seed"):
            evaluate_scenarios(scenario_set, prices, str(out), seed=bad)
    assert not out.exists()


def test_report_names_where_the_set_is_published_not_the_staged_copy(scenario_set, prices,
                                                                    tmp_path):
    final = "s3://bucket/runs/daily/2018-12-28/r0123/scenarios"
    res = evaluate_scenarios(scenario_set, prices, str(tmp_path / "ev"), seed=1, max_paths=200,
                             scenarios_location=final, run_id="r0123")
    ident = res["manifest"]["scenarios"]
    assert ident["location"] == final and ident["run_id"] == "r0123"
    assert ident["evaluated_at"] == scenario_set  # the manifest keeps where it was read
    page = open(res["report_url"], encoding="utf-8").read()
    assert final in page and "run r0123" in page and scenario_set not in page
