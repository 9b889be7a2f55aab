"""``make bench-credit``: the synthetic loan books against their baselines, side by side.

For each bundled credit table (``credit_data``, ``lending_club``): the fixed split (seed 0),
then the table GAN trained with the default preset for ``--seeds`` seeds (3), the
differentially private model at epsilon 1 and 5 (``--dp-seeds`` seeds each, 1), and the
baselines (independent marginals, Gaussian copula, SMOTE-style interpolation, the real train
rows) drawn with the same seeds; each synthetic table has as many rows as the train part.
Every table is evaluated on the same real test and holdout rows
(:func:`~ganjobs.tabular.evaluation.frames.evaluate_frames`); metrics are averaged over seeds
and the bars are checked on the means. Prints one table per real table and writes
``bench/results/credit-<date>.json`` (every seed's metrics, training times, configuration).

Options: ``--tables``, ``--seeds``, ``--dp-seeds``, ``--steps`` / ``--dp-steps`` (shorter
runs for a try), ``--no-dp``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
TABLES = ("credit_data", "lending_club")
EPSILONS = (1.0, 5.0)
#: The numbers averaged over seeds: (label, path in a method row).
METRICS = (
    ("TSTR LR", ("utility", "logistic", "tstr_auc")),
    ("TSTR GBM", ("utility", "boosting", "tstr_auc")),
    ("ratio LR", ("utility", "logistic", "auc_ratio")),
    ("ratio GBM", ("utility", "boosting", "auc_ratio")),
    ("calib gap LR", ("utility", "logistic", "calibration_gap_excess")),
    ("fidelity", ("fidelity", "score")),
    ("columns", ("fidelity", "column_score")),
    ("pairs", ("fidelity", "pair_score")),
    ("detect AUC", ("fidelity", "detection_auc")),
    ("closer train", ("privacy", "share_closer_to_train")),
    ("DCR ratio", ("privacy", "dcr_ratio")),
    ("MIA AUC", ("privacy", "mia_auc")),
    ("exact copies", ("privacy", "exact_copies")),
    ("near copies", ("privacy", "near_copy_share")),
)


def _get(row: dict[str, Any], path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(row, dict) or row.get(key) is None:
            return None
        row = row[key]
    return float(row)


def _method(name: str) -> str:
    """``ganjobs-s1`` -> ``ganjobs``; ``dp1-s0`` -> ``ganjobs DP e=1``."""
    base = name.rsplit("-s", 1)[0]
    return {"dp1": "ganjobs DP eps=1", "dp5": "ganjobs DP eps=5"}.get(base, base)


def train_and_sample(data: str, schema: str, n: int, models: Path, seed: int,
                     steps: int | None, dp: float | None) -> tuple[Any, float]:
    from ganjobs.tabular.folder import load_table_model
    from ganjobs.tabular.synth import generate_rows
    from ganjobs.tabular.train import train_table

    tag = f"dp{dp:g}-s{seed}" if dp else f"s{seed}"
    t0 = time.perf_counter()
    train_table(data, str(models / tag), schema=schema, seed=seed, steps=steps, dp_epsilon=dp,
                storage_path=str(models / "_ray"))
    seconds = time.perf_counter() - t0
    frame, _ = generate_rows(load_table_model(str(models / tag)), n, seed)
    return frame, seconds


def bench_table(name: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from ganjobs.tabular.credit import write_sample_credit
    from ganjobs.tabular.evaluation.baselines import baseline_tables
    from ganjobs.tabular.evaluation.frames import evaluate_frames
    from ganjobs.tabular.split import split_table
    from ganjobs.tabular.validate import load_table

    write_sample_credit(str(root / "data"))
    data, schema = str(root / "data" / f"{name}.parquet"), str(root / "data" /
                                                                f"{name}.schema.yaml")
    table = load_table(data, schema)
    split = split_table(table.frame, table.schema.target)  # the preset's fixed split
    train = table.frame.iloc[split.train].reset_index(drop=True)
    n = len(train)
    sets, eps, seconds = {}, {}, {}
    for seed in range(args.seeds):
        key = f"ganjobs-s{seed}"
        sets[key], seconds[key] = train_and_sample(data, schema, n, root / name, seed,
                                                   args.steps, None)
        for base, frame in baseline_tables(train, table.schema, n, seed).items():
            sets[f"{base}-s{seed}"] = frame
    for e in () if args.no_dp else EPSILONS:
        for seed in range(args.dp_seeds):
            key = f"dp{e:g}-s{seed}"
            sets[key], seconds[key] = train_and_sample(data, schema, n, root / name, seed,
                                                       args.dp_steps, e)
            eps[key] = e
    t0 = time.perf_counter()
    result = evaluate_frames(table.frame, table.schema, split, sets, seed=0, dp_epsilon=eps)
    result["evaluate_seconds"] = time.perf_counter() - t0
    result["train_seconds"] = seconds
    result["summary"] = summarise(result["methods"], eps)
    return result


def summarise(methods: dict[str, Any], eps: dict[str, float]) -> dict[str, Any]:
    """Mean and spread over seeds of every metric, and the bars on the means."""
    from ganjobs.tabular.evaluation.bars import method_bars

    groups: dict[str, list[dict[str, Any]]] = {}
    for key, row in methods.items():
        groups.setdefault(_method(key), []).append(row)
    out: dict[str, Any] = {}
    for method, rows in groups.items():
        means = {}
        for label, path in METRICS:
            values = [v for v in (_get(r, path) for r in rows) if v is not None]
            means[label] = {"mean": float(np.mean(values)) if values else None,
                            "min": float(np.min(values)) if values else None,
                            "max": float(np.max(values)) if values else None,
                            "seeds": len(values)}
        out[method] = {"metrics": means, "mean_row": _mean_row(rows)}
    copula = out.get("gaussian_copula", {}).get("metrics", {}).get("fidelity", {}).get("mean")
    for method, entry in out.items():
        e = next((eps[k] for k in methods if _method(k) == method and k in eps), None)
        entry["bars"] = method_bars(entry["mean_row"], copula, dp_epsilon=e)
    return out


def _mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A method row whose bar inputs are the means over seeds."""
    def mean(path: tuple[str, ...]) -> float | None:
        values = [v for v in (_get(r, path) for r in rows) if v is not None]
        return float(np.mean(values)) if values else None

    utility = {m: {"tstr_auc": mean(("utility", m, "tstr_auc")),
                   "trtr_auc": mean(("utility", m, "trtr_auc"))}
               for m in ("logistic", "boosting")}
    return {"utility": utility, "fidelity": {"score": mean(("fidelity", "score"))},
            "privacy": {"share_closer_to_train": mean(("privacy", "share_closer_to_train")),
                        "mia_auc": mean(("privacy", "mia_auc")),
                        "exact_copies": mean(("privacy", "exact_copies"))}}


def print_table(name: str, result: dict[str, Any]) -> None:
    ref = result["reference"]["trtr"]
    print(f"\n{name}: {result['rows']['train']} train / {result['rows']['holdout']} holdout / "
          f"{result['rows']['test']} test rows; TRTR AUC LR {ref['logistic']['auc']:.3f}, "
          f"GBM {ref['boosting']['auc']:.3f}; real holdout fidelity "
          f"{result['reference']['holdout_fidelity']['score']:.3f}")
    labels = [label for label, _ in METRICS]
    print(f"{'method':<18}" + "".join(f"{label:>13}" for label in labels))
    for method, entry in result["summary"].items():
        cells = []
        for label in labels:
            v = entry["metrics"][label]["mean"]
            cells.append("–" if v is None else (f"{v:.0f}" if label == "exact copies"
                                                 else f"{v:.3f}"))
        print(f"{method:<18}" + "".join(f"{c:>13}" for c in cells))
    for method in ("ganjobs", "ganjobs DP eps=1", "ganjobs DP eps=5"):
        for bar in result["summary"].get(method, {}).get("bars", []):
            if "DP" in method and "TSTR" not in bar["bar"]:
                continue
            status = {True: "met", False: "NOT MET", None: "n/a"}[bar["met"]]
            thr = "–" if bar["threshold"] is None else f"{bar['threshold']:.3f}"
            val = "–" if bar["value"] is None else f"{bar['value']:.3f}"
            print(f"  [{status:>7}] {method}: {bar['bar']}: {val} (bar {thr})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dp-seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--dp-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--no-dp", action="store_true")
    parser.add_argument("--out", default=None, help="result file (default bench/results/)")
    args = parser.parse_args(argv)

    from ganjobs.core.version import code_version
    from ganjobs.tabular.config import resolve_table_config

    # Each training starts (and stops) its local Ray cluster as `ganjobs train-table` does,
    # with the same quiet console: the training seconds include that start.
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-credit-") as tmp:
        for name in args.tables.split(","):
            results[name] = bench_table(name, Path(tmp), args)
            print_table(name, results[name])
    record = {"date": dt.date.today().isoformat(), "code_version": code_version(),
              "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, 2 cores",
              "args": vars(args), "config": resolve_table_config().model_dump(),
              "seconds": time.perf_counter() - t0, "tables": results}
    out = Path(args.out) if args.out else RESULTS / f"credit-{record['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
