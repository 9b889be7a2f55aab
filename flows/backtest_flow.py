"""The scheduled backtest: out-of-sample VaR/ES forecasts of ganjobs and the conditional
baselines over the series' recent history, published next to its scenario sets.

Orchestration only: ``ganjobs.backtest.command.run_backtest`` does the work (training the
conditional model at each refit, forecasting from every origin, the backtests and the report)
and is imported inside the task, so importing this module never imports torch.

One run writes ``<root>/<name>/backtests/<as-of>/<run-id>/`` (``forecasts.parquet``,
``report.html``, ``backtest.json``, ``_SUCCESS`` last; docs/formats.md) and then moves
``<root>/<name>/backtests/LATEST``. The run id hashes the data fingerprint, the parameters
that shape the results and the code version: identical inputs publish nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows import task_params as tp
from flows.params import absolute_url, check_name, check_url, code_version
from flows.tasks import ingest

LATEST_FORMAT = "ganjobs.latest-backtest/1"


class BacktestParams(BaseModel):
    """Everything one scheduled backtest needs; the deployment's parameters are these."""

    model_config = ConfigDict(extra="forbid")

    prices: str = Field(description="Market prices URL (file, folder or s3:// prefix)")
    root: str = Field(description="Output root URL; results land in "
                                  "<root>/<name>/backtests/<as-of>/<run-id>/")
    name: str = Field("ganjobs", description="Name of the scenario series (lowercase, no /)")
    start: dt.date | None = Field(None, description="First origin date (default: the "
                                                    "last `origins` price dates)")
    origins: int = Field(250, ge=1, description="Origins backtested when start is unset")
    end: dt.date | None = Field(None, description="Last origin date (default: last price date)")
    refit_every: int | None = Field(250, ge=1, description="Refit every this many origins "
                                                            "(expanding window); null: never")
    n: int = Field(2000, ge=100, description="Paths per origin of the simulating models")
    horizons: list[int] = Field(default_factory=lambda: [1, 10],
                                description="Forecast horizons in days")
    portfolio: str | None = Field(None, description="Portfolio YAML: its P&L is one more "
                                                    "target")
    preset: str | None = Field("daily", description="Training preset of ganjobs' model")
    steps: int | None = Field(None, ge=1, description="Training steps (overrides the preset)")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Config overrides by SECTION.FIELD")
    models: list[str] | None = Field(None, description="Rows to compute (default: ganjobs, "
                                                       "ganjobs-unconditional and every "
                                                       "conditional baseline)")
    seed: int = Field(0, ge=0, description="Seed of training and sampling")
    ray_address: str | None = Field(None, description="Ray cluster (default: RAY_ADDRESS "
                                                      "or a local cluster)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("prices", "root")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ganjobs.config import check_overrides

        return check_overrides(value)


def backtest_identity(params: BacktestParams, fingerprint: str, portfolio_sha256: str | None,
                      version: str) -> dict[str, Any]:
    """What determines the results; the Ray address and the locations do not."""
    body = params.model_dump(mode="json", exclude={"prices", "root", "name", "portfolio",
                                                   "ray_address"})
    return {**body, "data_sha256": fingerprint, "portfolio_sha256": portfolio_sha256,
            "code_version": version}


def backtest_run_id(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return "b" + hashlib.sha256(blob).hexdigest()[:12]


class BacktestTask(tp.TaskParams):
    """Backtest into ``out``."""

    prices: tp.PricesUrl
    out: str = Field(description="Folder to publish")
    start: str | None = Field(None, description="First origin (ISO date)")
    origins: int = Field(description="Origins when start is unset")
    end: str | None = Field(None, description="Last origin (ISO date)")
    refit_every: int | None = Field(description="Refit every this many origins")
    n: int = Field(description="Paths per origin")
    horizons: list[int] = Field(description="Horizons in days")
    portfolio: str | None = Field(None, description="Portfolio YAML")
    preset: str | None = Field(None, description="Training preset")
    steps: int | None = Field(None, description="Training steps")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Config overrides")
    models: list[str] | None = Field(None, description="Rows to compute")
    seed: int = Field(0, description="Seed")
    address: str | None = Field(None, description="Ray address")


def first_origin(prices: str, origins: int, end: str | None) -> str:
    """The return date ``origins`` price dates before ``end`` (default: the last one)."""
    import pandas as pd

    from ganjobs.data.prices import load_market_data

    dates = pd.DatetimeIndex(load_market_data(prices).dates)[1:]
    last = len(dates) - 1 if end is None else int(dates.searchsorted(pd.Timestamp(end),
                                                                     "right")) - 1
    return str(dates[max(last - origins + 1, 0)].date())


@task(name="backtest", cache_policy=NO_CACHE, persist_result=False)
def backtest(p: BacktestTask) -> dict[str, Any]:
    """Run and publish the backtest; a folder already published is read back instead."""
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    log = get_run_logger()
    if is_published(p.out):
        log.info("backtest already published at %s", p.out)
        return read_json(join(p.out, "backtest.json"))
    from ganjobs.backtest.command import run_backtest

    start = p.start or first_origin(p.prices, p.origins, p.end)
    log.info("backtest from %s to %s (refit every %s, %d paths, horizons %s) -> %s", start,
             p.end or "the last price date", p.refit_every or "never", p.n, p.horizons, p.out)
    # overwrite: a folder left without _SUCCESS by an interrupted run is taken over.
    return run_backtest(prices=p.prices, out=p.out, start=start, end=p.end,
                        refit_every=p.refit_every, n=p.n, horizons=tuple(p.horizons),
                        portfolio=p.portfolio, preset=p.preset, steps=p.steps, seed=p.seed,
                        address=p.address, models=p.models, overrides=dict(p.overrides),
                        overwrite=True, progress=False)


@task(name="update-backtests-latest", retries=2, retry_delay_seconds=[2, 10],
      cache_policy=NO_CACHE, persist_result=False)
def update_backtests_latest(latest_url: str, record: dict[str, Any]) -> bool:
    """Move ``backtests/LATEST`` forward to this run."""
    from flows.publish import move_pointer

    return move_pointer(latest_url, record, target="backtest", order="as_of",
                        same=("run_id", "as_of"))


@flow(name="scenario-backtest", log_prints=True)
def scenario_backtest(params: BacktestParams) -> dict[str, Any]:
    """Backtest the series' model and the baselines; publish once per distinct input.

    Returns a summary: where the results and the report are, the period, whether this run
    published anything and whether ``backtests/LATEST`` moved.
    """
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_bytes, sha256_bytes

    prices, root = absolute_url(params.prices), absolute_url(params.root)
    portfolio = absolute_url(params.portfolio) if params.portfolio else None
    info = ingest(tp.IngestTask(prices=prices))
    as_of = params.end.isoformat() if params.end else info["data"]["last_date"]
    port_sha = sha256_bytes(read_bytes(portfolio)) if portfolio else None
    run_id = backtest_run_id(backtest_identity(params, info["fingerprint"], port_sha,
                                               code_version()))
    series = join(root, params.name, "backtests")
    out = join(series, as_of, run_id)
    existed = is_published(out)
    result = backtest(BacktestTask(
        prices=prices, out=out, start=params.start.isoformat() if params.start else None,
        origins=params.origins, end=params.end.isoformat() if params.end else None,
        refit_every=params.refit_every, n=params.n, horizons=params.horizons,
        portfolio=portfolio, preset=params.preset, steps=params.steps,
        overrides=params.overrides, models=params.models, seed=params.seed,
        address=params.ray_address))
    report = join(out, "report.html")
    record = {"format": LATEST_FORMAT, "name": params.name, "as_of": as_of, "run_id": run_id,
              "backtest": out, "summary": join(out, "backtest.json"), "report": report,
              "start": result.get("start"), "end": result.get("end"),
              "data": info["data"],
              "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    moved = update_backtests_latest(join(series, "LATEST"), record)
    summary = {"name": params.name, "as_of": as_of, "run_id": run_id, "backtest_url": out,
               "report_url": report, "start": result.get("start"), "end": result.get("end"),
               "origins": result.get("origins"), "models": result.get("models"),
               "published": not existed, "latest_updated": moved}
    from flows.artifacts import publish_backtest_artifacts

    publish_backtest_artifacts(summary, result.get("results") or [])
    get_run_logger().info("done: %s %s", "published" if not existed else "already published",
                          out)
    return summary
