"""Scenarios from a history with many unchanged prices: is there a point mass at zero?

Run with ``make bench-ticks`` (or ``python -m bench.bench_ticks``). The history is the
bundled S&P 500 as a share priced at 1/``--scale`` of the index (about $12–15 before 2001),
its closes rounded to cents, and to eighths of a dollar before 2001-01-01 as US quotes were
before decimalisation: many of its daily returns are exactly zero, most of them in 1999–2000.
(The index itself rounded to 1/8 has almost none: at 1,200–1,500 points a day rarely moves
less than 1/16; the bench prints that share too.)

It trains ``--preset`` on that symbol alone, generates ``--n`` × ``--horizon`` scenarios
with the seed, evaluates them with :func:`ganjobs.evaluate.command.evaluate_scenarios`, and
measures the share of days within ``1e-5`` of zero — scenarios, the training window's
returns, the same window before rounding (the continuous version), GARCH(1,1)-t paths of the
evaluation — overall and in the calmest and most turbulent third of 20-day windows, beside
the discriminative score on 20-day windows (``|accuracy - 0.5|``).

``--before FILE`` adds the results of an earlier run to the table and the JSON output.
``--weights-from MODEL`` skips training: it takes the generator weights of a model folder an
earlier run trained (same history, preset and seed) and fits the output calibration anew with
the current code, as training would at its end — to measure a change of the calibration
alone, on the very same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

SYMBOL = "SPX"
NEAR_ZERO = 1e-5
DECIMALISATION = "2001-01-01"
WINDOW = 20


def tick_history(scale: float) -> tuple[Any, Any]:
    """``(rounded, continuous)`` long-layout prices of the S&P 500 divided by ``scale``."""
    from ganjobs.data.sample import bundled_prices
    from ganjobs.data.ticks import round_to_tick

    prices = bundled_prices()
    spx = prices[prices["symbol"] == SYMBOL].reset_index(drop=True)
    spx["close"] = spx["close"] / scale
    cents = round_to_tick(spx, 0.01)
    return round_to_tick(cents, 1 / 8, before=DECIMALISATION), spx


def near_zero_share(values: np.ndarray) -> float:
    """Share of values within :data:`NEAR_ZERO` of zero."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return float(np.mean(np.abs(v) <= NEAR_ZERO))


def by_turbulence(paths: np.ndarray) -> dict[str, float]:
    """Near-zero share of the days in the calmest and the most turbulent third of the
    non-overlapping 20-day windows (ranked by their own standard deviation)."""
    n, h = paths.shape[:2]
    w = paths[:, : h - h % WINDOW, 0].reshape(n, -1, WINDOW).reshape(-1, WINDOW)
    sd = w.std(axis=1)
    lo, hi = np.quantile(sd, [1 / 3, 2 / 3])
    return {"calm": near_zero_share(w[sd <= lo]), "turbulent": near_zero_share(w[sd >= hi])}


def windows_of(returns: np.ndarray, horizon: int) -> np.ndarray:
    """A real series cut into ``horizon``-day chunks, shaped like paths ``(m, horizon, 1)``."""
    m = len(returns) // horizon
    return np.asarray(returns[: m * horizon], float).reshape(m, horizon, 1)


def recalibrate(source: str, out: str, prices: str) -> dict[str, Any]:
    """Publish at ``out`` the model at ``source`` with its calibration fitted anew, exactly
    as :func:`ganjobs.train.command.train_model` fits it after training."""
    from ganjobs.core.split import split_for_training
    from ganjobs.data.prices import load_market_data
    from ganjobs.model.folder import fit_calibration, load_model, write_model_folder

    m = load_model(source)
    split = split_for_training(load_market_data(prices, m.symbols), m.config.data)
    target = m.preprocessor.transform(split.train).astype(np.float32)
    cal = fit_calibration(m.config, m.state, m.k, target)
    meta = m.meta
    write_model_folder(out, cfg=m.config, generator_state=m.state, preprocessor=m.preprocessor,
                       symbols=m.symbols, data_record=meta["data"], step=meta["steps"],
                       metrics=meta["metrics"], training=meta["training"],
                       created_at=meta["created_at"], calibration=cal)
    return {"steps": meta["steps"]}


def run(root: str, preset: str, seed: int, n: int, horizon: int, scale: float,
        steps: int | None, weights_from: str | None = None) -> dict[str, Any]:
    """Train, generate, evaluate and measure; return the results."""
    from ganjobs.data.prices import load_market_data
    from ganjobs.data.sample import bundled_prices
    from ganjobs.data.ticks import round_to_tick, zero_return_profile
    from ganjobs.evaluate.command import (
        PROJECT,
        evaluate_scenarios,
        simulate_models,
        training_window,
    )
    from ganjobs.generate.command import generate_scenarios
    from ganjobs.model.folder import load_model
    from ganjobs.scenarios import open_scenarios
    from ganjobs.train.command import train_model

    rounded, continuous = tick_history(scale)
    files = {}
    for name, frame in (("rounded", rounded), ("continuous", continuous)):
        files[name] = os.path.join(root, f"{name}.parquet")
        frame.to_parquet(files[name], index=False)
    index_eighths = bundled_prices()
    index_eighths = round_to_tick(index_eighths[index_eighths["symbol"] == SYMBOL], 1 / 8,
                                  before=DECIMALISATION)
    index_eighths.to_parquet(os.path.join(root, "index-eighths.parquet"), index=False)
    md_index = load_market_data(os.path.join(root, "index-eighths.parquet"))

    md = load_market_data(files["rounded"])
    md_cont = load_market_data(files["continuous"])
    model, scen, ev = (os.path.join(root, p) for p in ("model", "set", "eval"))
    kwargs: dict[str, Any] = {"steps": steps} if steps is not None else {}
    t0 = time.perf_counter()
    trained = (recalibrate(weights_from, model, files["rounded"]) if weights_from else
               train_model(prices=files["rounded"], out=model, preset=preset, seed=seed,
                           workers=1, **kwargs))
    t1 = time.perf_counter()
    generate_scenarios(model=model, out=scen, n=n, horizon=horizon, seed=seed, progress=False)
    result = evaluate_scenarios(scenarios=scen, prices=files["rounded"], out=ev, seed=seed,
                                max_paths=n)
    t2 = time.perf_counter()

    block = load_model(model).meta["data"]
    train, _, _ = training_window(md, block)
    train_cont, _, _ = training_window(md_cont, block)
    paths = open_scenarios(scen).paths(max_scenarios=n)
    garch = simulate_models(train, n, horizon, seed, ("garch-t",))["garch-t"]
    metrics = result["metrics"]["models"]
    disc = {m: metrics[m]["per_symbol"][SYMBOL]["discriminative"] for m in (PROJECT, "garch-t")}
    profile = zero_return_profile(md.returns[:, 0], md.dates[1:])
    body = load_model(model).meta["calibration"].get("body", {})
    return {
        "preset": preset, "seed": seed, "n": n, "horizon": horizon, "scale": scale,
        "steps": trained.get("steps"), "weights_from": weights_from,
        "seconds": {"train": t1 - t0, "generate_evaluate": t2 - t1},
        "history": {
            "zero_share": profile.share, "zero_count": profile.count,
            "zero_share_before_2001": float(np.mean(
                md.returns[md.dates[1:] < np.datetime64(DECIMALISATION), 0] == 0)),
            "longest_run": profile.longest_run, "notes": md.notes,
            "index_eighths_zero_share": float(np.mean(md_index.returns == 0)),
            "train_zero_share": float(np.mean(train == 0)),
        },
        "near_zero": {
            "scenarios": near_zero_share(paths), "data": near_zero_share(train),
            "data_continuous": near_zero_share(train_cont), "garch-t": near_zero_share(garch),
        },
        "near_zero_by_turbulence": {
            "scenarios": by_turbulence(paths), "garch-t": by_turbulence(garch),
            "data": by_turbulence(windows_of(train, horizon)),
        },
        "discriminative": disc,
        "flat_target_knots": int(np.sum(np.diff(np.asarray(body.get("target", [[0, 1]]))[0])
                                        <= 0)),
        "report_url": result["report_url"],
    }


def rows(res: dict[str, Any], label: str) -> list[list[str]]:
    """Table rows of one run: what, scenarios, data, continuous data, GARCH-t."""
    nz, turb, disc = res["near_zero"], res["near_zero_by_turbulence"], res["discriminative"]
    pct = "{:.3%}".format
    return [
        [f"{label}: days within 1e-5 of 0", pct(nz["scenarios"]), pct(nz["data"]),
         pct(nz["data_continuous"]), pct(nz["garch-t"])],
        [f"{label}: same, calmest third of 20-day windows", pct(turb["scenarios"]["calm"]),
         pct(turb["data"]["calm"]), "–", pct(turb["garch-t"]["calm"])],
        [f"{label}: same, most turbulent third", pct(turb["scenarios"]["turbulent"]),
         pct(turb["data"]["turbulent"]), "–", pct(turb["garch-t"]["turbulent"])],
        [f"{label}: discriminative |acc - 0.5| (20-day)", f"{disc['ganjobs']:.3f}", "–", "–",
         f"{disc['garch-t']:.3f}"],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=2000, help="scenarios (default 2000)")
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--scale", type=float, default=100.0,
                    help="the share's price is the index divided by this (default 100)")
    ap.add_argument("--workdir", default=None, help="keep prices, model, set and report here")
    ap.add_argument("--before", default=None, help="JSON of an earlier run to compare with")
    ap.add_argument("--weights-from", default=None, metavar="MODEL",
                    help="recalibrate this model folder's weights instead of training")
    ap.add_argument("--label", default="now", help="name of this run in the table")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    root = os.path.join(args.workdir or tempfile.mkdtemp(prefix="bench-ticks-"),
                        f"{args.preset}-seed{args.seed}")
    shutil.rmtree(root, ignore_errors=True)  # this run's own folder only
    os.makedirs(root)
    console.print(f"[bold]bench-ticks[/bold]: S&P 500 / {args.scale:g} in 1/8 before 2001, "
                  f"cents after; preset {args.preset}, seed {args.seed}, {args.n} × "
                  f"{args.horizon} scenarios; work dir {root}")
    res = run(root, args.preset, args.seed, args.n, args.horizon, args.scale, args.steps,
              args.weights_from)
    h = res["history"]
    console.print(f"history: {h['zero_share']:.1%} zero returns ({h['zero_count']}), "
                  f"{h['zero_share_before_2001']:.1%} before 2001, longest run "
                  f"{h['longest_run']}; the index itself in 1/8 before 2001: "
                  f"{h['index_eighths_zero_share']:.2%}; training window "
                  f"{h['train_zero_share']:.1%}")
    for note in h["notes"]:
        console.print(f"note: {note}")
    how = f"recalibrated from {args.weights_from}" if args.weights_from else "trained"
    console.print(f"{how}: {res['steps']} steps in {res['seconds']['train']:.0f}s; "
                  f"flat target knots {res['flat_target_knots']}; report {res['report_url']}")
    out: dict[str, Any] = {args.label: res}
    table = Table(title="near-zero days and discriminative score")
    for col in ("measure", "scenarios", "data (train)", "data unrounded",
                "GARCH-t"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    if args.before:
        with open(args.before) as fh:
            before = json.load(fh)
        for label, prev in before.items():
            if label != args.label and isinstance(prev, dict) and "near_zero" in prev:
                out[label] = prev
                for r in rows(prev, label):
                    table.add_row(*r)
    for r in rows(res, args.label):
        table.add_row(*r)
    console.print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
        console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
