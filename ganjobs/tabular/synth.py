"""``ganjobs synth``: generate a synthetic table from a table model and publish it.

Rows come out in chunks from one seeded generator, so the same model, ``n``, seed and
``where`` give byte-identical parts. A condition (``--where col=value``) is asked of the
generator through the conditional vector, and the asked-for column is set to the value in
every row (the generator was trained to produce it; the share of rows where it did so on its
own is recorded): no row is ever drawn and thrown away.

A synthetic set is a published folder (format ``ganjobs.table/1``): Parquet parts, then
``manifest.json`` (schema, target, the split of the real table, model and data records,
seed, condition, code version, parts), then ``_SUCCESS``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ganjobs.core.seeds import check_seed, named_seed
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher, precheck_out
from ganjobs.tabular.folder import TableModel, load_table_model
from ganjobs.tabular.networks import gumbel_noise

TABLE_FORMAT = "ganjobs.table/1"
PART_ROWS = 100_000
CHUNK = 4096
MAX_ROWS = 50_000_000


def parse_where(items: list[str] | None) -> dict[str, str] | None:
    """``["col=value"]`` -> ``{"col": "value"}``; one condition at most."""
    if not items:
        return None
    if len(items) > 1:
        raise GanjobsError("--where: one condition at most (the conditional vector asks for "
                           "one category)")
    col, sep, value = items[0].partition("=")
    if not sep or not col.strip():
        raise GanjobsError(f"--where {items[0]!r}: use column=value")
    return {col.strip(): value}


def _condition(model: TableModel, where: dict[str, str] | None) -> tuple[int, int] | None:
    """``(block, category)`` of the conditional vector for ``where``; checks it."""
    if not where:
        return None
    (column, value), = where.items()
    if column not in model.schema.names:
        raise GanjobsError(f"--where {column}={value}: no column {column!r} in the model's "
                           f"schema ({', '.join(model.schema.names)})")
    blocks = [d.column for d in model.transformer.discrete]
    if column not in blocks:
        raise GanjobsError(f"--where {column}={value}: {column!r} is "
                           f"{model.schema.column(column).kind}; conditions take a "
                           f"categorical column ({', '.join(blocks)})")
    block = blocks.index(column)
    labels = model.transformer.discrete[block].labels
    if value not in labels:
        known = ", ".join(str(label) for label in labels if label is not None)
        raise GanjobsError(f"--where {column}={value}: unknown value; {column} takes {known}")
    category = labels.index(value)
    counts = model.transformer.discrete[block].counts
    if counts[category] < model.cfg.model.cond_min_rows:
        raise GanjobsError(f"--where {column}={value}: only {counts[category]} training rows "
                           f"hold it, fewer than the {model.cfg.model.cond_min_rows} the model "
                           f"conditions on")
    return block, category


def generate_matrix(model: TableModel, n: int, seed: int,
                    cond_at: tuple[int, int] | None = None) -> tuple[np.ndarray, int]:
    """``n`` generated rows in the transformed space and, with a condition ``(block,
    category)``, how many of them produced it by themselves (the column is then set)."""
    g, sampler, layout = model.generator(), model.sampler(), model.layout
    rng = torch.Generator().manual_seed(named_seed(seed, "synth"))
    chunks, agreed = [], 0
    with torch.no_grad():
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            if cond_at is None:
                cond = sampler.draw_generation(size, rng)[0]
            else:
                cond = sampler.fixed(cond_at[0], cond_at[1], size)
            noise = torch.randn((size, g.noise_dim), generator=rng)
            logits = g(noise, cond)
            # Gumbel-max: the argmax taken by the inverse transform samples each softmax.
            rows = g.activate(logits, model.cfg.model.tau,
                              gumbel_noise(tuple(logits.shape), rng, torch.device("cpu")))
            rows = rows.numpy().astype(np.float64)
            if cond_at is not None:
                s, w = layout.discrete[cond_at[0]]
                agreed += int((rows[:, s:s + w].argmax(axis=1) == cond_at[1]).sum())
                rows[:, s:s + w] = np.eye(w)[cond_at[1]]
            chunks.append(rows)
    matrix = np.concatenate(chunks)
    if not np.isfinite(matrix).all():
        raise GanjobsError(f"{model.url}: the generator produced non-finite values; retrain "
                           f"the model")
    return matrix, agreed


def generate_rows(model: TableModel, n: int, seed: int,
                  where: dict[str, str] | None = None) -> tuple[pd.DataFrame, float | None]:
    """``n`` synthetic rows (coerced dtypes) and, with a condition, the share of rows in
    which the generator produced the asked-for value by itself."""
    cond_at = _condition(model, where)
    matrix, agreed = generate_matrix(model, n, seed, cond_at)
    frame = model.transformer.inverse(matrix, model.meta.get("calibration"))
    return frame, (agreed / n if cond_at is not None else None)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet with fixed settings: the same frame always gives the same bytes."""
    buf = io.BytesIO()
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


def synth_table(model: str, out: str, n: int, *, seed: int = 0,
                where: dict[str, str] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Generate ``n`` rows from the table model at ``model`` and publish them at ``out``.

    Returns the written manifest.
    """
    seed = check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ROWS:
        raise GanjobsError(f"--n must be a whole number in [1, {MAX_ROWS}], got {n!r}")
    precheck_out(out, overwrite=overwrite)
    m = load_table_model(model)
    frame, agreement = generate_rows(m, n, seed, where)
    from ganjobs.core.version import code_version

    manifest = {
        "format": TABLE_FORMAT,
        "rows": n,
        "columns": list(frame.columns),
        "schema": m.schema.to_dict(),
        "target": m.schema.target,
        "split": m.meta["split"],
        "model": {"url": model, "sha256": m.sha256, "step": m.meta.get("step"),
                  "seed": m.meta.get("seed"), "dp": _dp(m.meta.get("privacy"))},
        "data": m.meta["data"],
        "seed": seed,
        "where": where,
        "condition_agreement": agreement,
        "code_version": code_version(),
    }
    with Publisher(out, overwrite=overwrite) as publisher:
        for i, start in enumerate(range(0, n, PART_ROWS)):
            part = frame.iloc[start:start + PART_ROWS]
            publisher.write_part(f"part-{i:05d}.parquet", parquet_bytes(part), rows=len(part))
        return publisher.commit(manifest)


def _dp(privacy: dict[str, Any] | None) -> dict[str, Any] | None:
    if not privacy:
        return None
    return {"epsilon": privacy["epsilon"], "delta": privacy["delta"]}
