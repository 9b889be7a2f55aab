"""``ganjobs backtest``: out-of-sample VaR/ES forecasts of ganjobs and the conditional
baselines from the same dates, their backtests, published atomically.

The folder at ``out`` holds ``forecasts.parquet`` (one row per model, target, horizon and
origin), ``report.html`` and ``backtest.json`` (the summary, written last before
``_SUCCESS``; layout in docs/formats.md).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.backtest.engine import MEASURES, Plan, realized, refit_positions, run_models
from ganjobs.core.seeds import check_seed
from ganjobs.core.version import code_version
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher, precheck_out

FORMAT = "ganjobs.backtest/1"
REFERENCE = "fhs"
GAN_MODELS = ("ganjobs", "ganjobs-unconditional")
FORECASTS_FILE = "forecasts.parquet"
REPORT_FILE = "report.html"
SUMMARY_FILE = "backtest.json"


def _date(value: Any, flag: str) -> pd.Timestamp | None:
    from ganjobs.generate.conditioning import parse_as_of

    try:
        return parse_as_of(value)
    except GanjobsError:
        raise GanjobsError(f"{flag} {value!r}: give a date as YYYY-MM-DD") from None


def _check(n: int, horizons: Any, refit_every: int | None, seed: int) -> tuple[int, ...]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 100:
        raise GanjobsError(f"--n must be an integer of at least 100 (paths per origin), got {n}")
    hs = tuple(horizons)
    if not hs or any(isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 250
                     for h in hs) or len(set(hs)) != len(hs):
        raise GanjobsError(f"--horizons must be distinct days in [1, 250], got {horizons}")
    if refit_every is not None and (isinstance(refit_every, bool) or
                                    not isinstance(refit_every, int) or refit_every < 1):
        raise GanjobsError(f"--refit-every must be a positive number of days or 'never', "
                           f"got {refit_every}")
    check_seed(seed)
    return tuple(sorted(hs))


def plan_backtest(data: Any, start: Any, end: Any, refit_every: int | None,
                  horizons: tuple[int, ...], portfolio: Any | None) -> Plan:
    """Origins from ``start`` to ``end`` (return dates), refit positions, targets."""
    ret_dates = pd.DatetimeIndex(data.dates)[1:]
    s, e = _date(start, "--start"), _date(end, "--end")
    if s is None:
        raise GanjobsError("--start is required")
    first = int(ret_dates.searchsorted(s, side="left"))
    last = len(ret_dates) - 1 if e is None else int(ret_dates.searchsorted(e, "right")) - 1
    if first >= len(ret_dates) or last < first:
        raise GanjobsError(f"no price dates between --start {s.date()} and the end "
                           f"({ret_dates[-1].date()}) of {data.source}")
    origins = np.arange(first, last + 1)
    weights = name = None
    if portfolio is not None:
        missing = [s_ for s_ in portfolio.positions if s_ not in data.symbols]
        if missing:
            raise GanjobsError(f"portfolio {portfolio.name!r}: symbol(s) {', '.join(missing)} "
                               f"not in the prices ({', '.join(data.symbols)})")
        notional = np.array([portfolio.positions.get(s_, 0.0) for s_ in data.symbols])
        weights, name = notional / np.abs(notional).sum(), portfolio.name
        if name in data.symbols:
            raise GanjobsError(f"portfolio name {name!r} is also a symbol: rename it")
    return Plan(origins=origins, dates=ret_dates[origins],
                refits=refit_positions(first, last + 1, refit_every), horizons=horizons,
                symbols=list(data.symbols), weights=weights, portfolio=name)


def forecasts_table(plan: Plan, results: dict[str, np.ndarray],
                    real: np.ndarray) -> pd.DataFrame:
    """The long table of forecasts, sorted by model, target, horizon, date."""
    frames = []
    for model, values in results.items():
        for ti, target in enumerate(plan.targets):
            for hi, h in enumerate(plan.horizons):
                frame = {"date": plan.dates.date, "target": target,
                         "horizon": np.int32(h), "model": model}
                for mi, (name, _) in enumerate(MEASURES):
                    frame[name] = values[:, hi, ti, mi]
                frame["realized"] = real[:, hi, ti]
                frames.append(pd.DataFrame(frame))
    table = pd.concat(frames, ignore_index=True)
    table["horizon"] = table["horizon"].astype("int32")
    return table.sort_values(["model", "target", "horizon", "date"], kind="stable",
                             ignore_index=True)


def summary_rows(table: pd.DataFrame, seed: int) -> list[dict[str, Any]]:
    """backtest.json's ``results``: every model × target × horizon × level."""
    from ganjobs.backtest.stats import summarise

    rows = []
    for (model, target, h), grp in table.groupby(["model", "target", "horizon"], sort=True):
        ref = table[(table.model == REFERENCE) & (table.target == target)
                    & (table.horizon == h)]
        reference = None if model == REFERENCE or ref.empty else {
            k: ref[k].to_numpy() for k in ("var_99", "var_975", "es_975")}
        for row in summarise(grp["date"].to_numpy("datetime64[D]"), grp["realized"].to_numpy(),
                             grp["var_99"].to_numpy(), grp["var_975"].to_numpy(),
                             grp["es_975"].to_numpy(), int(h), reference=reference, seed=seed):
            rows.append({"model": model, "target": target, "horizon": int(h), **row})
    return rows


def _forecasters(data: Any, models: list[str], work: str, preset: str | None,
                 steps: int | None, seed: int, address: str | None,
                 overrides: dict[str, Any] | None) -> list[Any]:
    from ganjobs.backtest.gan_forecaster import GanForecaster, GanLongRunForecaster, GanTrainer
    from ganjobs.forecast.registry import make_forecaster

    trainer = GanTrainer(data, work, preset, steps, seed, address, overrides)
    out = []
    for name in models:
        if name == "ganjobs":
            out.append(GanForecaster(trainer))
        elif name == "ganjobs-unconditional":
            if "ganjobs" not in models:
                raise GanjobsError("model ganjobs-unconditional needs model ganjobs")
            out.append(GanLongRunForecaster(trainer))
        else:
            out.append(make_forecaster(name))
    return out


def run_backtest(prices: str, out: str, start: Any, end: Any = None,
                 refit_every: int | None = 250, n: int = 2000,
                 horizons: tuple[int, ...] = (1, 10), portfolio: str | None = None,
                 preset: str | None = "daily", steps: int | None = None, seed: int = 0,
                 address: str | None = None, models: list[str] | None = None,
                 overrides: dict[str, Any] | None = None, overwrite: bool = False,
                 progress: bool = True) -> dict[str, Any]:
    """Backtest ganjobs and the conditional baselines on ``prices`` from ``start``.

    Parameters
    ----------
    prices, out : str
        Prices URL and the output folder URL.
    start, end : str or date
        First and last origin dates (``end``: the last price date when None).
    refit_every : int or None
        Refit every this many origins (business days), expanding window; None: never.
    n : int
        Paths per origin of the simulating models.
    horizons : tuple of int
        Forecast horizons in days.
    portfolio : str, optional
        Portfolio YAML; its P&L over gross notional is one more target.
    preset, steps, seed, address, overrides
        How ganjobs' model is trained at each refit (``ganjobs train``'s options).
    models : list of str, optional
        Rows to compute (default: ganjobs, ganjobs-unconditional and every baseline).

    Returns
    -------
    dict
        The published ``backtest.json``.
    """
    from ganjobs.data.portfolio import load_portfolio
    from ganjobs.data.prices import load_market_data
    from ganjobs.forecast.registry import CONDITIONAL_BASELINES

    hs = _check(n, horizons, refit_every, seed)
    models = list(models or (*GAN_MODELS, *CONDITIONAL_BASELINES))
    precheck_out(out, overwrite=overwrite)
    data = load_market_data(prices)
    book = load_portfolio(portfolio) if portfolio else None
    plan = plan_backtest(data, start, end, refit_every, hs, book)
    say = (lambda m: print(f"[ganjobs.backtest] {m}", file=sys.stderr, flush=True)) \
        if progress else None
    t0 = time.perf_counter()
    work = tempfile.mkdtemp(prefix="ganjobs-backtest-")
    try:
        fcs = _forecasters(data, models, work, preset, steps, seed, address, overrides)
        results, timing = run_models(data.returns, plan, fcs, n, seed, say)
        gan_fit = fcs[models.index("ganjobs")].trainer.seconds if "ganjobs" in models else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = forecasts_table(plan, results, realized(data.returns, plan.origins, hs,
                                                     plan.weights))
    summary = _summary(data, plan, models, n, seed, refit_every, preset, steps, timing,
                       gan_fit, time.perf_counter() - t0)
    summary["results"] = summary_rows(table, seed)
    return _publish(out, overwrite, table, summary)


def _summary(data: Any, plan: Plan, models: list[str], n: int, seed: int,
             refit_every: int | None, preset: str | None, steps: int | None, timing: Any,
             gan_fit: list[float], seconds: float) -> dict[str, Any]:
    from ganjobs.backtest.stats import json_ready

    H = max(plan.horizons)
    g_paths = timing.paths.get("ganjobs", 0)
    g_secs = timing.scenario_seconds.get("ganjobs", 0.0)
    return json_ready({
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "start": str(plan.dates[0].date()), "end": str(plan.dates[-1].date()),
        "origins": len(plan.origins),
        "refit_every": refit_every,
        "refit_dates": [str(plan.dates[np.searchsorted(plan.origins, p)].date())
                        for p in plan.refits],
        "n_paths": n, "horizons": list(plan.horizons), "seed": seed,
        "models": models, "reference_model": REFERENCE, "targets": plan.targets,
        "portfolio": None if plan.weights is None else {
            "name": plan.portfolio, "weights": dict(zip(plan.symbols, plan.weights.tolist(),
                                                        strict=True))},
        "ganjobs": {"preset": preset, "steps": steps},
        "data": data.data_record(),
        "timing": {
            "seconds": round(seconds, 1),
            "fit_seconds": {k: round(v, 2) for k, v in timing.fit_seconds.items()},
            "scenario_seconds": {k: round(v, 2) for k, v in timing.scenario_seconds.items()},
            "ganjobs_train_seconds": [round(s, 1) for s in gan_fit],
            "ganjobs_origin_path_steps_per_s": (g_paths * H / g_secs) if g_secs else None,
        },
    })


def _publish(out: str, overwrite: bool, table: pd.DataFrame,
             summary: dict[str, Any]) -> dict[str, Any]:
    from ganjobs.backtest.report import render_backtest_report

    buf = io.BytesIO()
    schema = pa.schema([("date", pa.date32()), ("target", pa.string()), ("horizon", pa.int32()),
                        ("model", pa.string()), ("var_99", pa.float64()),
                        ("var_975", pa.float64()), ("es_975", pa.float64()),
                        ("realized", pa.float64())])
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), buf,
                   compression="zstd")
    html = render_backtest_report(table, summary).encode()
    publisher = Publisher(out, overwrite=overwrite)
    with publisher:
        publisher.write_part(FORECASTS_FILE, buf.getvalue(), rows=len(table))
        publisher.write_part(REPORT_FILE, html, rows=0)
        return publisher.commit(summary, name=SUMMARY_FILE)
