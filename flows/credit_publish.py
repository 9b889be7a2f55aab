"""The records of a credit run: ``run.json`` in the run folder (its commit point) and the
series' ``LATEST`` pointer (docs/table-pipeline.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flows.credit_params import LATEST_FORMAT, RUN_FORMAT, CreditLayout
from ganjobs.io.publisher import MANIFEST, is_published
from ganjobs.io.storage import (
    exists,
    filesystem,
    join,
    read_json,
    split_url,
    storage_errors,
    write_bytes,
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_record(url: str, record: dict[str, Any]) -> None:
    """Write a JSON record in one step: a local rename is atomic, an S3 PUT already is."""
    body = json.dumps(record, indent=2, default=str).encode()
    if split_url(url)[0] != "file":
        write_bytes(url, body)
        return
    tmp = url + ".tmp"
    write_bytes(tmp, body)
    fs, path = filesystem(url)
    with storage_errors(url):
        fs.mv(filesystem(tmp)[1], path)


def run_complete(layout: CreditLayout) -> bool:
    """True when the run's record exists and the folders it names are all published."""
    if not exists(layout.record):
        return False
    return all(is_published(url) for url in (layout.model, layout.loan_book,
                                             layout.evaluation))


def read_run_record(layout: CreditLayout) -> dict[str, Any]:
    return read_json(layout.record)


def run_record(*, layout: CreditLayout, identity: dict[str, Any], table: dict[str, Any],
               model: dict[str, Any], book: dict[str, Any], evaluation: dict[str, Any],
               flow_run: dict[str, Any]) -> dict[str, Any]:
    """What one run made, from what, and how good it is: written after everything else."""
    return {
        "format": RUN_FORMAT,
        "name": layout.name,
        "as_of": layout.as_of,
        "run_id": layout.run_id,
        "run": layout.run,
        "model": layout.model,
        "loan_book": layout.loan_book,
        "evaluation": {"url": layout.evaluation, "metrics": evaluation["metrics_url"],
                       "report": evaluation["report_url"]},
        "headline": evaluation["headline"],
        "rows": book.get("rows"),
        "data": {"source": table["source"], "sha256": table["sha256"], "rows": table["rows"],
                 "target": table["target"], "schema_inferred": table["inferred"]},
        "schema_lines": table["schema_lines"],
        "split": model["split"],
        "dp": model.get("dp"),
        "identity": identity,
        "code_version": identity["code_version"],
        "flow_run": flow_run,
        "created_at": _now(),
    }


def latest_record(record: dict[str, Any]) -> dict[str, Any]:
    """The series' ``LATEST``: the run record's locations and headline, for readers."""
    return {
        "format": LATEST_FORMAT,
        "name": record["name"],
        "as_of": record["as_of"],
        "run_id": record["run_id"],
        "run": record["run"],
        "record": join(record["run"], "run.json"),
        "loan_book": record["loan_book"],
        "manifest": join(record["loan_book"], MANIFEST),
        "model": record["model"],
        "report": record["evaluation"]["report"],
        "metrics": record["evaluation"]["metrics"],
        "headline": record["headline"],
        "data": record["data"],
        "updated_at": _now(),
    }
