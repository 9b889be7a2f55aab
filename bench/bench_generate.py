"""Generation throughput: 100,000 x 252 x 3 to local disk, in-process and as Ray tasks.

Run with ``make bench-generate``. Trains a small model first (the tiny preset) unless
``--model`` is given; the numbers measure sampling + Parquet encoding + writing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from rich.console import Console
from rich.table import Table


def _model(prices: str, root: str, preset: str) -> str:
    from ganjobs.train.command import train_model

    out = os.path.join(root, "model")
    train_model(prices=prices, out=out, preset=preset, workers=1, seed=0)
    return out


def _run(model: str, root: str, n: int, horizon: int, workers: int | None, device: str) -> float:
    from ganjobs.generate.command import generate_scenarios

    out = os.path.join(root, f"set-{workers}-{device}")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    generate_scenarios(model, out, n=n, horizon=horizon, seed=0, workers=workers,
                       device=device, progress=False)
    seconds = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    _run.sizes[(workers, device)] = size
    return seconds


_run.sizes = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="model folder (default: train the tiny preset)")
    ap.add_argument("--preset", default="default", help="preset to train when no --model")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--horizon", type=int, default=252)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    import torch

    from ganjobs.data.sample import write_sample_data

    root = tempfile.mkdtemp(prefix="bench-gen-")
    prices = os.path.join(root, "prices")
    write_sample_data(prices)
    model = args.model or _model(prices, root, args.preset)
    configs = [(1, "cpu"), (2, "cpu")]
    if torch.cuda.is_available():
        configs = [(1, "cuda"), *configs]
    table = Table(title=f"generation: {args.n:,} x {args.horizon} x 3 to local disk "
                        f"(median of {args.repeats})")
    for col in ("workers", "device", "seconds", "scenarios/s", "path-steps/s", "MB written",
                "MB/s"):
        table.add_column(col, justify="right")
    for workers, device in configs:
        secs = statistics.median(_run(model, root, args.n, args.horizon, workers, device)
                                 for _ in range(args.repeats))
        mb = _run.sizes[(workers, device)] / 1e6
        table.add_row(str(workers), device, f"{secs:.2f}", f"{args.n / secs:,.0f}",
                      f"{args.n * args.horizon / secs:,.0f}", f"{mb:.1f}", f"{mb / secs:.1f}")
    Console().print(table)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
