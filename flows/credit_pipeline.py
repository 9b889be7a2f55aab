"""The credit run: real loan table -> table GAN (Ray Train) -> synthetic loan book ->
evaluation -> published run + LATEST.

Orchestration only. The library (``ganjobs.tabular.*``) does the work and is imported inside
the tasks (``flows.credit_tasks``), so importing this module never imports torch.

One run writes ``<root>/<name>/<as-of>/<run-id>/`` where the run id hashes the table's
sha256, its schema (given or inferred), the parameters that shape the model and the loan book,
and the code version (``flows.credit_params``):

    model/        the model folder (model.json, weights, _SUCCESS)
    loan-book/    the synthetic loan book: Parquet parts, manifest.json, _SUCCESS
    evaluation/   metrics.json, report.html, _SUCCESS
    run.json      the run record, written once the three folders are complete

``run.json`` is the run's commit point and ``<root>/<name>/LATEST`` moves to the run only
after it. A bad table fails in the first step, before anything is written; a run whose record
already exists publishes nothing. Command line::

    python -m flows.credit_pipeline --data lake/credit/credit_data.parquet --root lake/tables
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from prefect import flow, get_run_logger

from flows.credit_params import (
    CreditLayout,
    CreditParams,
    credit_identity,
    credit_run_id,
    today_utc,
)
from flows.credit_publish import latest_record, read_run_record, run_complete, run_record
from flows.credit_tasks import (
    EvaluateTableTask,
    IngestTableTask,
    RecordTask,
    SynthTask,
    TrainTableTask,
    clear_run,
    evaluate_step,
    ingest_table,
    synth_step,
    train_table_step,
    update_latest_table,
    write_run_record,
)
from flows.params import absolute_url, code_version
from flows.pipeline import _flow_run_info


@flow(name="credit-pipeline", log_prints=True)
def credit_pipeline(params: CreditParams) -> dict[str, Any]:
    """Publish one versioned synthetic loan book with its model and evaluation (idempotent).

    Returns a summary: where the run, loan book, model, report and LATEST are, whether this
    run published anything, the headline metrics and the Prefect flow run's id and name.
    """
    log = get_run_logger()
    data, root = absolute_url(params.data), absolute_url(params.root)
    schema_url = absolute_url(params.schema_url) if params.schema_url else None
    table = ingest_table(IngestTableTask(data=data, schema_url=schema_url,
                                         target=params.target))
    identity = credit_identity(params, table, code_version())
    as_of = (params.as_of or today_utc()).isoformat()
    layout = CreditLayout(root=root, name=params.name, as_of=as_of,
                          run_id=credit_run_id(identity))
    log.info("run %s -> %s", layout.run_id, layout.run)
    if params.overwrite:
        clear_run(layout.record, [layout.model, layout.loan_book, layout.evaluation])

    published = not run_complete(layout)
    if published:
        record = _run(params, layout, identity, table, data, schema_url)
    else:
        log.info("run already published at %s: nothing to train or publish", layout.run)
        record = read_run_record(layout)
    latest_updated = update_latest_table(RecordTask(url=layout.latest,
                                                    record=latest_record(record)))
    summary = _summary(record, layout, published, latest_updated)
    from flows.credit_artifacts import publish_credit_artifacts

    publish_credit_artifacts(summary)
    log.info("done: %s %s", "published" if published else "already published", layout.run)
    return summary


def _run(params: CreditParams, layout: CreditLayout, identity: dict[str, Any],
         table: dict[str, Any], data: str, schema_url: str | None) -> dict[str, Any]:
    """Train, synthesise, evaluate and write the run record (the commit point)."""
    run_name = f"{params.name}-{layout.run_id}"
    model = train_table_step(TrainTableTask(
        data=data, schema_url=schema_url, target=table["target"], model_url=layout.model,
        preset=params.preset, steps=params.steps, workers=params.workers, seed=params.seed,
        dp_epsilon=params.dp_epsilon, data_sha256=table["sha256"], run_name=run_name,
        address=params.ray_address))
    book = synth_step(SynthTask(model_url=layout.model, out=layout.loan_book,
                                n=params.rows or _train_rows(model), seed=params.seed,
                                run_name=run_name, address=params.ray_address))
    evaluation = evaluate_step(EvaluateTableTask(
        synthetic=layout.loan_book, real=data, out=layout.evaluation, seed=params.seed))
    record = run_record(layout=layout, identity=identity, table=table, model=model, book=book,
                        evaluation=evaluation, flow_run=_flow_run_info())
    write_run_record(RecordTask(url=layout.record, record=record))
    return record


def _train_rows(model: dict[str, Any]) -> int:
    """The default loan book size: the rows the model learnt from (its training part)."""
    return int(model["split"]["rows"]["train"])


def _summary(record: dict[str, Any], layout: CreditLayout, published: bool,
             latest_updated: bool) -> dict[str, Any]:
    return {
        "name": record["name"], "as_of": record["as_of"], "run_id": record["run_id"],
        "run_url": record["run"], "record_url": layout.record,
        "loan_book_url": record["loan_book"], "model_url": record["model"],
        "report_url": record["evaluation"]["report"],
        "metrics_url": record["evaluation"]["metrics"], "rows": record["rows"],
        "target": record["data"]["target"], "data_sha256": record["data"]["sha256"],
        "headline": record["headline"], "dp": record.get("dp"),
        "code_version": record["code_version"], "latest_url": layout.latest,
        "published": published, "latest_updated": latest_updated, **_flow_run_info(),
    }


# --------------------------------------------------------------------------- command line


def print_summary(summary: dict[str, Any], prefix: str = "") -> None:
    """Where the run's outputs are, one line each (the command line and the demo)."""
    rows = [("loan book", summary["loan_book_url"]),
            ("report", summary["report_url"]),
            ("metrics", summary["metrics_url"]),
            ("model", summary["model_url"]),
            ("run record", summary["record_url"]),
            ("LATEST pointer", summary["latest_url"]),
            ("Prefect flow run",
             f"{summary.get('flow_run_name')} (id {summary.get('flow_run_id')})")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{prefix}  {key:<{width}}  {value}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flows.credit_pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the real table (Parquet, CSV or a "
                                                 "published folder; local or s3://)")
    p.add_argument("--root", required=True, help="output root (local or s3://)")
    fields = CreditParams.model_fields
    for flag, kind in (("--name", str), ("--schema", str), ("--target", str),
                       ("--as-of", str), ("--preset", str), ("--steps", int),
                       ("--workers", int), ("--seed", int), ("--dp-epsilon", float),
                       ("--rows", int), ("--ray-address", str)):
        field = fields["schema_url" if flag == "--schema" else flag[2:].replace("-", "_")]
        p.add_argument(flag, type=kind, default=None, help=field.description)
    p.add_argument("--overwrite", action="store_true", help=fields["overwrite"].description)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the flow once (Prefect's ephemeral API unless ``PREFECT_API_URL`` is set)."""
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if v is not None}
    options["schema_url"] = options.pop("schema", None)
    from ganjobs.errors import GanjobsError

    try:
        params = CreditParams(**options)
    except (ValueError, GanjobsError) as exc:  # pydantic's ValidationError; a bad URL scheme
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("DO_NOT_TRACK", "1")):
        os.environ.setdefault(key, value)
    state = credit_pipeline(params, return_state=True)
    if not state.is_completed():
        print(f"error: credit pipeline failed: {state.message}", file=sys.stderr)
        return 1
    summary = state.result()
    print("published a new run" if summary["published"]
          else "identical inputs: the run was already published, nothing new written")
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
