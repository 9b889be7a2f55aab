"""Daily operation of the pipeline: real Prefect (test harness), real local Ray, local lake.

One series is run on a growing price history built from the bundled data: the first run
trains a conditional model, a run on the same prices or on 5 more business days reuses it, 30
more business days retrain it for age, and a corrected past price retrains it for the change.
"""

from __future__ import annotations

import pandas as pd
import pytest

SYMBOLS = ["SPX", "NDX"]
PORTFOLIO = """\
name: test-book
base_value: 1000000
positions:
  SPX: 600000
  NDX: 400000
horizons: [1, 5]
"""


@pytest.fixture(scope="module")
def histories(sample_dir, tmp_path_factory):
    """Price folders (long layout, Parquet) cut from the bundled SPX/NDX history: ``base``,
    ``plus5`` and ``plus30`` (5 and 30 more common dates), and ``altered`` (``plus30`` with
    one close of 2015 corrected)."""
    from ganjobs.data.prices import read_prices

    full = read_prices(sample_dir)
    full = full[full["symbol"].isin(SYMBOLS) & (full["date"] >= "2013-01-01")]
    dates = sorted(full.groupby("date").filter(lambda g: len(g) == 2)["date"].unique())
    root = tmp_path_factory.mktemp("histories")
    out = {}

    def write(name: str, frame: pd.DataFrame) -> None:
        folder = root / name
        folder.mkdir()
        frame.to_parquet(folder / "prices.parquet", index=False)
        out[name] = str(folder)

    for name, extra in (("base", 0), ("plus5", 5), ("plus30", 30)):
        write(name, full[full["date"] <= dates[-41 + extra]])
    altered = full[full["date"] <= dates[-11]].copy()
    row = altered.index[(altered["symbol"] == "SPX") & (altered["date"] >= "2015-03-02")][0]
    altered.loc[row, "close"] *= 1.002
    write("altered", altered)
    out["last"] = {name: str(pd.Timestamp(dates[-41 + k]).date())
                   for name, k in (("base", 0), ("plus5", 5), ("plus30", 30))}
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    import ray

    ray.shutdown()  # a cluster of this process's own settings, and none left behind
    root = tmp_path_factory.mktemp("lake")
    portfolio = root / "book.yaml"
    portfolio.write_text(PORTFOLIO)
    yield {"root": str(root / "runs"), "portfolio": str(portfolio)}
    ray.shutdown()


def _run(lake: dict, prices: str, **over) -> dict:
    from flows.params import PipelineParams
    from flows.pipeline import scenario_pipeline

    base = dict(prices=prices, root=lake["root"], name="daily", symbols=SYMBOLS,
                preset="tiny-daily", n=32, horizon=5, seed=1, eval_max_paths=32)
    base.update(over)
    state = scenario_pipeline(PipelineParams(**base), return_state=True)
    assert state.is_completed(), state.message
    return state.result()


@pytest.fixture(scope="module")
def runs(harness, lake, histories):
    """The series' runs, in order; each later test reads the ones it needs."""
    out = {"first": _run(lake, histories["base"])}
    out["again"] = _run(lake, histories["base"])
    out["plus5"] = _run(lake, histories["plus5"], portfolio=lake["portfolio"])
    out["plus30"] = _run(lake, histories["plus30"])
    out["altered"] = _run(lake, histories["altered"])
    return out


def _manifest(url: str) -> dict:
    from ganjobs.io.publisher import read_manifest

    return read_manifest(url)


def _pointer(lake: dict) -> dict:
    from ganjobs.io.storage import read_json

    return read_json(f"{lake['root']}/daily/LATEST_MODEL")


@pytest.mark.slow
def test_first_run_trains_and_publishes_a_set_as_of_the_last_price_date(runs, histories, lake):
    from ganjobs.io.publisher import is_published
    from ganjobs.scenarios import open_scenarios

    s = runs["first"]
    assert s["published"] and s["model_decision"] == "train"
    assert s["model_reason"] == "trained: no earlier model of this series"
    assert s["as_of"] == histories["last"]["base"] == s["state_as_of"]
    m = open_scenarios(s["scenarios_url"]).manifest
    assert m["conditioning"]["mode"] == "as-of"
    assert m["conditioning"]["as_of"] == histories["last"]["base"]
    assert m["model"]["location"] == s["model_url"] == f"{s['run_url']}/model"
    assert m["pipeline"]["model"]["decision"] == "train"
    # The model is evaluated on long-run paths of its own, published beside the set.
    long_run = _manifest(f"{s['run_url']}/long-run")
    assert long_run["conditioning"]["mode"] == "long-run" and long_run["n_scenarios"] == 32
    evaluation = _manifest(f"{s['run_url']}/evaluation")
    assert evaluation["scenarios"]["location"] == f"{s['run_url']}/long-run"
    assert m["evaluation"]["report_url"] == s["report_url"]
    assert m["evaluation"]["source"]["kind"] == "long-run set of the model"
    assert {"ganjobs", "gaussian"} <= set(m["metrics"]["models"])
    assert is_published(s["model_url"])


@pytest.mark.slow
def test_rerun_on_the_same_prices_reuses_the_model_and_publishes_nothing(runs):
    first, again = runs["first"], runs["again"]
    assert again["model_decision"] == "reuse"
    assert again["model_reason"].startswith(f"reused model {first['model_url']} trained to "
                                            f"{first['as_of']}, 0 business days old")
    assert again["run_id"] == first["run_id"] and not again["published"]
    assert again["model_url"] == first["model_url"]


@pytest.mark.slow
def test_five_days_later_the_model_is_reused_with_its_evaluation(runs, histories):
    from ganjobs.io.publisher import is_published

    first, s = runs["first"], runs["plus5"]
    assert s["model_decision"] == "reuse" and s["published"]
    assert "5 business days old (refit every 21)" in s["model_reason"]
    assert s["as_of"] == histories["last"]["plus5"] != first["as_of"]
    m = _manifest(s["scenarios_url"])
    assert m["conditioning"]["as_of"] == histories["last"]["plus5"]
    assert m["model"]["location"] == first["model_url"]
    block = m["pipeline"]["model"]
    assert (block["decision"], block["trained_by_run"], block["age_business_days"]) == (
        "reuse", first["run_id"], 5)
    # Nothing trained or evaluated here: the set carries the training run's evaluation.
    assert not is_published(f"{s['run_url']}/model")
    assert not is_published(f"{s['run_url']}/evaluation")
    assert s["report_url"] == first["report_url"]
    assert m["evaluation"]["source"]["run_id"] == first["run_id"]
    assert m["metrics"]["models"].keys() == _manifest(first["scenarios_url"])["metrics"][
        "models"].keys()
    # The stress test ran on the conditional set.
    assert is_published(s["stress_url"])


@pytest.mark.slow
def test_thirty_days_later_the_model_is_retrained_for_age(runs, lake, histories):
    s = runs["plus30"]
    assert s["model_decision"] == "train" and s["published"]
    assert s["model_reason"] == "retrained: 30 business days old, refit every 21"
    assert s["model_url"] == f"{s['run_url']}/model"
    assert _manifest(s["scenarios_url"])["pipeline"]["model"]["replaces"] == runs["first"][
        "model_url"]


@pytest.mark.slow
def test_a_corrected_past_price_retrains_the_model(runs, lake, histories):
    s = runs["altered"]
    assert s["model_decision"] == "train" and s["published"]
    assert s["model_reason"] == (f"retrained: prices up to {histories['last']['plus30']} "
                                 "changed since the model was trained")
    pointer = _pointer(lake)
    assert pointer["model"] == s["model_url"] and pointer["run_id"] == s["run_id"]
    assert pointer["input_last_date"] == histories["last"]["plus30"]


def _meta(symbols=SYMBOLS, sha="a" * 64, upto="2020-01-31", **config_over):
    from ganjobs.config import CONFIG_SCHEMA, resolve_config

    cfg = resolve_config("tiny-daily", **config_over).model_dump(mode="json")
    return {"symbols": list(symbols), "config": cfg, "config_schema": CONFIG_SCHEMA,
            "data": {"sha256": sha, "input_last_date": upto}}


@pytest.mark.parametrize("meta, prefix_kw, reason", [
    (_meta(), {}, "reused model m trained to 2020-01-31, 3 business days old (refit every 5)"),
    (_meta(), {"dates_after": 5}, "retrained: 5 business days old, refit every 5"),
    (_meta(symbols=["SPX"]), {}, "retrained: symbols changed (SPX -> SPX,NDX)"),
    (_meta(**{"model.blocks": 4, "train.steps": 9}), {},
     "retrained: configuration changed (model.blocks, train.steps)"),
    (_meta(), {"sha256": "b" * 64, "dates_after": 7},
     "retrained: prices up to 2020-01-31 changed since the model was trained; "
     "7 business days old, refit every 5"),
    (_meta(), {"last_date": "2020-01-15", "dates_after": 0},
     "retrained: today's prices end on 2020-01-15, before the model's last input date "
     "2020-01-31"),
])
def test_model_decision_names_every_reason(meta, prefix_kw, reason):
    from flows.model_reuse import decide
    from ganjobs.config import resolve_config
    from ganjobs.data.prefix import PrefixCheck

    prefix = PrefixCheck(**{"upto": "2020-01-31", "sha256": "a" * 64, "dates_after": 3,
                            "last_date": "2020-02-05", **prefix_kw})
    out = decide(pointer={"model": "m"}, meta=meta, symbols=SYMBOLS, prefix=prefix,
                 config=resolve_config("tiny-daily").model_dump(mode="json"), refit_every=5)
    assert out["reason"] == reason
    assert out["action"] == ("reuse" if reason.startswith("reused") else "train")


def test_model_decision_without_a_published_model():
    from flows.model_reuse import decide

    assert decide(pointer=None, meta=None, config={}, symbols=SYMBOLS, prefix=None,
                  refit_every=21)["reason"] == "trained: no earlier model of this series"
    out = decide(pointer={"model": "s3://b/m"}, meta=None, config={}, symbols=SYMBOLS,
                 prefix=None, refit_every=21)
    assert out == {**out, "action": "train",
                   "reason": "retrained: the last model s3://b/m is not published"}


def test_prefix_fingerprint_is_the_fingerprint_of_the_data_cut_there(histories):
    from ganjobs.data.prefix import prefix_since
    from ganjobs.data.prices import load_market_data

    base = load_market_data(histories["base"], SYMBOLS)
    later = prefix_since(histories["plus30"], SYMBOLS, base.last_date)
    assert (later.sha256, later.dates_after) == (base.fingerprint, 30)
    assert later.last_date == histories["last"]["plus30"]
    assert prefix_since(histories["altered"], SYMBOLS, base.last_date).sha256 != base.fingerprint
    whole = prefix_since(histories["base"], SYMBOLS, base.last_date)
    assert (whole.sha256, whole.dates_after) == (base.fingerprint, 0)


def test_pipeline_defaults_to_the_daily_preset_and_monthly_refits():
    from flows.params import PipelineParams

    p = PipelineParams(prices="p", root="r")
    assert (p.preset, p.refit_every) == ("daily", 21)
    with pytest.raises(ValueError):
        PipelineParams(prices="p", root="r", refit_every=-1)


@pytest.mark.slow
def test_backtest_flow_publishes_next_to_the_sets_once(harness, lake, histories):
    """The weekly deployment's flow, on the baselines only (no training): results under
    ``backtests/<as-of>/<run-id>/`` with ``backtests/LATEST``; an identical run adds nothing."""
    from flows.backtest_flow import BacktestParams, scenario_backtest
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import read_json

    params = BacktestParams(prices=histories["base"], root=lake["root"], name="daily",
                            origins=3, refit_every=None, n=100, horizons=[1, 2],
                            models=["fhs", "hs-250"], portfolio=lake["portfolio"], seed=1)
    state = scenario_backtest(params, return_state=True)
    assert state.is_completed(), state.message
    s = state.result()
    last = histories["last"]["base"]
    assert s["published"] and s["latest_updated"] and s["as_of"] == last
    assert s["backtest_url"] == f"{lake['root']}/daily/backtests/{last}/{s['run_id']}"
    assert is_published(s["backtest_url"])
    summary = read_json(f"{s['backtest_url']}/backtest.json")
    assert (summary["origins"], summary["end"], summary["models"]) == (3, last,
                                                                      ["fhs", "hs-250"])
    assert {"SPX", "NDX", "test-book"} <= {r["target"] for r in summary["results"]}
    latest = read_json(f"{lake['root']}/daily/backtests/LATEST")
    assert latest["backtest"] == s["backtest_url"] and latest["report"] == s["report_url"]
    again = scenario_backtest(params, return_state=True).result()
    assert again["run_id"] == s["run_id"]
    assert not again["published"] and not again["latest_updated"]


@pytest.mark.slow
def test_demo_run_again_in_the_same_lake_reuses_the_model(harness, tmp_path, capsys):
    """``make demo`` twice (tiny preset, few paths): the second run says it reused the model
    the first trained, and that the set was already published."""
    from flows.demo import main
    from ganjobs.data.prices import load_market_data

    argv = ["--lake", str(tmp_path), "--preset", "tiny-daily", "--n", "32", "--horizon", "5",
            "--no-portfolio", "--no-credit"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    last = load_market_data(f"{tmp_path}/prices").last_date  # common to the bundled symbols
    assert f"[demo] as of {last}: paths start from the market's state on {last}" in first
    assert "[demo] model: trained: no earlier model of this series" in first
    assert "published a new scenario set" in first
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert f"[demo] model: reused model {tmp_path}/runs/demo/{last}/" in again
    assert f"trained to {last}, 0 business days old (refit every 21)" in again
    assert "identical inputs: the set was already published" in again
    assert "ganjobs backtest --prices" in again


def test_prefix_of_a_ragged_end_is_found_per_symbol(histories, tmp_path):
    """SPX had two more closes than NDX when the model was trained; later NDX caught up and
    both went on: the model's rows are still a prefix of today's, cut per symbol."""
    from ganjobs.data.prefix import prefix_since
    from ganjobs.data.prices import load_market_data, read_prices

    today = read_prices(histories["plus5"])
    dates = sorted(today["date"].unique())
    cut = dates[-6]  # the common end then
    spx_tail = (today["symbol"] == "SPX") & (today["date"] <= dates[-4])
    then = today[(today["date"] <= cut) | spx_tail]
    then.to_parquet(tmp_path / "then.parquet", index=False)
    model = load_market_data(str(tmp_path / "then.parquet"), SYMBOLS)
    assert model.last_date == str(pd.Timestamp(cut).date())
    check = prefix_since(histories["plus5"], SYMBOLS, model.last_date, expected=model.fingerprint)
    assert check.sha256 == model.fingerprint and check.dates_after == 5
    assert check.tails == {"SPX": str(pd.Timestamp(dates[-4]).date())}
    # Without the recorded fingerprint only the cut at the common end is taken.
    assert prefix_since(histories["plus5"], SYMBOLS, model.last_date).sha256 != model.fingerprint
