"""``make serve``: run the scenario pipeline and the backtest on their schedules from this
process (``prefect.serve``).

Two deployments: the daily scenario run (business days after the US close) and the weekly
backtest of the series (``flows.backtest_flow``, Saturday morning). No work pool or worker is
needed: this process registers both on the Prefect API (``PREFECT_API_URL``; Prefect's
ephemeral local API when unset) and runs the scheduled flow runs itself until interrupted,
one at a time. Locations default to the environment (``GANJOBS_PRICES``,
``GANJOBS_ROOT``, ``GANJOBS_PORTFOLIO``), else the demo lake.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flows.cli_options import add_overrides_option, parsed_overrides
from flows.params import PipelineParams

CRON = "30 18 * * 1-5"  # business days, 2.5 h after the NYSE close
BACKTEST_CRON = "0 6 * * 6"  # Saturdays: a slow run, when no daily run competes
TIMEZONE = "America/New_York"
EXAMPLE_PORTFOLIO = Path(__file__).with_name("example_portfolio.yaml")


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prices", default=env("GANJOBS_PRICES", "lake/prices"))
    p.add_argument("--root", default=env("GANJOBS_ROOT", "lake/runs"))
    p.add_argument("--name", default=env("GANJOBS_NAME", "daily"))
    p.add_argument("--portfolio", default=env("GANJOBS_PORTFOLIO", str(EXAMPLE_PORTFOLIO)),
                   help="portfolio YAML for the stress test ('' for none)")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--horizon", type=int, default=252)
    p.add_argument("--preset", default="daily", help="training preset (default: daily)")
    p.add_argument("--refit-every", type=int, default=21,
                   help="retrain after this many business days of new prices")
    add_overrides_option(p)
    p.add_argument("--cron", default=CRON)
    p.add_argument("--timezone", default=TIMEZONE)
    p.add_argument("--deployment", default="daily-scenarios-local")
    p.add_argument("--backtest-cron", default=BACKTEST_CRON,
                   help="schedule of the backtest ('' to serve the daily run only)")
    p.add_argument("--backtest-deployment", default="weekly-backtest-local")
    return p


def main(argv: list[str] | None = None) -> None:
    from prefect import serve
    from prefect.schedules import Cron

    from flows.backtest_flow import BacktestParams, scenario_backtest
    from flows.pipeline import scenario_pipeline

    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = parsed_overrides(parser, args)
    # Absolute paths: scheduled runs must not depend on the serving process's cwd.
    absolute = (lambda u: u if "://" in u else os.path.abspath(u))  # noqa: E731
    params = PipelineParams(
        prices=absolute(args.prices), root=absolute(args.root), name=args.name,
        portfolio=absolute(args.portfolio) if args.portfolio else None,
        n=args.n, horizon=args.horizon, preset=args.preset or None,
        refit_every=args.refit_every, overrides=overrides,
    )
    deployments = [scenario_pipeline.to_deployment(
        name=args.deployment,
        schedules=[Cron(args.cron, timezone=args.timezone)],
        parameters={"params": params.model_dump(mode="json", exclude_none=True)},
        tags=["ganjobs", "scenarios"],
        description="Scenario pipeline on a business-day schedule (served locally)",
        concurrency_limit=1,
    )]
    print(f"serving {args.deployment}: '{args.cron}' ({args.timezone}); "
          f"prices {params.prices} -> {params.root}/{params.name}/")
    if args.backtest_cron:
        backtest = BacktestParams(prices=params.prices, root=params.root, name=params.name,
                                  portfolio=params.portfolio, preset=params.preset,
                                  overrides=overrides)
        deployments.append(scenario_backtest.to_deployment(
            name=args.backtest_deployment,
            schedules=[Cron(args.backtest_cron, timezone=args.timezone)],
            parameters={"params": backtest.model_dump(mode="json", exclude_none=True)},
            tags=["ganjobs", "backtest"],
            description="VaR/ES backtest of the series on a weekly schedule (served locally)",
            concurrency_limit=1,
        ))
        print(f"serving {args.backtest_deployment}: '{args.backtest_cron}' ({args.timezone}) "
              f"-> {params.root}/{params.name}/backtests/")
    # One run at a time: a backtest and a daily run would compete for the same cores.
    serve(*deployments, limit=1)


if __name__ == "__main__":
    main()
