"""Parallel generation of scenario parts as Ray tasks (one part per task, GPU when present)."""

from __future__ import annotations

import functools
from typing import Any

from ganjobs.cluster.connect import ensure_ray
from ganjobs.generate.parts import PartResult, PartSpec, build_part
from ganjobs.io.storage import join, sha256_bytes, write_bytes


@functools.lru_cache(maxsize=2)
def _cached_model(url: str) -> Any:
    from ganjobs.model.folder import load_model

    return load_model(url)


def _task(model_url: str, spec: PartSpec, horizon: int, seed: int, symbols: list[str],
          device: str, out_url: str) -> PartResult:
    res = build_part(_cached_model(model_url), spec, horizon, seed, symbols, device)
    write_bytes(join(out_url, spec.name), res.data)
    res.sha256, res.nbytes = sha256_bytes(res.data), len(res.data)
    res.data = None  # only the summary travels back to the driver
    return res


def run_parts(model_url: str, parts: list[PartSpec], horizon: int, seed: int,
              symbols: list[str], workers: int | None, device: str,
              out_url: str) -> list[PartResult]:
    """Run parts with at most ``workers`` tasks in flight; results in part order."""
    import ray

    ensure_ray()
    gpu = 1 if device.startswith("cuda") else 0
    task = ray.remote(num_cpus=1, num_gpus=gpu, max_retries=2)(_task)
    limit = workers or max(1, int(ray.available_resources().get("GPU" if gpu else "CPU", 1)))
    pending, done = [], {}
    for spec in parts:
        if len(pending) >= limit:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ray.get(ready):
                done[r.spec.index] = r
        pending.append(task.remote(model_url, spec, horizon, seed, symbols, device, out_url))
    for r in ray.get(pending):
        done[r.spec.index] = r
    return [done[p.index] for p in parts]
