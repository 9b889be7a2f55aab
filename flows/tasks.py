"""The pipeline's Prefect tasks, each taking one typed parameter object (:mod:`flows.task_params`).

Orchestration only: the library (``ganjobs.*``) does the work and is imported inside the
tasks, so importing this module never imports torch.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy

from flows.remote import (
    generate_args,
    generated_set,
    jobs_api,
    run_job,
    train_args,
    trained_model,
)
from flows.task_params import (
    EvaluateTask,
    GenerateTask,
    IngestTask,
    LatestTask,
    ModelChoiceTask,
    ModelPointerTask,
    PublishTask,
    StressTask,
    TaskParams,
    TrainTask,
)


def _inputs_key(context: Any, inputs: dict[str, Any]) -> str:
    """Hash of the task's inputs, parameter objects reduced to what determines the result
    (their ``cache_identity``: the Ray address, for one, does not change a result)."""
    from prefect.utilities.hashing import hash_objects

    reduced = {name: value.cache_identity() if isinstance(value, TaskParams) else value
               for name, value in inputs.items()}
    return hash_objects(reduced, raise_on_failure=True)


# Pure steps: keyed on their parameters (which carry the data fingerprint, the upstream step's
# result and the code version) and on the task's source.
STEP_CACHE = TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_inputs_key)
# Cached results are stored as JSON: a pickle in shared storage would run the code of
# whoever can write there when a cache hit loads it.
RESULTS = "json"
IO_RETRIES = 2
IO_RETRY_DELAYS = [2, 10]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry storage/network/cluster failures, never bad input or a diverged training run
    (they would fail the same way again)."""
    from ganjobs.errors import GanjobsError, StorageError

    exc = state.result(raise_on_failure=False)
    if isinstance(exc, GanjobsError) and not isinstance(exc, StorageError):
        return False
    return type(exc).__name__ != "NonFiniteLossError"


def _short(metrics: Any, limit: int = 6) -> str:
    if not isinstance(metrics, dict):
        return str(metrics)
    items = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))][:limit]
    return ", ".join(f"{k}={v:.4g}" for k, v in items) or "-"


@task(name="ingest-validate", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def ingest(p: IngestTask) -> dict[str, Any]:
    """Read and validate the prices; the fingerprint keys everything after."""
    from ganjobs.data.prices import load_market_data

    data = load_market_data(p.prices, p.symbols)
    get_run_logger().info("prices %s: symbols %s, %d common days %s..%s, sha256 %s…",
                          p.prices, ",".join(data.symbols), len(data.dates), data.first_date,
                          data.last_date, data.fingerprint[:12])
    return {"fingerprint": data.fingerprint, "symbols": list(data.symbols),
            "days": int(len(data.dates)), "data": data.data_record()}


# One retry for a lost Ray actor or node: the same run name resumes from its checkpoint.
@task(name="train", cache_policy=STEP_CACHE, persist_result=True, result_serializer=RESULTS,
      retries=1, retry_delay_seconds=10, retry_condition_fn=_transient)
def train(p: TrainTask) -> dict[str, Any]:
    """Train with Ray Train; a model already complete at ``p.model_url`` is reused."""
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    log = get_run_logger()
    if is_published(p.model_url):
        meta = read_json(join(p.model_url, "model.json"))
        if meta.get("data", {}).get("sha256") == p.data_sha256:
            log.info("model already trained at %s; reusing it", p.model_url)
            return {"out": p.model_url, "reused": True, "steps": meta.get("steps"),
                    "metrics": meta.get("metrics", {}), "fingerprint": p.data_sha256}
    api = jobs_api(p.address)
    if api:
        log.info("submitting training to the Ray Jobs API at %s -> %s", api, p.model_url)
        job = run_job("train", p.run_name, train_args(p), api, log.info)
        return trained_model(p.model_url, job)
    from ganjobs.train.command import train_model

    log.info("training (preset %s, steps %s, workers %s, gpu %s, overrides %s) -> %s",
             p.preset or "default", p.steps or "preset", p.workers or "default", p.gpu,
             p.overrides or "none", p.model_url)
    result = train_model(prices=p.prices, out=p.model_url, symbols=p.symbols, preset=p.preset,
                         steps=p.steps, workers=p.workers, gpu=p.gpu, seed=p.seed,
                         address=p.address, run_name=p.run_name, overrides=dict(p.overrides))
    log.info("trained %s steps: %s", result.get("steps"), _short(result.get("metrics")))
    return result


@task(name="generate", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def generate(p: GenerateTask) -> dict[str, Any]:
    """Sample the set into the staging location (published there, not yet final)."""
    log = get_run_logger()
    api = jobs_api(p.address)
    if api:
        log.info("submitting generation of %d x %d to the Ray Jobs API at %s -> %s", p.n,
                 p.horizon, api, p.staging_url)
        job = run_job("generate", p.run_name, generate_args(p), api, log.info)
        return generated_set(p.staging_url, job)
    from ganjobs.generate.command import generate_scenarios

    if p.address:
        # Large sets fan out as Ray tasks: on the run's cluster, not a new local one.
        from ganjobs.cluster.connect import ensure_ray

        ensure_ray(p.address)

    start = ("long-run states" if p.unconditional or not p.prices
             else f"the state as of {p.as_of or 'the last price date'}")
    log.info("generating %d scenarios x %d days from %s -> %s", p.n, p.horizon, start,
             p.staging_url)
    # overwrite: a staging set left by an interrupted run is replaced, never trusted.
    return generate_scenarios(model=p.model["out"], out=p.staging_url, n=p.n,
                              horizon=p.horizon, seed=p.seed, overwrite=True, progress=False,
                              prices=p.prices, as_of=p.as_of, unconditional=p.unconditional)


@task(name="choose-model", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def choose_model(p: ModelChoiceTask) -> dict[str, Any]:
    """Reuse the series' last model or train one; the decision and its reason in words."""
    from flows.model_reuse import decide, resolved_config
    from flows.publish import read_latest
    from ganjobs.data.prefix import prefix_since
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    config = resolved_config(p)  # an unknown preset or field fails here, before any work
    pointer = read_latest(p.pointer_url)
    meta = prefix = None
    if pointer and pointer.get("model") and is_published(pointer["model"]):
        meta = read_json(join(pointer["model"], "model.json"))
        data = meta.get("data") or {}
        upto = data.get("input_last_date") or data.get("last_date")
        if list(meta.get("symbols") or []) == p.symbols and upto:
            prefix = prefix_since(p.prices, p.symbols, upto, expected=data.get("sha256"))
    decision = decide(pointer=pointer, meta=meta, config=config, symbols=p.symbols,
                      prefix=prefix, refit_every=p.refit_every)
    decision["conditional"] = bool(config["condition"]["enabled"])
    if decision["action"] == "reuse":
        decision["training"] = pointer.get("training") or {
            "model": pointer["model"], "fingerprint": pointer.get("fingerprint")}
        decision["trained_by"] = {k: pointer.get(k) for k in ("run_id", "as_of", "scenarios")}
        decision["evaluation"] = pointer.get("evaluation") or {}
    get_run_logger().info("model: %s", decision["reason"])
    return decision


@task(name="update-latest-model", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def update_model_pointer(p: ModelPointerTask) -> bool:
    """Point the series' ``LATEST_MODEL`` at the model this run trained, if it is newer."""
    from flows.model_reuse import pointer_record
    from flows.publish import move_pointer
    from ganjobs.io.storage import join, read_json

    meta = read_json(join(p.model_url, "model.json"))
    record = pointer_record(name=p.name, model_url=p.model_url, meta=meta,
                            training=p.training, run_id=p.run_id, as_of=p.as_of,
                            scenarios_url=p.scenarios_url, evaluation=p.evaluation)
    changed = move_pointer(p.pointer_url, record, target="model", order="input_last_date",
                           same=("model",))
    get_run_logger().info("LATEST_MODEL %s: %s", p.pointer_url,
                          f"now {p.model_url}" if changed else "unchanged")
    return changed


@task(name="evaluate", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def evaluate(p: EvaluateTask) -> dict[str, Any]:
    """Metrics and report of the staged set against the baselines."""
    from ganjobs.evaluate.command import evaluate_scenarios

    get_run_logger().info("evaluating %s against baselines -> %s", p.staging_url, p.eval_url)
    result = evaluate_scenarios(scenarios=p.staging_url, prices=p.prices, out=p.eval_url,
                                seed=p.seed, max_paths=p.max_paths,
                                scenarios_location=p.published_url, run_id=p.run_id)
    get_run_logger().info("report: %s", result.get("report_url"))
    return result


@task(name="stress", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def stress(p: StressTask) -> dict[str, Any]:
    """Portfolio P&L, VaR and ES over the set; results already complete are reused."""
    from flows.artifacts import stress_summary
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    if is_published(p.stress_url):
        results = read_json(join(p.stress_url, "stress.json"))
        if results.get("portfolio", {}).get("sha256") == p.portfolio_sha256:
            return {"out": p.stress_url, "summary": stress_summary(results)}
    from ganjobs.stress.command import run_stress

    get_run_logger().info("stress test of %s -> %s", p.portfolio, p.stress_url)
    result = run_stress(scenarios=p.set_url, portfolio=p.portfolio, out=p.stress_url,
                        prices=p.prices, overwrite=True, seed=p.seed,
                        scenarios_location=p.published_url)
    return {"out": result["out"], "summary": stress_summary(result["results"])}


@task(name="publish", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def publish(p: PublishTask) -> dict[str, Any]:
    """Copy the staged set to its final place with the metrics; ``_SUCCESS`` last."""
    from flows.publish import publish_staged_set

    manifest = publish_staged_set(p.staging_url, p.final_url, p.extra)
    get_run_logger().info("published %s", p.final_url)
    return manifest


@task(name="update-latest", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def update_latest(p: LatestTask) -> bool:
    """Move the series' ``LATEST`` forward to the record's set, if it is newer."""
    from flows.publish import update_latest as _update

    changed = _update(p.latest_url, p.record)
    get_run_logger().info("LATEST %s: %s", p.latest_url,
                          f"now {p.record['scenarios']}" if changed else "unchanged")
    return changed


@task(name="read-published", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def read_published(set_url: str) -> dict[str, Any]:
    """The manifest of a published set."""
    from ganjobs.io.publisher import read_manifest

    return read_manifest(set_url)
