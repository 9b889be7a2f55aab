"""``make demo``: the daily pipeline on the bundled real prices, locally, in a few minutes.

Writes the bundled daily prices (S&P 500, NASDAQ, WTI) to ``<lake>/prices``, runs the
scenario pipeline once (Prefect's ephemeral local API unless ``PREFECT_API_URL`` is set, a
local Ray cluster, CPU, the conditional ``daily`` preset) with the example portfolio, and
prints the as-of date, whether the series' model was reused or trained and why, and where
the scenario set, the report, the stress results and the Prefect run are. Run it again in
the same lake and the model is reused.

Then the credit pipeline (``flows.credit_pipeline``) on the bundled real ``credit_data`` loan
table, written to ``<lake>/credit``, with the ``table`` preset cut to 1,500 steps: a
synthetic loan book, its evaluation against the real table and the baselines, and where they
are.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from flows.cli_options import add_overrides_option, parsed_overrides

EXAMPLE_PORTFOLIO = Path(__file__).with_name("example_portfolio.yaml")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flows.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lake", default="lake", help="local folder for prices and outputs")
    p.add_argument("--name", default="demo", help="scenario series name")
    p.add_argument("--n", type=int, default=5000, help="number of scenarios")
    p.add_argument("--horizon", type=int, default=252, help="days per scenario")
    p.add_argument("--preset", default="daily",
                   help="training preset (default: daily, a conditional model)")
    p.add_argument("--refit-every", type=int, default=21,
                   help="retrain after this many business days of new prices")
    p.add_argument("--steps", type=int, default=None, help="training steps (preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-portfolio", action="store_true", help="skip the stress test")
    p.add_argument("--credit-preset", default="table",
                   help="training preset of the credit run (default: table)")
    p.add_argument("--credit-steps", type=int, default=1500,
                   help="training steps of the credit run (default 1500: about a minute; "
                        "the preset's 6000 give the benchmarked quality)")
    p.add_argument("--no-credit", action="store_true", help="skip the credit pipeline")
    add_overrides_option(p)
    return p


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = parsed_overrides(parser, args)
    # Before Prefect and Ray are imported: no telemetry from a local demo.
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0"),
                       ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("DO_NOT_TRACK", "1")):
        os.environ.setdefault(key, value)
    t0 = time.perf_counter()
    lake = Path(args.lake).absolute()
    prices = lake / "prices"

    from ganjobs.data.sample import write_sample_data

    _say(f"writing the bundled real daily prices to {prices}")
    write_sample_data(str(prices))

    from flows.params import PipelineParams
    from flows.pipeline import scenario_pipeline

    params = PipelineParams(
        prices=str(prices), root=str(lake / "runs"), name=args.name, preset=args.preset,
        steps=args.steps, n=args.n, horizon=args.horizon, seed=args.seed,
        refit_every=args.refit_every,
        portfolio=None if args.no_portfolio else str(EXAMPLE_PORTFOLIO),
        overrides=overrides,
    )
    api = os.environ.get("PREFECT_API_URL")
    _say(f"running the scenario pipeline ({args.n} scenarios x {args.horizon} days, preset "
         f"{args.preset}) on "
         + (f"the Prefect API at {api}" if api else "Prefect's ephemeral local API")
         + "; task progress follows")
    state = scenario_pipeline(params, return_state=True)
    elapsed = time.perf_counter() - t0
    if not state.is_completed():
        _say(f"pipeline FAILED after {elapsed:.0f} s: {state.message}")
        return 1
    _report(state.result(), elapsed, bool(api), params)
    return 0 if args.no_credit else _credit(lake, args)


def _credit(lake: Path, args: argparse.Namespace) -> int:
    """The credit pipeline on the bundled credit_data table; 0 on success."""
    from flows.credit_params import CreditParams
    from flows.credit_pipeline import credit_pipeline, print_summary
    from ganjobs.tabular.credit import write_sample_credit

    t0 = time.perf_counter()
    credit = lake / "credit"
    print()
    _say(f"writing the bundled real credit tables to {credit}")
    write_sample_credit(str(credit))
    params = CreditParams(data=str(credit / "credit_data.parquet"),
                          schema_url=str(credit / "credit_data.schema.yaml"),
                          root=str(lake / "tables"), name=f"{args.name}-credit",
                          preset=args.credit_preset, steps=args.credit_steps, seed=args.seed)
    _say(f"running the credit pipeline on credit_data (preset {args.credit_preset}, "
         f"{args.credit_steps} steps); task progress follows")
    state = credit_pipeline(params, return_state=True)
    elapsed = time.perf_counter() - t0
    if not state.is_completed():
        _say(f"credit pipeline FAILED after {elapsed:.0f} s: {state.message}")
        return 1
    summary = state.result()
    print()
    _say(f"credit run done in {elapsed:.0f} s: "
         + ("published a new loan book" if summary["published"] else
            "identical inputs: the run was already published, nothing new written"))
    print_summary(summary)
    print("  Read the loan book: python -c \"from ganjobs.tabular.table_io import read_table; "
          f"print(read_table('{summary['loan_book_url']}').head())\"")
    return 0


def _report(summary: dict[str, Any], elapsed: float, has_server: bool, params: Any) -> None:
    print()
    _say(f"done in {elapsed:.0f} s: "
         + ("published a new scenario set" if summary["published"] else
            "identical inputs: the set was already published, nothing new written"))
    start = (f"paths start from the market's state on {summary.get('state_as_of')}"
             if summary.get("conditioning") == "as-of" else "long-run paths")
    _say(f"as of {summary['as_of']}: {start}")
    _say(f"model: {summary['model_reason']}")
    rows = [
        ("scenario set", summary["scenarios_url"]),
        ("manifest", summary["scenarios_url"] + "/manifest.json"),
        ("report", summary.get("report_url")),
        ("metrics", summary.get("metrics_url")),
        ("evaluation", summary.get("evaluation_note")),
        ("stress results", summary.get("stress_url")),
        ("model", summary.get("model_url")),
        ("LATEST pointer", summary["latest_url"]),
        ("Prefect flow run", f"{summary.get('flow_run_name')} (id {summary.get('flow_run_id')})"),
    ]
    if has_server and summary.get("ui_url"):
        rows.append(("Prefect UI", summary["ui_url"]))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if value:
            print(f"  {key:<{width}}  {value}")
    if not has_server:
        print("\n  Prefect ran in ephemeral mode: the run and its artifacts are in the local "
              "Prefect database\n  (PREFECT_HOME, ~/.prefect by default). To browse them: "
              "`.venv/bin/prefect server start`,\n  then open http://127.0.0.1:4200 (flow "
              f"run '{summary.get('flow_run_name')}').")
    print("  Read the set: python -c \"from ganjobs.scenarios import open_scenarios; "
          f"print(open_scenarios('{summary['scenarios_url']}').paths().shape)\"")
    # The backtest trains a model per refit and forecasts from every origin: too slow here.
    print("  Backtest the model (slow; weekly in `make serve`): .venv/bin/ganjobs backtest "
          f"--prices {params.prices} --out {params.root}/{params.name}/backtests/manual "
          "--start 2018-01-02")


if __name__ == "__main__":
    sys.exit(main())
