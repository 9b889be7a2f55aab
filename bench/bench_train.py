"""Training-step throughput: steps/s and samples/s per preset, standalone and under Ray.

Run as ``python -m bench.bench_train`` (``make bench-train``). Rows:

- ``standalone``: :func:`~ganjobs.train_loop.train_loop_per_worker` in this process, one
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

from ganjobs.config import resolve_config
from ganjobs.train_loop import train_loop_per_worker

# Steps per (device type, preset): enough to time, few enough to finish in minutes on a CPU
# (one gpu-preset step, batch 1024, takes over a minute on 2 cores; with one step the
# warm-up is inside the timing, negligible at that length).
STEPS = {
    ("cpu", "default"): 30, ("cpu", "gpu"): 1,
    ("cuda", "default"): 200, ("cuda", "gpu"): 100,
}


def synthetic_data(n: int = 4500, k: int = 3, seed: int = 0) -> np.ndarray:
    """Standardised Student-t(4) returns, the shape of the bundled data after preprocessing."""
    x = np.random.default_rng(seed).standard_t(4, size=(n, k))
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32)


def _config(preset: str, steps: int, device: str, workers: int) -> dict[str, Any]:
    # Checkpoints and logs only at the end: the rows time the training step itself.
    cfg = resolve_config(preset, steps=steps, checkpoint_every=steps, log_every=steps,
                         workers=workers, gpu=device == "cuda")
    return cfg.model_dump()


def run_standalone(preset: str, steps: int, device: str, data: np.ndarray) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = train_loop_per_worker({"gan": _config(preset, steps, device, 1), "data": data,
                                 "device": device,
                                 "threads": os.cpu_count() if device == "cpu" else None})
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

    gpu = device == "cuda"
    cpus = os.cpu_count() or 1
    threads = max(1, cpus // workers)
    if not ray.is_initialized():
        # Worker logs stay in Ray's log files: the table is the output.
        ray.init(num_cpus=cpus, logging_level="WARNING", include_dashboard=False,
                 log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as storage:
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config={"gan": _config(preset, steps, device, workers), "data": data,
                               "threads": None if gpu else threads},
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
    header = (f"{'preset':<8} {'mode':<10} {'workers':>7} {'batch/wkr':>9} {'amp':>4} "
              f"{'steps':>5} {'steps/s':>9} {'samples/s':>10} {'wall s':>7}")
    print(header)
    print("-" * len(header), flush=True)
    for preset in args.presets.split(","):
        steps = args.steps or STEPS.get((args.device, preset), 20)
        cfg = resolve_config(preset)
        amp = "bf16" if cfg.train.bf16 and args.device == "cuda" else "fp32"
        for mode in ("standalone", "ray"):
            workers = 1 if mode == "standalone" else args.ray_workers
            lead = (f"{preset:<8} {mode:<10} {workers:>7} {cfg.train.batch_size:>9} {amp:>4} "
                    f"{steps:>5} ")
            if mode == "standalone":
                res: dict[str, Any] | str = run_standalone(preset, steps, args.device, data)
            elif not have_ray:
                res = "skipped: Ray not installed" if not args.no_ray else "skipped"
            elif args.device == "cuda" and n_gpus < workers:
                res = f"skipped: {workers} GPUs needed, {n_gpus} present"
            else:
                res = run_ray(preset, steps, args.device, data, workers)
            if isinstance(res, str):
                print(lead + res, flush=True)
            else:
                print(lead + f"{res['steps/s']:>9.3f} {res['samples/s']:>10.1f} "
                      f"{res['wall_s']:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
