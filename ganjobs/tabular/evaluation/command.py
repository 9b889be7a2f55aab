"""``evaluate-table``: a published synthetic table against the real table it was learnt from.

Reads the synthetic set (manifest ``ganjobs.table/1``: schema, target, split record), reads and
coerces the real table with that schema, recomputes the split and refuses a real table that
is not the one the model was trained on, builds the baselines from the real train rows at the
synthetic set's size, evaluates everything and publishes ``metrics.json`` and ``report.html``
(then ``manifest.json`` and ``_SUCCESS``) atomically.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ganjobs.core.seeds import check_seed
from ganjobs.core.version import code_version
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher, precheck_out, read_manifest
from ganjobs.io.storage import join
from ganjobs.tabular.evaluation.baselines import baseline_tables
from ganjobs.tabular.evaluation.encode import canonical, take
from ganjobs.tabular.evaluation.frames import evaluate_frames
from ganjobs.tabular.evaluation.report import PRIMARY, render_report
from ganjobs.tabular.schema import TableSchema, load_schema
from ganjobs.tabular.split import split_from_record
from ganjobs.tabular.table_io import read_source, read_table
from ganjobs.tabular.validate import coerce_frame

SET_FORMAT = "ganjobs.table/1"
FORMAT = "ganjobs.table-evaluation/1"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"


def evaluate_table(synthetic: str, real: str, out: str, *, schema: str | None = None,
                   target: str | None = None, seed: int = 0, baselines: bool = True,
                   overwrite: bool = True) -> dict[str, Any]:
    """Evaluate a synthetic set against its real table and the baselines; publish the results.

    Parameters
    ----------
    synthetic : str
        URL of a published synthetic set (``ganjobs synth``).
    real : str
        URL of the real table the model was trained on (file or published folder).
    out : str
        Folder URL for ``metrics.json``, ``report.html``, ``manifest.json`` and ``_SUCCESS``.
    schema : str, optional
        A YAML schema file to use instead of the one the synthetic set records.
    target : str, optional
        Target column to use instead of the recorded one (the split stays stratified as
        recorded).
    seed : int
        Seed of the baselines and of every subsample and classifier of the metrics.
    baselines : bool
        Compare with the baselines (independent, Gaussian copula, SMOTE, real train).
    overwrite : bool
        Replace an evaluation already published at ``out`` (derived data, recomputed at
        will).

    Returns
    -------
    dict
        ``{"metrics", "metrics_url", "report_url", "manifest"}``.

    Raises
    ------
    GanjobsError
        Not a synthetic set, a real table that breaks the schema or is not the table the
        model was trained on, or an output location that cannot be written; raised before
        anything is written.
    """
    t0 = time.perf_counter()
    seed = check_seed(seed)
    precheck_out(out, overwrite=overwrite)
    manifest = _set_manifest(synthetic)
    table_schema = _schema(manifest, synthetic, schema, target)
    real_frame, real_sha = _real_frame(real, table_schema)
    split = split_from_record(real_frame, manifest["split"], source=real)
    synth = read_table(synthetic)
    if len(synth) == 0:
        raise GanjobsError(f"{synthetic}: the synthetic set has no rows")
    tables: dict[str, pd.DataFrame] = {PRIMARY: synth}
    if baselines:
        tables.update(baseline_tables(real_frame.iloc[split.train], table_schema, len(synth),
                                      seed))
    eps = ((manifest.get("model") or {}).get("dp") or {}).get("epsilon")
    metrics = evaluate_frames(real_frame, table_schema, split, tables, seed=seed,
                              dp_epsilon={PRIMARY: float(eps)} if eps is not None else None)
    _add_context(metrics, manifest, synthetic, real, real_sha)
    report = render_report(
        metrics, table_schema, take(canonical(real_frame, table_schema), split.train),
        {name: canonical(frame, table_schema) for name, frame in tables.items()},
        {"synthetic": synthetic, "real": real})
    metrics["seconds_total"] = round(time.perf_counter() - t0, 3)
    with Publisher(out, overwrite=overwrite) as pub:
        pub.write_part(METRICS_FILE, json.dumps(metrics, indent=2, allow_nan=False).encode(),
                       rows=1)
        pub.write_part(REPORT_FILE, report.encode("utf-8"), rows=1)
        published = pub.commit(_out_manifest(metrics, synthetic, real, seed))
    return {"metrics": metrics, "metrics_url": join(out, METRICS_FILE),
            "report_url": join(out, REPORT_FILE), "manifest": published}


def _set_manifest(url: str) -> dict[str, Any]:
    manifest = read_manifest(url)
    if manifest.get("format") != SET_FORMAT:
        raise GanjobsError(f"{url}: not a synthetic table set (manifest format "
                           f"{manifest.get('format')!r}, expected {SET_FORMAT!r})")
    for key in ("schema", "split"):
        if not isinstance(manifest.get(key), dict):
            raise GanjobsError(f"{url}: manifest.json has no {key!r} record")
    return manifest


def _schema(manifest: dict[str, Any], synthetic: str, schema_url: str | None,
            target: str | None) -> TableSchema:
    if schema_url is not None:
        schema = load_schema(schema_url)
        source = schema_url
    else:
        source = join(synthetic, "manifest.json")
        schema = TableSchema.from_dict(manifest["schema"], source=source)
    if target is None or target == schema.target:
        return schema
    return TableSchema.from_dict({**schema.to_dict(), "target": target}, source=source)


def _real_frame(url: str, schema: TableSchema) -> tuple[pd.DataFrame, str]:
    src = read_source(url)
    missing = [n for n in schema.names if n not in src.frame.columns]
    if missing:
        raise GanjobsError(f"{url}: column {missing[0]!r}: in the model's schema but not in "
                           "the real table")
    return coerce_frame(src.frame[schema.names], schema, url), src.sha256


def _add_context(metrics: dict[str, Any], manifest: dict[str, Any], synthetic: str,
                 real: str, real_sha: str) -> None:
    recorded = (manifest.get("data") or {}).get("sha256")
    metrics["context"] = {
        "synthetic": synthetic, "real": real, "real_sha256": real_sha,
        "real_matches_recorded_file": None if not recorded else recorded == real_sha,
        "set": {k: manifest.get(k) for k in ("rows", "seed", "where", "model", "code_version")},
    }
    if manifest.get("where"):
        metrics["notes"].append(
            f"the synthetic set was generated under the condition {manifest['where']}; "
            "fidelity compares it with all real train rows")


def _out_manifest(metrics: dict[str, Any], synthetic: str, real: str, seed: int
                  ) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "seed": seed,
        "synthetic": synthetic,
        "real": {"location": real, "sha256": metrics["context"]["real_sha256"]},
        "split": metrics["split"],
        "methods": list(metrics["methods"]),
    }
