"""Scenario quality of the default preset against the baselines, and the quality bars.

Run with ``make bench-quality`` (or ``python -m bench.bench_quality``). For each
configuration — every bundled symbol alone (SPX, NDX, WTI) and the three jointly — and each
seed, it trains the default preset on the bundled real prices, generates ``--n`` scenarios of
``--horizon`` days with the same seed, and evaluates them with
:func:`ganjobs.evaluate.command.evaluate_scenarios` (baselines simulated with that seed
too). It prints
the project's metrics as mean ± std over seeds beside every baseline, and which of the
quality bars are met by the means.

Honesty: the model evaluated is the one the preset's fixed step budget ends on; no checkpoint
or step count is chosen by looking at these metrics, and no path is filtered.

``--quick`` is a smoke run: the joint configuration only, one seed, a few training steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

# Re-exported: the bench's --set items are read exactly as `ganjobs train --set`.
from ganjobs.config.overrides import parse_overrides

CONFIGS: dict[str, list[str]] = {
    "SPX": ["SPX"],
    "NDX": ["NDX"],
    "WTI": ["WTI"],
    "joint": ["SPX", "NDX", "WTI"],
}
QUICK_STEPS = 30


def run_one(prices: str, root: str, config: str, symbols: list[str], seed: int, n: int,
            horizon: int, preset: str, steps: int | None,
            overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, generate and evaluate one (configuration, seed); return metrics and timings."""
    from ganjobs.evaluate.command import evaluate_scenarios
    from ganjobs.generate.command import generate_scenarios
    from ganjobs.train.command import train_model

    base = os.path.join(root, f"{config}-seed{seed}")
    shutil.rmtree(base, ignore_errors=True)
    model, scen, ev = (os.path.join(base, p) for p in ("model", "set", "eval"))
    kwargs: dict[str, Any] = {"steps": steps} if steps is not None else {}
    t0 = time.perf_counter()
    trained = train_model(prices=prices, out=model, symbols=symbols, preset=preset, seed=seed,
                          workers=1, overrides=overrides, **kwargs)
    t1 = time.perf_counter()
    generate_scenarios(model=model, out=scen, n=n, horizon=horizon, seed=seed, progress=False)
    t2 = time.perf_counter()
    result = evaluate_scenarios(scenarios=scen, prices=prices, out=ev, seed=seed, max_paths=n)
    t3 = time.perf_counter()
    return {
        "config": config, "seed": seed, "metrics": result["metrics"],
        "report_url": result["report_url"], "steps": trained.get("steps"),
        "seconds": {"train": t1 - t0, "generate": t2 - t1, "evaluate": t3 - t2},
    }


def _stat(values: Sequence[Any]) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds, in the layout of a metrics dict (``models`` → blocks).

    Returns ``{"mean": metrics-like dict, "std": metrics-like dict}``; the mean can be passed
    to :func:`ganjobs.evaluate.bars.check_bars`.
    """
    from ganjobs.evaluate.definitions import JOINT_METRICS, METRICS

    first = runs[0]["metrics"]
    mean: dict[str, Any] = {"symbols": first["symbols"], "real": first["real"], "models": {}}
    std: dict[str, Any] = {"symbols": first["symbols"], "models": {}}
    for name in first["models"]:
        blocks = [r["metrics"]["models"][name] for r in runs]
        m_block: dict[str, Any] = {"per_symbol": {}, "joint": {}, "summary": {}}
        s_block: dict[str, Any] = {"per_symbol": {}, "joint": {}, "summary": {}}
        for sym in first["symbols"]:
            m_block["per_symbol"][sym], s_block["per_symbol"][sym] = {}, {}
            for key in METRICS:
                mu, sd = _stat([b["per_symbol"][sym].get(key) for b in blocks])
                m_block["per_symbol"][sym][key], s_block["per_symbol"][sym][key] = mu, sd
        for key in JOINT_METRICS:
            m_block["joint"][key], s_block["joint"][key] = _stat([b["joint"].get(key)
                                                                  for b in blocks])
        for key in METRICS:
            m_block["summary"][key], s_block["summary"][key] = _stat([b["summary"].get(key)
                                                                      for b in blocks])
        mean["models"][name], std["models"][name] = m_block, s_block
    return {"mean": mean, "std": std}


def sampling_floor(agg: dict[str, Any], bar: dict[str, Any], kind: str = "floor"
                   ) -> float | None:
    """The real side's floors of a curve bar, see :mod:`ganjobs.evaluate.definitions`: ``floor``,
    the expected score of a model with the market's true curves (ACF and leverage bars);
    ``monotone_floor``, the lowest score of any curve that decays from lag 2 on (ACF |r|)."""
    value = agg["mean"]["real"].get(bar["scope"], {}).get(f"{bar['metric']}_{kind}")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _f(v: float | None) -> str:
    if v is None:
        return "–"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3f}"


def metric_rows(agg: dict[str, Any]) -> list[list[str]]:
    """Table rows: metric, project mean ± std, then each baseline's mean (± std)."""
    from ganjobs.evaluate.definitions import JOINT_METRICS, METRICS, PROJECT

    mean, std = agg["mean"], agg["std"]
    models = [PROJECT] + [m for m in mean["models"] if m != PROJECT]
    symbols = mean["symbols"]
    rows = []
    # One symbol: its own metrics; several: the mean over symbols, then the joint metrics.
    section = "per_symbol" if len(symbols) == 1 else "summary"
    for key, info in METRICS.items():
        cells = [info.label]
        for m in models:
            if section == "per_symbol":
                mu = mean["models"][m]["per_symbol"][symbols[0]][key]
                sd = std["models"][m]["per_symbol"][symbols[0]][key]
            else:
                mu, sd = mean["models"][m]["summary"][key], std["models"][m]["summary"][key]
            cells.append(f"{_f(mu)} ± {_f(sd)}" if sd else _f(mu))
        rows.append(cells)
    if len(symbols) > 1:
        for key, info in JOINT_METRICS.items():
            cells = [f"{info.label} (joint)"]
            for m in models:
                mu, sd = mean["models"][m]["joint"][key], std["models"][m]["joint"][key]
                cells.append(f"{_f(mu)} ± {_f(sd)}" if sd else _f(mu))
            rows.append(cells)
    return rows


def write_results(path: str | None, results: dict[str, Any], console: Any) -> None:
    """Write ``results`` as JSON to ``path`` (nothing when None) and say where."""
    if path:
        with open(path, "w") as fh:
            json.dump(results, fh, indent=2)
        console.print(f"results written to {path}")


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: joint only, seed 0, {QUICK_STEPS} training steps")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated configurations from {', '.join(CONFIGS)}")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override on top of the preset, repeatable "
                         "(--set model.lag1_news=true), read as by `ganjobs train --set`")
    ap.add_argument("--n", type=int, default=2000, help="scenarios per run (default 2000)")
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--workdir", default=None, help="keep models, sets and reports here")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = ap.parse_args(argv)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from rich.console import Console
    from rich.table import Table

    from ganjobs.data.sample import write_sample_data
    from ganjobs.evaluate.bars import check_bars
    from ganjobs.evaluate.definitions import PROJECT

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    steps = args.steps
    n = args.n
    if args.quick:
        seeds, configs = seeds[:1], ["joint"]
        steps = steps if steps is not None else QUICK_STEPS
        n = min(n, 500)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as exc:
        ap.error(str(exc))
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {', '.join(unknown)}")

    console = Console()
    root = args.workdir or tempfile.mkdtemp(prefix="bench-quality-")
    os.makedirs(root, exist_ok=True)
    prices = os.path.join(root, "prices")
    if not os.path.exists(prices):
        write_sample_data(prices)
    console.print(f"[bold]bench-quality[/bold]: preset {args.preset}"
                  f"{f', {steps} steps' if steps is not None else ''}"
                  f"{f', overrides {overrides}' if overrides else ''}, seeds {seeds}, "
                  f"configs {configs}, {n} × {args.horizon} scenarios; work dir {root}")

    results: dict[str, Any] = {"preset": args.preset, "overrides": overrides, "steps": steps,
                               "seeds": seeds, "n": n,
                               "horizon": args.horizon, "configs": {}}
    all_bars: list[tuple[str, dict[str, Any]]] = []
    for config in configs:
        runs = []
        for seed in seeds:
            console.print(f"  {config} seed {seed}: train, generate, evaluate …")
            run = run_one(prices, root, config, CONFIGS[config], seed, n, args.horizon,
                          args.preset, steps, overrides)
            s = run["seconds"]
            console.print(f"    trained {run['steps']} steps in {s['train']:.0f}s, generated in "
                          f"{s['generate']:.0f}s, evaluated in {s['evaluate']:.0f}s; "
                          f"report {run['report_url']}")
            runs.append(run)
        agg = aggregate(runs)
        bars = check_bars(agg["mean"])
        all_bars += [(config, b) for b in bars]
        models = [PROJECT] + [m for m in agg["mean"]["models"] if m != PROJECT]
        header = ["metric", f"{PROJECT} (mean ± std, {len(runs)} seeds)", *models[1:]]
        rows = metric_rows(agg)
        table = Table(title=f"{config}: {', '.join(CONFIGS[config])}", show_lines=False)
        for h in header:
            table.add_column(h, justify="left" if h == "metric" else "right")
        for r in rows:
            table.add_row(*r)
        console.print(table)
        bt = Table(title=f"{config}: quality bars (means over seeds)")
        bar_cols = ("bar", "where", PROJECT, "threshold", "perfect-model floor",
                    "decaying-curve floor", "met")
        for h in bar_cols:
            bt.add_column(h)
        for b in bars:
            mark = {True: "[green]met[/green]", False: "[red]NOT met[/red]"}.get(b["met"], "n/a")
            bt.add_row(b["bar"], b["scope"], _f(b["value"]), _f(b["threshold"]),
                       _f(sampling_floor(agg, b)), _f(sampling_floor(agg, b, "monotone_floor")),
                       mark)
        console.print(bt)
        if args.markdown:
            print(f"\n### {config}\n\n" + _markdown(header, rows))
            print("\n" + _markdown(list(bar_cols),
                                   [[b["bar"], b["scope"], _f(b["value"]), _f(b["threshold"]),
                                     _f(sampling_floor(agg, b)),
                                     _f(sampling_floor(agg, b, "monotone_floor")),
                                     {True: "yes", False: "**no**"}.get(b["met"], "n/a")]
                                    for b in bars]))
        results["configs"][config] = {
            "symbols": CONFIGS[config], "mean": agg["mean"]["models"],
            "std": agg["std"]["models"], "bars": bars,
            "runs": [{"seed": r["seed"], "steps": r["steps"], "seconds": r["seconds"],
                      "report_url": r["report_url"]} for r in runs],
        }

    met = sum(1 for _, b in all_bars if b["met"])
    console.print(f"[bold]{met} of {len(all_bars)} bars met[/bold] "
                  f"({', '.join(configs)}; {len(seeds)} seed(s)).")
    failed = [f"{c}/{b['scope']}: {b['bar']}" for c, b in all_bars if b["met"] is False]
    if failed:
        console.print("Not met: " + "; ".join(failed))
    write_results(args.json, results, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
