"""Table model folders: written after training, loaded to generate rows.

A table model folder holds

- ``generator.safetensors``: the generator's weights (loading runs no code);
- ``model.json``: ``format`` (``ganjobs.table-model/1``), the resolved config and its version,
  the schema, the fitted column transforms, the row layout, the split of the real table, the
  data record (source and sha256), the privacy record (``null`` without DP), the code
  version, seed, final step, training metrics and ``created_at``;
- ``_SUCCESS``: written last, through the same publisher as every other output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import require_published
from ganjobs.io.storage import join, read_bytes, read_json, sha256_bytes
from ganjobs.model.folder import MODEL_JSON, WEIGHTS_FILE, publish_model, weights_record
from ganjobs.tabular.config import TABLE_CONFIG_SCHEMA, TableConfig, table_config_from_dict
from ganjobs.tabular.networks import TableGenerator
from ganjobs.tabular.sampler import CondSampler
from ganjobs.tabular.schema import TableSchema
from ganjobs.tabular.task import Layout, build_networks
from ganjobs.tabular.transform import TableTransformer

TABLE_MODEL_FORMAT = "ganjobs.table-model/1"


def write_table_model(out: str, *, cfg: TableConfig, generator_state: dict[str, torch.Tensor],
                      transformer: TableTransformer, layout: Layout,
                      record: dict[str, Any]) -> dict[str, Any]:
    """Publish the model folder atomically; returns ``model.json``'s content.

    ``record`` holds what the run adds: ``split``, ``data``, ``privacy``, ``training``,
    ``metrics``, ``step``, ``seed``, ``created_at``.
    """
    from ganjobs.core.version import code_version

    tensors = {k: v.detach().cpu().contiguous() for k, v in generator_state.items()}
    blob = save_safetensors(tensors, metadata={"format": TABLE_MODEL_FORMAT})
    meta = {
        "format": TABLE_MODEL_FORMAT,
        "config_schema": TABLE_CONFIG_SCHEMA,
        "config": cfg.model_dump(),
        "schema": transformer.schema.to_dict(),
        "target": transformer.schema.target,
        "transform": transformer.to_dict(),
        "layout": layout.to_dict(),
        **record,
        "code_version": code_version(),
        "weights": weights_record(blob),
    }
    return publish_model(out, blob, meta)


@dataclass
class TableModel:
    """A loaded table model: configuration, transforms, layout and generator weights."""

    url: str
    meta: dict[str, Any]
    cfg: TableConfig
    transformer: TableTransformer
    layout: Layout
    state: dict[str, torch.Tensor]

    @property
    def schema(self) -> TableSchema:
        return self.transformer.schema

    @property
    def sha256(self) -> str:
        return str(self.meta["weights"]["sha256"])

    def sampler(self, device: str = "cpu") -> CondSampler:
        counts = [d.counts for d in self.transformer.discrete]
        mc = self.cfg.model
        return CondSampler(counts, mc.log_frequency, mc.cond_min_rows, torch.device(device))

    def generator(self, device: str = "cpu") -> TableGenerator:
        cond_dim = sum(w for _, w in self.layout.discrete)
        g, _ = build_networks(self.cfg, self.layout, cond_dim)
        g.load_state_dict(self.state, strict=True)
        return g.to(device).eval().requires_grad_(False)


def load_table_model(url: str) -> TableModel:
    """Read a published table model folder; refuses other folders and altered weights."""
    require_published(url, "table model folder")
    meta = read_json(join(url, MODEL_JSON))
    if meta.get("format") != TABLE_MODEL_FORMAT:
        raise GanjobsError(f"{url}: not a table model folder (format {meta.get('format')!r}, "
                           f"expected {TABLE_MODEL_FORMAT})")
    blob = read_bytes(join(url, WEIGHTS_FILE))
    if sha256_bytes(blob) != meta["weights"]["sha256"]:
        raise GanjobsError(f"{url}: {WEIGHTS_FILE} does not match the sha256 in {MODEL_JSON}")
    cfg = table_config_from_dict(meta["config"])
    transformer = TableTransformer.from_dict(meta["transform"])
    return TableModel(url, meta, cfg, transformer, Layout.from_dict(meta["layout"]),
                      load_safetensors(blob))
