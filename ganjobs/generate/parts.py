"""Scenario parts: the unit of determinism (noise blocks) and of storage (Parquet parts).

Noise is drawn per block of ``BLOCK`` scenarios with a seed derived from (seed, block), and
parts cover whole blocks, so a set does not depend on how many workers produced it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.core.seeds import block_seed

BLOCK = 1024  # scenarios per noise block: the unit of determinism
PART_BLOCKS = 16  # blocks per part file (16,384 scenarios)


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
