"""Training-step throughput: steps/s and samples/s per preset, standalone and under Ray.

Run as ``python -m bench.bench_train`` (``make bench-train``). Rows:

- ``standalone``: :func:`~ganjobs.train.loop.train_loop_per_worker` in this process, one
  worker, all cores (or the GPU) - nothing but torch is needed, so it runs on GPU machines
  without Ray;
- ``ray``: the same loop under a ``TorchTrainer`` with 2 workers (gloo on CPU, NCCL on GPUs),
  skipped with a note when Ray is not installed or the devices are too few.

Throughput leaves out the first step (one-time warm-up) when there is more than one.
``samples/s`` counts generated training windows per second over all workers (global batch x
steps/s); each step also runs ``n_critic`` critic updates. bf16 autocast applies on CUDA
only, so the ``gpu`` preset runs in fp32 on a CPU (the ``amp`` column says which). The data
are synthetic heavy-tailed returns of 3 symbols: speed does not depend on their values, and
GPU machines may lack the bundled data's packages.

When the ``gpu`` preset is benchmarked, the same run also times the plain eager fp32 PyTorch
reference (:mod:`bench.reference_tcn`: QuantGAN-style ``nn.Conv1d`` TCN, PReLU,
WGAN-GP, host-sampled windows, the ``gpu`` preset's sizes) and the ``gpu`` preset again at the
same batch, side by side, and prints the ratio of their samples/s (medians over
``--ref-repeats`` alternating repeats). The target is a ratio of at least 10 on a GPU. On a
CPU the comparison runs at a small batch (``--ref-batch``, default 64): the reference's
``Conv1d`` double backward at batch 1024 takes minutes per step on 2 cores. On a CPU shared
with other jobs, ``--threads 1`` avoids the many-fold slowdown of torch's threads waiting on
each other when the cores are oversubscribed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import torch

from ganjobs.config import GanConfig, resolve_config
from ganjobs.model.task import MarketTask
from ganjobs.train.loop import train_loop_per_worker
from ganjobs.train.worker_config import RAY_CONFIG_KEY, WorkerConfig

# Steps per (device type, preset): enough to time, few enough to finish in minutes on a CPU
# (one gpu-preset step, batch 1024, takes over a minute on 2 cores; with one step the
# warm-up is inside the timing, negligible at that length).
STEPS = {
    ("cpu", "default"): 30, ("cpu", "gpu"): 1,
    ("cuda", "default"): 200, ("cuda", "gpu"): 100,
}
# The reference comparison per device type: batch (None: the gpu preset's), timed steps of
# the reference, its untimed warm-up steps, steps of the gpu preset at that batch, repeats.
REF = {
    "cpu": {"batch": 64, "steps": 1, "warmup": 0, "preset_steps": 2, "repeats": 1},
    "cuda": {"batch": None, "steps": 50, "warmup": 3, "preset_steps": 100, "repeats": 3},
}
REF_PRESET = "gpu"


def synthetic_data(n: int = 4500, k: int = 3, seed: int = 0) -> np.ndarray:
    """Standardised Student-t(4) returns, the shape of the bundled data after preprocessing."""
    x = np.random.default_rng(seed).standard_t(4, size=(n, k))
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _config(preset: str, steps: int, device: str, workers: int,
            batch: int | None = None) -> GanConfig:
    # Checkpoints and logs only at the end: the rows time the training step itself.
    return resolve_config(preset, steps=steps, checkpoint_every=steps, log_every=steps,
                          workers=workers, gpu=device == "cuda", batch_size=batch)


def run_standalone(preset: str, steps: int, device: str, data: np.ndarray,
                   batch: int | None = None, threads: int | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    if device == "cpu":
        threads = threads or os.cpu_count()
    out = train_loop_per_worker(WorkerConfig(gan=_config(preset, steps, device, 1, batch),
                                             task=MarketTask, data=data, device=device,
                                             threads=threads))
    m = out["metrics"]
    return {"steps/s": m["mean_steps_per_s"], "samples/s": m["mean_samples_per_s"],
            "wall_s": time.perf_counter() - t0}


def run_ray(preset: str, steps: int, device: str, data: np.ndarray, workers: int
            ) -> dict[str, Any]:
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    import tempfile

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from ganjobs.cluster.connect import start_local_ray

    gpu = device == "cuda"
    cpus = os.cpu_count() or 1
    threads = max(1, cpus // workers)
    if not ray.is_initialized():
        # Worker logs stay in Ray's log files: the table is the output.
        start_local_ray(num_cpus=cpus, logging_level="WARNING", log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as storage:
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={RAY_CONFIG_KEY: WorkerConfig(
                gan=_config(preset, steps, device, workers), task=MarketTask, data=data,
                threads=None if gpu else threads)},
            scaling_config=ScalingConfig(
                num_workers=workers, use_gpu=gpu,
                resources_per_worker={"CPU": 1, "GPU": 1} if gpu else {"CPU": threads}),
            run_config=RunConfig(storage_path=storage, name=f"bench-{preset}-{workers}"),
        )
        t0 = time.perf_counter()
        result = trainer.fit()
        wall = time.perf_counter() - t0
    m = result.return_value["metrics"]
    return {"steps/s": m["mean_steps_per_s"], "samples/s": m["mean_samples_per_s"],
            "wall_s": wall}


def run_reference(batch: int, steps: int, warmup: int, device: str, data: np.ndarray,
                  threads: int | None = None) -> dict[str, Any]:
    from bench.reference_tcn import reference_step_rate

    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(threads or os.cpu_count() or 1)  # as the standalone rows
    t0 = time.perf_counter()
    try:
        rate = reference_step_rate(batch, steps, device, data=data, warmup=warmup)
    finally:
        torch.set_num_threads(before)
    return {"steps/s": rate / batch, "samples/s": rate, "wall_s": time.perf_counter() - t0}


def _row(lead: str, res: dict[str, Any] | str) -> str:
    if isinstance(res, str):
        return lead + res
    return lead + f"{res['steps/s']:>9.3f} {res['samples/s']:>10.1f} {res['wall_s']:>7.1f}"


def compare_reference(args: argparse.Namespace, data: np.ndarray,
                      preset_row: dict[str, Any] | None) -> float:
    """Rows of the reference and the gpu preset at one batch; prints and returns the ratio.

    ``preset_row`` (the gpu preset's standalone row at its own batch) counts as the first
    repeat of the preset when the comparison batch is that batch.
    """
    ref = REF[args.device]
    cfg = resolve_config(REF_PRESET)
    batch = args.ref_batch or ref["batch"] or cfg.train.batch_size
    steps = args.ref_steps or ref["steps"]
    preset_steps = args.steps or ref["preset_steps"]
    repeats = args.ref_repeats or ref["repeats"]
    amp = "bf16" if cfg.train.bf16 and args.device == "cuda" else "fp32"
    ours, theirs = [], []
    for i in range(repeats):
        if i == 0 and preset_row is not None and batch == cfg.train.batch_size:
            ours.append(preset_row["samples/s"])  # already printed above
        else:
            res = run_standalone(REF_PRESET, preset_steps, args.device, data, batch,
                                 args.threads)
            print(_row(f"{REF_PRESET:<9} {'standalone':<10} {1:>7} {batch:>9} {amp:>4} "
                       f"{preset_steps:>5} ", res), flush=True)
            ours.append(res["samples/s"])
        res = run_reference(batch, steps, ref["warmup"], args.device, data, args.threads)
        print(_row(f"{'reference':<9} {'eager':<10} {1:>7} {batch:>9} {'fp32':>4} "
                   f"{steps:>5} ", res), flush=True)
        theirs.append(res["samples/s"])
    ratio = float(np.median(ours) / np.median(theirs))
    print(f"reference = plain eager fp32 nn.Conv1d QuantGAN-style WGAN-GP "
          f"(bench/reference_tcn.py), {REF_PRESET} preset sizes")
    print(f"speed-up at batch {batch}: {REF_PRESET} preset {np.median(ours):.1f} / reference "
          f"{np.median(theirs):.1f} samples/s = {ratio:.2f}x (median of {repeats}; "
          f"target >= 10x on a GPU)", flush=True)
    return ratio


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU x{os.cpu_count()} ({platform.processor() or platform.machine()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default,gpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="override steps per row")
    parser.add_argument("--no-ray", action="store_true", help="standalone rows only")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the standalone and reference rows on a CPU "
                             "(default: all cores; 1 is far faster on an oversubscribed "
                             "machine)")
    parser.add_argument("--ref-batch", type=int, default=None,
                        help="batch of the reference comparison (default: the gpu preset's "
                             "on CUDA, 64 on CPU)")
    parser.add_argument("--ref-steps", type=int, default=None,
                        help="timed steps of the reference (default 50 on CUDA, 1 on CPU)")
    parser.add_argument("--ref-repeats", type=int, default=None,
                        help="alternating repeats of preset and reference (default 3 CUDA, "
                             "1 CPU)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the plain-PyTorch reference comparison")
    args = parser.parse_args(argv)

    data = synthetic_data()
    try:
        import ray  # noqa: F401

        have_ray = not args.no_ray
    except ImportError:
        have_ray = False
    n_gpus = torch.cuda.device_count() if args.device == "cuda" else 0

    print(f"training step throughput on {_device_name(args.device)}, torch "
          f"{torch.__version__}", flush=True)
    header = (f"{'preset':<9} {'mode':<10} {'workers':>7} {'batch/wkr':>9} {'amp':>4} "
              f"{'steps':>5} {'steps/s':>9} {'samples/s':>10} {'wall s':>7}")
    print(header)
    print("-" * len(header), flush=True)
    preset_rows: dict[str, dict[str, Any]] = {}
    for preset in args.presets.split(","):
        steps = args.steps or STEPS.get((args.device, preset), 20)
        cfg = resolve_config(preset)
        amp = "bf16" if cfg.train.bf16 and args.device == "cuda" else "fp32"
        for mode in ("standalone", "ray"):
            workers = 1 if mode == "standalone" else args.ray_workers
            lead = (f"{preset:<9} {mode:<10} {workers:>7} {cfg.train.batch_size:>9} {amp:>4} "
                    f"{steps:>5} ")
            if mode == "standalone":
                res: dict[str, Any] | str = run_standalone(preset, steps, args.device, data,
                                                           threads=args.threads)
                preset_rows[preset] = res
            elif not have_ray:
                res = "skipped: Ray not installed" if not args.no_ray else "skipped"
            elif args.device == "cuda" and n_gpus < workers:
                res = f"skipped: {workers} GPUs needed, {n_gpus} present"
            else:
                res = run_ray(preset, steps, args.device, data, workers)
            print(_row(lead, res), flush=True)
        if preset == REF_PRESET and not args.no_reference:
            compare_reference(args, data, preset_rows.get(preset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
