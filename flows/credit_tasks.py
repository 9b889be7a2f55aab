"""The credit pipeline's Prefect tasks, each taking one typed parameter object.

Orchestration only: the library (``ganjobs.tabular.*``) does the work and is imported inside
the tasks, so importing this module never imports torch.

Every step is idempotent on storage rather than on Prefect's cache: a step whose folder holds
``_SUCCESS`` is read back instead of recomputed, whichever Prefect database ran it, so a
retried or repeated run reuses what is complete and redoes what is not.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.credit_remote import (
    model_result,
    read_loan_book,
    read_model,
    synth_args,
    train_table_args,
)
from flows.remote import jobs_api, run_job
from flows.task_params import TaskParams
from flows.tasks import IO_RETRIES, IO_RETRY_DELAYS, _transient

# --------------------------------------------------------------------------- parameters


class IngestTableTask(TaskParams):
    """Read and validate the real table."""

    data: str = Field(description="The real table")
    schema_url: str | None = Field(None, description="Schema YAML (default: inferred)")
    target: str | None = Field(None, description="The good/bad label column")


class TrainTableTask(TaskParams):
    """Train the table GAN into ``model_url``."""

    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({"address"})

    data: str = Field(description="The real table")
    schema_url: str | None = Field(None, description="Schema YAML (default: inferred)")
    target: str | None = Field(None, description="The good/bad label column")
    model_url: str = Field(description="Model folder to write")
    preset: str | None = Field(None, description="Training preset")
    steps: int | None = Field(None, description="Training steps (overrides the preset)")
    workers: int | None = Field(None, description="Ray Train workers")
    seed: int = Field(0, description="Run seed")
    dp_epsilon: float | None = Field(None, description="Differential privacy budget")
    data_sha256: str = Field(description="sha256 of the real table")
    run_name: str = Field(description="Ray Train run name; the same name resumes")
    address: str | None = Field(None, description="Ray address (does not change the model)")


class SynthTask(TaskParams):
    """Sample the loan book from the model."""

    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({"address"})

    model_url: str = Field(description="The trained model folder")
    out: str = Field(description="The loan book folder to publish")
    n: int = Field(description="Rows to synthesise")
    seed: int = Field(0, description="Sampling seed")
    run_name: str = Field(description="Run name (names the Ray job)")
    address: str | None = Field(None, description="Ray address (does not change the rows)")


class EvaluateTableTask(TaskParams):
    """Fidelity, utility and privacy of the loan book against the real table."""

    synthetic: str = Field(description="The published loan book")
    real: str = Field(description="The real table")
    out: str = Field(description="Folder for metrics.json and report.html")
    seed: int = Field(0, description="Seed of the baselines and classifiers")


class RecordTask(TaskParams):
    """Write a JSON record (the run record, the series' LATEST)."""

    url: str = Field(description="Where the record goes")
    record: dict[str, Any] = Field(description="Its content")


# --------------------------------------------------------------------------- tasks


@task(name="ingest-table", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def ingest_table(p: IngestTableTask) -> dict[str, Any]:
    """Validate the table (a bad one fails here, before anything is written); its sha256
    and resolved schema key everything after."""
    from ganjobs.errors import GanjobsError
    from ganjobs.tabular.infer import describe_schema
    from ganjobs.tabular.validate import load_table

    loaded = load_table(p.data, p.schema_url, p.target)
    schema = loaded.schema
    if schema.target is None:
        raise GanjobsError(f"{p.data}: no target column: the credit pipeline scores default "
                           f"models, so name the good/bad label (target parameter or the "
                           f"schema's 'target')")
    lines = list(loaded.notes) or describe_schema(schema, loaded.frame)
    log = get_run_logger()
    log.info("table %s: %d rows x %d columns, target %s, sha256 %s…", p.data,
             len(loaded.frame), len(schema.columns), schema.target, loaded.sha256[:12])
    for line in lines:
        log.info("  %s", line)
    return {"source": loaded.source, "sha256": loaded.sha256, "rows": int(len(loaded.frame)),
            "columns": schema.names, "target": schema.target, "schema": schema.to_dict(),
            "schema_lines": lines, "inferred": p.schema_url is None,
            "notes": list(loaded.notes)}


# One retry for a lost Ray actor or node: the same run name resumes from its checkpoint.
@task(name="train-table", retries=1, retry_delay_seconds=10, retry_condition_fn=_transient,
      cache_policy=NO_CACHE, persist_result=False)
def train_table_step(p: TrainTableTask) -> dict[str, Any]:
    """Train with Ray Train (or as a Ray job); a model already complete is reused."""
    from ganjobs.errors import GanjobsError
    from ganjobs.io.publisher import is_published

    log = get_run_logger()
    if is_published(p.model_url):
        model = read_model(p.model_url)
        if model["data"].get("sha256") not in (None, p.data_sha256):
            raise GanjobsError(f"{p.model_url} holds a model of other data (sha256 "
                               f"{model['data']['sha256'][:12]}…); rerun with overwrite")
        log.info("model already trained at %s; reusing it", p.model_url)
        return {**model, "reused": True}
    api = jobs_api(p.address)
    if api:
        log.info("submitting table training to the Ray Jobs API at %s -> %s", api, p.model_url)
        job = run_job("train-table", p.run_name, train_table_args(p), api, log.info)
        return {**read_model(p.model_url, job), "reused": job["attached"]}
    from ganjobs.tabular.train import train_table

    log.info("training (preset %s, steps %s, workers %s, dp epsilon %s) -> %s", p.preset,
             p.steps or "preset", p.workers or "default", p.dp_epsilon or "off", p.model_url)
    result = train_table(p.data, p.model_url, schema=p.schema_url, target=p.target,
                         preset=p.preset, steps=p.steps, workers=p.workers, seed=p.seed,
                         dp_epsilon=p.dp_epsilon, address=p.address, run_name=p.run_name)
    for note in result.get("notes") or []:
        log.info("note: %s", note)
    log.info("trained %s steps", result.get("steps"))
    return {**model_result(p.model_url, result.get("meta") or {}), "reused": False}


@task(name="synth", retries=1, retry_delay_seconds=10, retry_condition_fn=_transient,
      cache_policy=NO_CACHE, persist_result=False)
def synth_step(p: SynthTask) -> dict[str, Any]:
    """Sample and publish the loan book; one already published is read back."""
    from ganjobs.io.publisher import is_published

    log = get_run_logger()
    if is_published(p.out):
        log.info("loan book already published at %s", p.out)
        return read_loan_book(p.out)
    api = jobs_api(p.address)
    if api:
        log.info("submitting synthesis of %d rows to the Ray Jobs API at %s -> %s", p.n, api,
                 p.out)
        job = run_job("synth", p.run_name, synth_args(p), api, log.info)
        return read_loan_book(p.out, job)
    from ganjobs.tabular.synth import synth_table

    log.info("synthesising %d rows -> %s", p.n, p.out)
    return synth_table(p.model_url, p.out, p.n, seed=p.seed)


@task(name="evaluate-table", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def evaluate_step(p: EvaluateTableTask) -> dict[str, Any]:
    """Metrics and report of the loan book; an evaluation already published is read back."""
    from flows.credit_artifacts import headline
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    log = get_run_logger()
    if is_published(p.out):
        log.info("evaluation already published at %s", p.out)
    else:
        from ganjobs.tabular.evaluation.command import evaluate_table

        log.info("evaluating %s against %s and the baselines -> %s", p.synthetic, p.real,
                 p.out)
        # The schema and target are the loan book's own (its manifest records them).
        evaluate_table(p.synthetic, p.real, p.out, seed=p.seed)
    metrics_url, report_url = join(p.out, "metrics.json"), join(p.out, "report.html")
    result = {"metrics_url": metrics_url, "report_url": report_url,
              "headline": headline(read_json(metrics_url))}
    log.info("report: %s", report_url)
    return result


@task(name="clear-run", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def clear_run(record_url: str, folders: list[str]) -> None:
    """Overwrite: remove the run record first (the run is no longer complete), then its
    outputs, so that nothing of the old run is read back."""
    from flows.publish import remove_tree
    from ganjobs.io.storage import exists, filesystem, storage_errors

    if exists(record_url):
        fs, path = filesystem(record_url)
        with storage_errors(record_url):
            fs.rm(path)
    for url in folders:
        remove_tree(url)
    get_run_logger().info("overwrite: removed %s and its outputs", record_url)


@task(name="write-run-record", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def write_run_record(p: RecordTask) -> None:
    """Write the run record atomically: the run's commit point."""
    from flows.credit_publish import write_record

    write_record(p.url, p.record)
    get_run_logger().info("run record %s written", p.url)


@task(name="update-latest", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def update_latest_table(p: RecordTask) -> bool:
    """Move the series' ``LATEST`` forward to this run, if it is newer."""
    from flows.publish import move_pointer

    changed = move_pointer(p.url, p.record, target="loan_book", order="as_of",
                           same=("run_id", "as_of"))
    get_run_logger().info("LATEST %s: %s", p.url,
                          f"now {p.record['loan_book']}" if changed else "unchanged")
    return changed
