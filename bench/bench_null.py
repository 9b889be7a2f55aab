"""What a perfect model scores: the score-type quality bars when the model *is* the world.

Run with ``make bench-null`` (or ``python -m bench.bench_null``). For each configuration of
``make bench-quality`` it fits a baseline (GARCH(1,1)-t by default) to the training window
of the bundled real returns, simulates from that fit a whole history as long as the real
training window — the "market" — and, independently, ``--n`` scenario paths of
``--horizon`` days, and scores the paths against that history with the evaluation's own
metrics. The paths come from the very process that made the history, so every score is pure
sampling noise of the instrument: the level below which a bar asks a model to reproduce
the noise of one particular history rather than its process.

Reported per score, over ``--reps`` independent histories: mean, median, standard
deviation, and for the discriminative score the chance level of independent predictions
(:func:`ganjobs.evaluate.discriminative.chance_level`), which grouped, overlapping windows exceed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.bench_quality import CONFIGS, write_results

#: (metric, scope) pairs reported: the bars whose value is a distance to the real side.
SCORES = (("discriminative", "joint"), ("acf_abs", "symbol"), ("leverage", "symbol"),
          ("emd_1d", "symbol"), ("emd_20d", "symbol"))


def training_returns(prices: str, symbols: list[str]) -> np.ndarray:
    """The default preset's training window of the bundled returns, ``(T, k)``."""
    from ganjobs.config import resolve_config
    from ganjobs.core.split import split_for_training
    from ganjobs.data.prices import load_market_data

    cfg = resolve_config("default")
    data = load_market_data(prices, symbols)
    split = split_for_training(data, cfg.data)
    return np.asarray(split.train, dtype=np.float64)


def null_scores(train: np.ndarray, symbols: list[str], world: str, n: int, horizon: int,
                rng: np.random.Generator) -> tuple[dict[str, float], int]:
    """One repetition: a simulated history and paths of the same fitted ``world`` model.

    Returns ``{"<metric>/<where>": score}`` for :data:`SCORES`, and the number of real
    windows per class of the discriminative score.
    """
    from ganjobs.baselines import simulate_baseline
    from ganjobs.evaluate.reference import build_reference
    from ganjobs.evaluate.scoring import model_metrics

    history = simulate_baseline(world, train, 1, len(train), rng)[0]
    paths = simulate_baseline(world, train, n, horizon, rng)
    ref = build_reference(history, symbols, horizon, seed=int(rng.integers(2**31)))
    res = model_metrics(ref, paths, world)
    out = {}
    for metric, scope in SCORES:
        for where in (symbols if scope == "symbol" else ["joint"]):
            block = res["joint"] if where == "joint" else res["per_symbol"][where]
            out[f"{metric}/{where}"] = float(block[metric])
    scope = ref.scopes["joint" if len(symbols) > 1 else symbols[0]]
    return out, len(scope.disc_real)


def summarize(reps: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, median and standard deviation (ddof 1) of every score over two or more
    repetitions."""
    out = {}
    for key in reps[0]:
        v = np.array([r[key] for r in reps], dtype=np.float64)
        out[key] = {"mean": float(v.mean()), "median": float(np.median(v)),
                    "std": float(v.std(ddof=1))}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated configurations from {', '.join(CONFIGS)}")
    ap.add_argument("--world", default="garch-t", help="baseline that plays the market")
    ap.add_argument("--reps", type=int, default=12, help="simulated histories per configuration")
    ap.add_argument("--n", type=int, default=2000, help="scenario paths per repetition")
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    from ganjobs.core.seeds import check_seed, stream
    from ganjobs.errors import GanjobsError

    try:
        seed = check_seed(args.seed)
    except GanjobsError as exc:
        ap.error(str(exc))
    if unknown or args.reps < 2:
        ap.error(f"unknown configuration(s) {', '.join(unknown)}" if unknown
                 else "--reps must be at least 2 (a spread needs two)")

    from rich.console import Console
    from rich.table import Table

    from ganjobs.data.sample import write_sample_data
    from ganjobs.evaluate.discriminative import chance_level

    console = Console()
    prices = os.path.join(tempfile.mkdtemp(prefix="bench-null-"), "prices")
    write_sample_data(prices)
    results: dict[str, Any] = {"world": args.world, "reps": args.reps, "n": args.n,
                               "horizon": args.horizon, "seed": args.seed, "configs": {}}
    table = Table(title=f"Perfect model ({args.world} world): scores over {args.reps} histories")
    for h in ("config", "score", "where", "mean", "median", "std", "chance (indep.)"):
        table.add_column(h)
    for config in configs:
        symbols = CONFIGS[config]
        train = training_returns(prices, symbols)
        rng = stream(seed, f"bench-null:{config}")
        runs = [null_scores(train, symbols, args.world, args.n, args.horizon, rng)
                for _ in range(args.reps)]
        reps = [scores for scores, _ in runs]
        summary = summarize(reps)
        windows = runs[0][1]
        results["configs"][config] = {"n_train_returns": len(train), "scores": summary,
                                      "disc_windows_per_class": windows,
                                      "chance_level": chance_level(2 * windows), "reps": reps}
        for key, s in summary.items():
            metric, where = key.split("/")
            chance = f"{chance_level(2 * windows):.4f}" if metric == "discriminative" else "–"
            table.add_row(config, metric, where, f"{s['mean']:.4f}", f"{s['median']:.4f}",
                          f"{s['std']:.4f}", chance)
    console.print(table)
    write_results(args.json, results, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
