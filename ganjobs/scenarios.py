"""Reader for published scenario sets (layout: docs/formats.md §3), for users and our commands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import read_manifest
from ganjobs.io.storage import filesystem, join, storage_errors

FORMAT = "ganjobs.scenarios/2"
#: Formats this code reads: version 1 sets (before conditional generation) have no
#: ``conditioning`` block and are long-run sets.
READABLE_FORMATS = ("ganjobs.scenarios/1", FORMAT)


@dataclass
class ScenarioSet:
    """A published scenario set: its manifest and lazy access to its parts."""

    url: str
    manifest: dict[str, Any]

    @property
    def symbols(self) -> list[str]:
        return list(self.manifest["symbols"])

    @property
    def horizon(self) -> int:
        return int(self.manifest["horizon"])

    @property
    def n_scenarios(self) -> int:
        return int(self.manifest["n_scenarios"])

    @property
    def part_urls(self) -> list[str]:
        return [join(self.url, p["name"]) for p in self.manifest["parts"]]

    def dataset(self) -> ds.Dataset:
        """The parts as one pyarrow dataset, in scenario order."""
        fs, _ = filesystem(self.url)
        paths = [filesystem(u)[1] for u in self.part_urls]
        with storage_errors(self.url):
            return ds.dataset(paths, format="parquet", filesystem=fs)

    def to_table(self, columns: list[str] | None = None) -> pa.Table:
        with storage_errors(self.url):
            return self.dataset().to_table(columns=columns)

    def iter_parts(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        """One table per part, in order: memory is bounded by the largest part."""
        fs, _ = filesystem(self.url)
        for url in self.part_urls:
            with storage_errors(url), fs.open(filesystem(url)[1], "rb") as fh:
                yield pq.read_table(fh, columns=columns)

    def iter_paths(self, symbols: list[str] | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(scenario_ids, paths)`` per part, paths of shape (n_part, H, k), float32."""
        symbols = self._check_symbols(symbols)
        h = self.horizon
        for table in self.iter_parts(columns=["scenario", *symbols]):
            ids = table.column("scenario").to_numpy()[::h]
            cols = [table.column(s).to_numpy().reshape(-1, h) for s in symbols]
            yield ids, np.stack(cols, axis=-1)

    def paths(self, symbols: list[str] | None = None, max_scenarios: int | None = None
              ) -> np.ndarray:
        """All (or the first ``max_scenarios``) paths as an array (n, H, k), float32."""
        out, have = [], 0
        for _, block in self.iter_paths(symbols):
            if max_scenarios is not None and have + len(block) > max_scenarios:
                block = block[: max_scenarios - have]
            out.append(block)
            have += len(block)
            if max_scenarios is not None and have >= max_scenarios:
                break
        return np.concatenate(out, axis=0)

    def _check_symbols(self, symbols: list[str] | None) -> list[str]:
        if symbols is None:
            return self.symbols
        unknown = [s for s in symbols if s not in self.symbols]
        if unknown:
            raise GanjobsError(f"{self.url}: unknown symbol(s) {', '.join(unknown)}; "
                               f"the set has {', '.join(self.symbols)}")
        return list(symbols)


def open_scenarios(url: str) -> ScenarioSet:
    """Open a published scenario set; refuses sets without ``_SUCCESS`` or of another format."""
    manifest = read_manifest(url)
    fmt = manifest.get("format")
    if fmt not in READABLE_FORMATS:
        raise GanjobsError(f"{url}: manifest format {fmt!r} is not one of "
                           f"{', '.join(READABLE_FORMATS)}")
    return ScenarioSet(url=url, manifest=manifest)
