"""Sharded scenario generation and atomic publishing (CONTRACTS §3).

Noise is drawn per block of ``BLOCK`` scenarios with a seed derived from (seed, block), and
parts cover whole blocks, so the set does not depend on how many workers produced it.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.core.version import code_version
from ganjobs.errors import GanjobsError
from ganjobs.io.storage import Publisher, join, split_url
from ganjobs.scenarios import FORMAT

BLOCK = 1024  # scenarios per noise block: the unit of determinism
PART_BLOCKS = 16  # blocks per part file (16,384 scenarios)
IN_PROCESS_MAX = 65_536  # below this, Ray's start-up costs more than it saves


def block_seed(seed: int, block: int) -> int:
    """Seed of one noise block, derived from the run seed and the block index."""
    return int(np.random.SeedSequence(entropy=seed, spawn_key=(block,)).generate_state(1)[0])


@dataclass(frozen=True)
class PartSpec:
    index: int
    start: int  # first scenario id
    stop: int  # one past the last scenario id

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.parquet"


def plan_parts(n: int, part_scenarios: int = BLOCK * PART_BLOCKS) -> list[PartSpec]:
    """Split scenario ids 0..n-1 into parts of whole blocks."""
    if part_scenarios % BLOCK:
        raise ValueError("part size must be a multiple of the block size")
    count = math.ceil(n / part_scenarios)
    return [PartSpec(i, i * part_scenarios, min((i + 1) * part_scenarios, n))
            for i in range(count)]


def sample_range(model: Any, start: int, stop: int, horizon: int, seed: int,
                 device: str = "cpu") -> np.ndarray:
    """Paths for scenario ids ``start..stop-1`` as float32 (stop - start, H, k)."""
    out = []
    first, last = start // BLOCK, (stop - 1) // BLOCK
    for b in range(first, last + 1):
        block = model.sample(BLOCK, horizon, block_seed(seed, b), device=device)
        lo = max(start - b * BLOCK, 0)
        hi = min(stop - b * BLOCK, BLOCK)
        out.append(np.asarray(block[lo:hi], dtype=np.float32))
    return np.concatenate(out, axis=0)


def part_table(paths: np.ndarray, start: int, symbols: list[str]) -> pa.Table:
    """Long-layout table of one part: scenario, step, one float32 column per symbol."""
    n, h, k = paths.shape
    cols: dict[str, pa.Array] = {
        "scenario": pa.array(np.repeat(np.arange(start, start + n, dtype=np.int64), h)),
        "step": pa.array(np.tile(np.arange(1, h + 1, dtype=np.int32), n)),
    }
    for j, sym in enumerate(symbols):
        cols[sym] = pa.array(np.ascontiguousarray(paths[:, :, j]).reshape(-1))
    return pa.table(cols)


def encode_part(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=1 << 20)
    return buf.getvalue()


@dataclass
class PartResult:
    spec: PartSpec
    data: bytes | None  # None when the worker wrote the part itself
    rows: int
    sha256: str = ""
    nbytes: int = 0
    mins: list[float] = field(default_factory=list)
    maxs: list[float] = field(default_factory=list)
    nonfinite: int = 0


def build_part(model: Any, spec: PartSpec, horizon: int, seed: int, symbols: list[str],
               device: str = "cpu") -> PartResult:
    paths = sample_range(model, spec.start, spec.stop, horizon, seed, device)
    if list(symbols) != list(model.symbols):
        paths = paths[:, :, [model.symbols.index(s) for s in symbols]]
    finite = np.isfinite(paths)
    data = encode_part(part_table(paths, spec.start, symbols))
    return PartResult(
        spec=spec, data=data, rows=paths.shape[0] * horizon,
        mins=np.where(finite, paths, np.inf).min(axis=(0, 1)).tolist(),
        maxs=np.where(finite, paths, -np.inf).max(axis=(0, 1)).tolist(),
        nonfinite=int((~finite).sum()),
    )


def _validate(n: int, horizon: int, out: str) -> None:
    if not isinstance(n, int) or n <= 0:
        raise GanjobsError(f"--n must be a positive integer, got {n}")
    if not isinstance(horizon, int) or horizon <= 0:
        raise GanjobsError(f"--horizon must be a positive integer, got {horizon}")
    split_url(out)


def generate_scenarios(model: str, out: str, n: int, horizon: int, seed: int = 0,
                       overwrite: bool = False, workers: int | None = None,
                       device: str | None = None, progress: bool = True,
                       symbols: list[str] | None = None) -> dict[str, Any]:
    """Sample ``n`` paths of ``horizon`` days from the model at ``model`` and publish them.

    Parameters
    ----------
    model : str
        URL of a model folder written by ``ganjobs train``.
    out : str
        URL of the scenario set to write (refused when it already holds ``_SUCCESS``
        unless ``overwrite``).
    n, horizon : int
        Number of scenarios and steps per scenario.
    seed : int
        Sampling seed; the same model, n, horizon and seed give byte-identical parts.
    workers : int, optional
        Parallel Ray tasks. Default: in-process for small sets, else one per CPU.
    device : str, optional
        Torch device; default ``cuda`` when available.
    symbols : list of str, optional
        Columns to publish (all of the model's by default); paths are always sampled
        jointly, so a subset holds the same values as the full set.

    Returns
    -------
    dict
        The published manifest.
    """
    _validate(n, horizon, out)
    if workers is not None and workers <= 0:
        raise GanjobsError(f"--workers must be positive, got {workers}")
    from ganjobs.model.folder import load_model

    gan = load_model(model)
    columns = _select(gan.symbols, symbols, model)
    device = device or _default_device()
    parts = plan_parts(n)
    t0 = time.perf_counter()
    publisher = Publisher(out, overwrite=overwrite)
    with publisher:
        use_ray = (workers or 0) > 1 or (workers is None and n > IN_PROCESS_MAX)
        results = (_run_ray(model, parts, horizon, seed, columns, workers, device, publisher)
                   if use_ray else
                   _run_local(gan, parts, horizon, seed, columns, device, publisher, progress))
        manifest = _manifest(gan, columns, model, n, horizon, seed, results, device,
                             time.perf_counter() - t0)
        publisher.commit(manifest)
    return manifest


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _select(available: list[str], wanted: list[str] | None, model: str) -> list[str]:
    if not wanted:
        return list(available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise GanjobsError(f"{model}: unknown symbol(s) {', '.join(unknown)}; the model has "
                           f"{', '.join(available)}")
    return list(dict.fromkeys(wanted))


def _run_local(gan: Any, parts: list[PartSpec], horizon: int, seed: int, columns: list[str],
               device: str, publisher: Publisher, progress: bool) -> list[PartResult]:
    results = []
    for spec in _progress(parts, progress):
        res = build_part(gan, spec, horizon, seed, columns, device)
        info = publisher.write_part(spec.name, res.data, res.rows)
        res.sha256, res.nbytes, res.data = info.sha256, info.bytes, None
        results.append(res)
    return results


def _progress(parts: list[PartSpec], enabled: bool):
    if not enabled or len(parts) < 2:
        return parts
    from rich.progress import track

    return track(parts, description="generating parts", transient=True)


def _run_ray(model_url: str, parts: list[PartSpec], horizon: int, seed: int,
             symbols: list[str], workers: int | None, device: str,
             publisher: Publisher) -> list[PartResult]:
    """Each Ray task samples one part and writes it; the driver keeps only summaries."""
    from ganjobs.generate.ray_parts import run_parts

    results = run_parts(model_url, parts, horizon, seed, symbols, workers, device,
                        publisher.url)
    for res in results:
        publisher.parts.append(_info(res))
    return results


def _info(res: PartResult):
    from ganjobs.io.storage import PartInfo

    return PartInfo(name=res.spec.name, rows=res.rows, sha256=res.sha256, bytes=res.nbytes)


def _manifest(gan: Any, columns: list[str], model_url: str, n: int, horizon: int, seed: int,
              results: list[PartResult], device: str, seconds: float) -> dict[str, Any]:
    mins = np.min([r.mins for r in results], axis=0)
    maxs = np.max([r.maxs for r in results], axis=0)
    nonfinite = int(sum(r.nonfinite for r in results))
    return {
        "format": FORMAT,
        "symbols": list(columns),
        "horizon": horizon,
        "n_scenarios": n,
        "return_kind": "log",
        "seed": seed,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"location": model_url, "fingerprint": gan.fingerprint},
        "data": dict(gan.meta.get("data", {})),
        "code_version": code_version(),
        "parts": [{"name": r.spec.name, "rows": r.rows, "sha256": r.sha256, "bytes": r.nbytes}
                  for r in results],
        "tails": {s: {"min": float(mins[j]), "max": float(maxs[j])}
                  for j, s in enumerate(columns)},
        # No safety filter runs: every sampled path is published as drawn.
        "filtering": {"filter": None, "rejected_paths": 0, "clipped_values": 0,
                      "nonfinite_values": nonfinite},
        "generation": {"block_scenarios": BLOCK, "part_scenarios": BLOCK * PART_BLOCKS,
                       "device": device, "seconds": round(seconds, 3)},
    }


__all__ = ["generate_scenarios", "plan_parts", "sample_range", "block_seed", "join"]
