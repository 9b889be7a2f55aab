"""The scheduled scenario run: prices -> GAN (Ray Train) -> scenario set -> evaluation ->
published set + LATEST, with a stress test when a portfolio is given.

Orchestration only. The library (``ganjobs.*``) does the work and is imported inside the
tasks, so importing this module (a worker loading the deployment) never imports torch.

Outputs of one run go to ``<root>/<name>/<as-of>/<run-id>/`` where the run id hashes the data
fingerprint, the parameters that shape the set, and the code version (``flows.params``):

    model/         trained model folder (model.json, weights, _SUCCESS)
    scenarios/     the published set, manifest with evaluation metrics, _SUCCESS last
    evaluation/    metrics.json, report
    stress/<tag>/  stress results per portfolio
    _staging/      the generated set before evaluation; removed after publishing

The set's ``_SUCCESS`` is the run's commit point: everything (training, generation,
evaluation, stress) completes before it, ``LATEST`` is moved only after it, and a run that
finds it already there publishes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

from flows.params import (
    PipelineParams,
    RunLayout,
    code_version,
    output_identity,
    run_id_for,
)
from flows.remote import (
    generate_args,
    generated_set,
    jobs_api,
    run_job,
    train_args,
    trained_model,
)

# Pure steps: keyed on their inputs (which carry the data fingerprint, the upstream step's
# result and the code version) and on the task's source. The Ray address does not change a
# result, so it is not part of the key.
STEP_CACHE = (INPUTS + TASK_SOURCE) - "address"
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


# --------------------------------------------------------------------------- tasks


@task(name="ingest-validate", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def ingest(prices: str, symbols: list[str] | None) -> dict[str, Any]:
    """Read and validate the prices (CONTRACTS §2); the fingerprint keys everything after."""
    from ganjobs.data.prices import load_market_data

    data = load_market_data(prices, symbols)
    get_run_logger().info("prices %s: symbols %s, %d common days %s..%s, sha256 %s…",
                          prices, ",".join(data.symbols), len(data.dates), data.first_date,
                          data.last_date, data.fingerprint[:12])
    return {"fingerprint": data.fingerprint, "symbols": list(data.symbols),
            "days": int(len(data.dates)), "data": data.data_record()}


# One retry for a lost Ray actor or node: the same run name resumes from its checkpoint.
@task(name="train", cache_policy=STEP_CACHE, persist_result=True, result_serializer=RESULTS,
      retries=1, retry_delay_seconds=10, retry_condition_fn=_transient)
def train(prices: str, model_url: str, symbols: list[str], preset: str | None,
          steps: int | None, workers: int | None, gpu: bool, seed: int, data_sha256: str,
          code: str, run_name: str, address: str | None = None) -> dict[str, Any]:
    """Train with Ray Train; a model already complete at ``model_url`` is reused."""
    from ganjobs.io.storage import is_published, join, read_json

    log = get_run_logger()
    if is_published(model_url):
        meta = read_json(join(model_url, "model.json"))
        if meta.get("data", {}).get("sha256") == data_sha256:
            log.info("model already trained at %s; reusing it", model_url)
            return {"out": model_url, "reused": True, "steps": meta.get("steps"),
                    "metrics": meta.get("metrics", {}), "fingerprint": data_sha256}
    api = jobs_api(address)
    if api:
        log.info("submitting training to the Ray Jobs API at %s -> %s", api, model_url)
        job = run_job("train", run_name, train_args(prices, model_url, symbols, preset, steps,
                                                    workers, gpu, seed, run_name), api, log.info)
        return trained_model(model_url, job)
    from ganjobs.train.command import train_model

    log.info("training (preset %s, steps %s, workers %s, gpu %s) -> %s",
             preset or "default", steps or "preset", workers or "default", gpu, model_url)
    result = train_model(prices=prices, out=model_url, symbols=symbols, preset=preset,
                         steps=steps, workers=workers, gpu=gpu, seed=seed, address=address,
                         run_name=run_name)
    log.info("trained %s steps: %s", result.get("steps"), _short(result.get("metrics")))
    return result


@task(name="generate", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def generate(model: dict[str, Any], staging_url: str, n: int, horizon: int, seed: int,
             address: str | None = None, run_name: str = "") -> dict[str, Any]:
    """Sample the set into the staging location (published there, not yet final)."""
    log = get_run_logger()
    api = jobs_api(address)
    if api:
        log.info("submitting generation of %d x %d to the Ray Jobs API at %s -> %s", n,
                 horizon, api, staging_url)
        job = run_job("generate", run_name, generate_args(model["out"], staging_url, n,
                                                          horizon, seed), api, log.info)
        return generated_set(staging_url, job)
    from ganjobs.generate.command import generate_scenarios

    if address:
        # Large sets fan out as Ray tasks: on the run's cluster, not a new local one.
        from ganjobs.cluster.connect import ensure_ray

        ensure_ray(address)

    log.info("generating %d scenarios x %d days -> %s", n, horizon, staging_url)
    # overwrite: a staging set left by an interrupted run is replaced, never trusted.
    return generate_scenarios(model=model["out"], out=staging_url, n=n, horizon=horizon,
                              seed=seed, overwrite=True, progress=False)


@task(name="evaluate", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def evaluate(staged: dict[str, Any], staging_url: str, prices: str, eval_url: str, seed: int,
             max_paths: int) -> dict[str, Any]:
    """Metrics and report of the staged set against the baselines."""
    from ganjobs.evaluate.command import evaluate_scenarios

    get_run_logger().info("evaluating %s against baselines -> %s", staging_url, eval_url)
    result = evaluate_scenarios(scenarios=staging_url, prices=prices, out=eval_url, seed=seed,
                                max_paths=max_paths)
    get_run_logger().info("report: %s", result.get("report_url"))
    return result


@task(name="stress", cache_policy=STEP_CACHE, persist_result=True,
      result_serializer=RESULTS)
def stress(set_manifest: dict[str, Any], set_url: str, portfolio: str, portfolio_sha256: str,
           stress_url: str, prices: str, seed: int,
           published_url: str | None = None) -> dict[str, Any]:
    """Portfolio P&L, VaR and ES over the set; results already complete are reused."""
    from flows.artifacts import stress_summary
    from ganjobs.io.storage import is_published, join, read_json

    if is_published(stress_url):
        results = read_json(join(stress_url, "stress.json"))
        if results.get("portfolio", {}).get("sha256") == portfolio_sha256:
            return {"out": stress_url, "summary": stress_summary(results)}
    from ganjobs.stress.command import run_stress

    get_run_logger().info("stress test of %s -> %s", portfolio, stress_url)
    result = run_stress(scenarios=set_url, portfolio=portfolio, out=stress_url, prices=prices,
                        overwrite=True, seed=seed, scenarios_location=published_url)
    return {"out": result["out"], "summary": stress_summary(result["results"])}


@task(name="publish", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def publish(staging_url: str, final_url: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Copy the staged set to its final place with the metrics; ``_SUCCESS`` last."""
    from flows.publish import publish_staged_set

    manifest = publish_staged_set(staging_url, final_url, extra)
    get_run_logger().info("published %s", final_url)
    return manifest


@task(name="update-latest", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def update_latest(latest_url: str, record: dict[str, Any]) -> bool:
    from flows.publish import update_latest as _update

    changed = _update(latest_url, record)
    get_run_logger().info("LATEST %s: %s", latest_url,
                          f"now {record['scenarios']}" if changed else "unchanged")
    return changed


@task(name="read-published", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS,
      retry_condition_fn=_transient, cache_policy=NO_CACHE, persist_result=False)
def read_published(set_url: str) -> dict[str, Any]:
    from ganjobs.io.storage import read_manifest

    return read_manifest(set_url)


# --------------------------------------------------------------------------- helpers


def _short(metrics: Any, limit: int = 6) -> str:
    if not isinstance(metrics, dict):
        return str(metrics)
    items = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))][:limit]
    return ", ".join(f"{k}={v:.4g}" for k, v in items) or "-"


def _absolute(url: str) -> str:
    """Local paths made absolute so that records (LATEST, manifests) stay valid elsewhere."""
    return url if "://" in url else os.path.abspath(os.path.expanduser(url))


def _result_storage(cache_url: str) -> Any:
    """Prefect result storage beside the outputs, so that the cache lives and dies with the
    lake it describes, and workers sharing the lake share the cache.

    A local folder is passed as a path. Remote storage must be a block saved on the Prefect
    API; it is saved under a name derived from its location (its settings are the endpoint
    and region, never credentials). When that is not possible, Prefect's default local
    storage is used: still correct, since a step whose output is missing is never served
    from the cache (``_step``).
    """
    import hashlib
    from pathlib import Path

    from ganjobs.io.storage import split_url

    scheme, path = split_url(cache_url)
    if scheme == "file":
        return Path(path)
    try:
        from prefect.filesystems import RemoteFileSystem

        from ganjobs.io.storage import s3_options

        block = RemoteFileSystem(basepath=cache_url, settings=s3_options())
        name = "ganjobs-results-" + hashlib.sha256(cache_url.encode()).hexdigest()[:12]
        block.save(name, overwrite=True)
        return block
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation
        get_run_logger().warning("result storage at %s unavailable (%s); using Prefect's "
                                 "default local storage", cache_url, type(exc).__name__)
        return None


def _step(task_obj: Any, storage: Any, output_complete: bool) -> Any:
    """A pure step with the run's result storage; a cached result whose output has since
    disappeared is not trusted (``refresh_cache``), so the step runs again."""
    if storage is None:
        return task_obj.with_options(refresh_cache=not output_complete)
    return task_obj.with_options(result_storage=storage, refresh_cache=not output_complete)


def _evaluated(eval_url: str) -> bool:
    """An evaluation folder is complete once its report exists (written after metrics)."""
    from ganjobs.evaluate.command import METRICS_FILE, REPORT_FILE
    from ganjobs.io.storage import exists, join

    return exists(join(eval_url, METRICS_FILE)) and exists(join(eval_url, REPORT_FILE))


def _portfolio_tag(portfolio: str, sha256: str) -> str:
    import re

    stem = os.path.splitext(os.path.basename(portfolio.rstrip("/")))[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "portfolio"
    return f"{stem}-{sha256[:8]}"


def _flow_run_info() -> dict[str, Any]:
    from prefect.runtime import flow_run

    ui_url = flow_run.ui_url
    # Without a UI (ephemeral API) Prefect still builds a URL, on the string "None".
    if not ui_url or not str(ui_url).startswith(("http://", "https://")):
        ui_url = None
    return {"flow_run_id": flow_run.id, "flow_run_name": flow_run.name, "ui_url": ui_url}


# --------------------------------------------------------------------------- flow


@flow(name="scenario-pipeline", log_prints=True)
def scenario_pipeline(params: PipelineParams) -> dict[str, Any]:
    """Train, generate, evaluate and publish one versioned scenario set (idempotent).

    Returns a summary: where the set, report, model, stress results and LATEST are, whether
    this run published anything, and the Prefect flow run's id, name and UI URL.
    """
    from ganjobs.io.storage import is_published, read_bytes, sha256_bytes

    log = get_run_logger()
    prices, root = _absolute(params.prices), _absolute(params.root)
    portfolio = _absolute(params.portfolio) if params.portfolio else None

    info = ingest(prices, params.symbols)
    version = code_version()
    identity = output_identity(params, info["fingerprint"], info["symbols"], version)
    last_date = info["data"]["last_date"]
    as_of = params.as_of.isoformat() if params.as_of else last_date
    if as_of < last_date:
        log.warning("as_of %s is before the last price date %s: the set uses later prices",
                    as_of, last_date)
    layout = RunLayout(root=root, name=params.name, as_of=as_of, run_id=run_id_for(identity))
    log.info("run %s -> %s", layout.run_id, layout.run)
    storage = _result_storage(layout.cache)
    port_sha = sha256_bytes(read_bytes(portfolio)) if portfolio else None
    stress_url = layout.stress(_portfolio_tag(portfolio, port_sha)) if portfolio else None

    published = False
    stress_result: dict[str, Any] | None = None
    if is_published(layout.scenarios):
        log.info("set already published at %s: nothing to train or publish", layout.scenarios)
        manifest = read_published(layout.scenarios)
        evaluation = manifest.get("evaluation", {})
        metrics = manifest.get("metrics")
        model_url = manifest.get("model", {}).get("location", layout.model)
        if portfolio:
            stress_result = _step(stress, storage, is_published(stress_url))(
                manifest, layout.scenarios, portfolio, port_sha, stress_url, prices,
                params.seed)
    else:
        model = _step(train, storage, is_published(layout.model))(
            prices, layout.model, info["symbols"], params.preset, params.steps, params.workers,
            params.gpu, params.seed, info["fingerprint"], version,
            f"{params.name}-{layout.run_id}", address=params.ray_address)
        staged = _step(generate, storage, is_published(layout.staging))(
            model, layout.staging, params.n, params.horizon, params.seed,
            address=params.ray_address, run_name=f"{params.name}-{layout.run_id}")
        evaluation = _step(evaluate, storage, _evaluated(layout.evaluation))(
            staged, layout.staging, prices, layout.evaluation, params.seed,
            params.eval_max_paths)
        # The manifest keeps the numbers; the ACF curves stay in evaluation/metrics.json.
        metrics = {k: v for k, v in (evaluation.get("metrics") or {}).items() if k != "curves"}
        if portfolio:
            # Before publishing, so that a failing stress test leaves nothing published.
            stress_result = _step(stress, storage, is_published(stress_url))(
                staged, layout.staging, portfolio, port_sha, stress_url, prices, params.seed,
                published_url=layout.scenarios)
        extra = {
            "metrics": metrics,
            "evaluation": {"metrics_url": evaluation.get("metrics_url"),
                           "report_url": evaluation.get("report_url")},
            "pipeline": {"name": params.name, "as_of": as_of, "run_id": layout.run_id,
                         "identity": identity, **_flow_run_info()},
        }
        if stress_url:
            extra["stress"] = {"url": stress_url, "portfolio": portfolio}
        manifest = publish(layout.staging, layout.scenarios, extra)
        published = True
        model_url = layout.model
        from flows.publish import remove_tree

        remove_tree(layout.staging_root)

    from flows.publish import latest_record

    latest_updated = update_latest(layout.latest, latest_record(
        name=params.name, as_of=as_of, run_id=layout.run_id, run_url=layout.run,
        scenarios_url=layout.scenarios, report_url=evaluation.get("report_url"),
        data=info["data"]))

    summary: dict[str, Any] = {
        "name": params.name, "as_of": as_of, "run_id": layout.run_id, "run_url": layout.run,
        "scenarios_url": layout.scenarios, "model_url": model_url,
        "report_url": evaluation.get("report_url"), "metrics_url": evaluation.get("metrics_url"),
        "stress_url": stress_url if stress_result else None, "latest_url": layout.latest,
        "published": published, "latest_updated": latest_updated,
        "n_scenarios": manifest.get("n_scenarios"), "horizon": manifest.get("horizon"),
        "symbols": manifest.get("symbols"), "data_sha256": info["fingerprint"],
        "first_date": info["data"]["first_date"], "last_date": last_date,
        "code_version": version, "bars": (metrics or {}).get("bars"), **_flow_run_info(),
    }
    from flows.artifacts import publish_artifacts

    publish_artifacts(summary, metrics)
    if stress_result:
        from flows.artifacts import publish_stress_artifact

        publish_stress_artifact(params.name, stress_result)
    log.info("done: %s %s", "published" if published else "already published",
             layout.scenarios)
    return summary
