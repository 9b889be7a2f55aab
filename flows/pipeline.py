"""The scheduled scenario run: prices -> GAN (Ray Train) -> scenario set -> evaluation ->
published set + LATEST, with a stress test when a portfolio is given.

Orchestration only. The library (``ganjobs.*``) does the work and is imported inside the
tasks, so importing this module (a worker loading the deployment) never imports torch.

Daily operation: the run first decides whether the series' last model (``LATEST_MODEL``)
still fits today's prices or a new one is trained (``flows.model_reuse``); a conditional model
(the default preset ``daily``) then draws paths from the market's state on the as-of date.

Outputs of one run go to ``<root>/<name>/<as-of>/<run-id>/`` where the run id hashes the data
fingerprint, the parameters that shape the set (config overrides included), the model's
training identity and the code version (``flows.params``); the tasks are in ``flows.tasks``:

    model/         model folder, when this run trained one (model.json, weights, _SUCCESS)
    long-run/      long-run paths of a conditional model trained here, for its evaluation
    scenarios/     the published set, manifest with evaluation metrics, _SUCCESS last
    evaluation/    metrics.json, report, _SUCCESS last, when this run trained the model
    stress/<tag>/  stress results per portfolio
    _staging/      the generated set before evaluation; removed after publishing

A run that reuses a model names it in its set's manifest (``model.location``) and carries the
evaluation of the run that trained it.

The set's ``_SUCCESS`` is the run's commit point: everything (training, generation,
evaluation, stress) completes before it, ``LATEST`` and ``LATEST_MODEL`` are moved only after
it, and a run that finds it already there publishes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import flow, get_run_logger

from flows import task_params as tp
from flows.model_reuse import model_record, training_identity
from flows.params import (
    PipelineParams,
    RunLayout,
    absolute_url,
    code_version,
    latest_model_url,
    output_identity,
    run_id_for,
)
from flows.tasks import (
    choose_model,
    evaluate,
    generate,
    ingest,
    publish,
    read_published,
    stress,
    train,
    update_latest,
    update_model_pointer,
)

# --------------------------------------------------------------------------- helpers


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
    """Publish one versioned scenario set (idempotent), reusing the series' model while it
    fits today's data (``flows.model_reuse``), else training one first.

    Returns a summary: where the set, report, model, stress results and LATEST are, whether
    this run published anything, the model decision and its reason, and the Prefect flow
    run's id, name and UI URL.
    """
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import read_bytes, sha256_bytes

    log = get_run_logger()
    prices, root = absolute_url(params.prices), absolute_url(params.root)
    portfolio = absolute_url(params.portfolio) if params.portfolio else None

    info = ingest(tp.IngestTask(prices=prices, symbols=params.symbols))
    version = code_version()
    last_date = info["data"]["last_date"]
    as_of = params.as_of.isoformat() if params.as_of else last_date
    if as_of < last_date:
        log.warning("as_of %s is before the last price date %s: a model trained in this run "
                    "sees later prices", as_of, last_date)
    decision = choose_model(tp.ModelChoiceTask(
        prices=prices, symbols=info["symbols"], pointer_url=latest_model_url(root, params.name),
        preset=params.preset,
        steps=params.steps, overrides=params.overrides, workers=params.workers,
        gpu=params.gpu, seed=params.seed, refit_every=params.refit_every))
    training = decision.get("training") or training_identity(
        params, info["fingerprint"], info["symbols"], version)
    identity = output_identity(params, info["fingerprint"], info["symbols"], version,
                               model=training)
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
            stress_result = _step(stress, storage, is_published(stress_url))(tp.StressTask(
                set_manifest=manifest, set_url=layout.scenarios, portfolio=portfolio,
                portfolio_sha256=port_sha, stress_url=stress_url, prices=prices,
                seed=params.seed))
    else:
        run_name = f"{params.name}-{layout.run_id}"
        if decision["action"] == "reuse":
            model = {"out": decision["model_url"], "reused": True}
        else:
            model = _step(train, storage, is_published(layout.model))(tp.TrainTask(
                prices=prices, model_url=layout.model, symbols=info["symbols"],
                preset=params.preset, steps=params.steps, workers=params.workers,
                gpu=params.gpu, seed=params.seed, overrides=params.overrides,
                data_sha256=info["fingerprint"], code=version, run_name=run_name,
                address=params.ray_address))
        conditional = decision["conditional"]
        staged = _step(generate, storage, is_published(layout.staging))(tp.GenerateTask(
            model=model, staging_url=layout.staging, n=params.n, horizon=params.horizon,
            seed=params.seed, run_name=run_name, address=params.ray_address,
            prices=prices if conditional else None,
            as_of=params.as_of.isoformat() if conditional and params.as_of else None))
        evaluation = _evaluation(params, decision, model, staged, layout, prices, storage,
                                 run_name)
        # The manifest keeps the numbers; the ACF curves stay in evaluation/metrics.json.
        metrics = {k: v for k, v in (evaluation.get("metrics") or {}).items() if k != "curves"}
        if portfolio:
            # Before publishing, so that a failing stress test leaves nothing published.
            stress_result = _step(stress, storage, is_published(stress_url))(tp.StressTask(
                set_manifest=staged, set_url=layout.staging, portfolio=portfolio,
                portfolio_sha256=port_sha, stress_url=stress_url, prices=prices,
                seed=params.seed, published_url=layout.scenarios))
        extra = {
            "metrics": metrics,
            "evaluation": {k: evaluation.get(k) for k in
                           ("metrics_url", "report_url", "source", "note")},
            "pipeline": {"name": params.name, "as_of": as_of, "run_id": layout.run_id,
                         "identity": identity, "model": model_record(decision, model["out"]),
                         **_flow_run_info()},
        }
        if stress_url:
            extra["stress"] = {"url": stress_url, "portfolio": portfolio}
        manifest = publish(tp.PublishTask(staging_url=layout.staging, final_url=layout.scenarios,
                                       extra=extra))
        published = True
        model_url = model["out"]
        from flows.publish import remove_tree

        remove_tree(layout.staging_root)

    model_moved = False
    if decision["action"] == "train" and model_url == layout.model:
        model_moved = update_model_pointer(tp.ModelPointerTask(
            pointer_url=layout.latest_model, name=params.name, model_url=layout.model,
            training=training, run_id=layout.run_id, as_of=as_of,
            scenarios_url=layout.scenarios, evaluation=evaluation))

    from flows.publish import latest_record

    latest_updated = update_latest(tp.LatestTask(latest_url=layout.latest, record=latest_record(
        name=params.name, as_of=as_of, run_id=layout.run_id, run_url=layout.run,
        scenarios_url=layout.scenarios, report_url=evaluation.get("report_url"),
        data=info["data"])))

    conditioning = manifest.get("conditioning") or {}
    summary: dict[str, Any] = {
        "name": params.name, "as_of": as_of, "run_id": layout.run_id, "run_url": layout.run,
        "scenarios_url": layout.scenarios, "model_url": model_url,
        "model_decision": decision["action"], "model_reason": decision["reason"],
        "model_pointer_updated": model_moved, "conditioning": conditioning.get("mode"),
        "state_as_of": conditioning.get("as_of"),
        "report_url": evaluation.get("report_url"), "metrics_url": evaluation.get("metrics_url"),
        "evaluation_note": evaluation.get("note"),
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


def _evaluation(params: PipelineParams, decision: dict[str, Any], model: dict[str, Any],
                staged: dict[str, Any], layout: RunLayout, prices: str, storage: Any,
                run_name: str) -> dict[str, Any]:
    """The evaluation the set carries: of the model, run when the model is new.

    The evaluation compares long-run paths with the real history, so a conditional model is
    judged on a long-run set of its own (``<run>/long-run/``, as many paths as the
    evaluation uses), and a long-run model on the set itself. A reused model's evaluation is
    the one of the run that trained it.
    """
    from ganjobs.io.publisher import is_published

    if decision["action"] == "reuse":
        return _carried_evaluation(decision)
    set_url, set_manifest = layout.staging, staged
    source = {"kind": "this set", "scenarios": layout.scenarios}
    if decision["conditional"]:
        set_url = layout.long_run
        set_manifest = _step(generate, storage, is_published(set_url))(tp.GenerateTask(
            model=model, staging_url=set_url, n=min(params.n, params.eval_max_paths),
            horizon=params.horizon, seed=params.seed, run_name=f"{run_name}-long-run",
            address=params.ray_address, prices=prices, unconditional=True))
        source = {"kind": "long-run set of the model", "scenarios": set_url}
    result = _step(evaluate, storage, is_published(layout.evaluation))(tp.EvaluateTask(
        staged=set_manifest, staging_url=set_url, prices=prices, eval_url=layout.evaluation,
        seed=params.seed, max_paths=params.eval_max_paths,
        published_url=source["scenarios"], run_id=layout.run_id))
    note = ("the model's long-run paths (states drawn from its training years) against the "
            "real history" if decision["conditional"] else None)
    return {**result, "source": {**source, "run_id": layout.run_id}, "note": note}


def _carried_evaluation(decision: dict[str, Any]) -> dict[str, Any]:
    """The evaluation of the run that trained the reused model (its set's metrics)."""
    from ganjobs.io.publisher import is_published

    carried = decision.get("evaluation") or {}
    trained_by = decision.get("trained_by") or {}
    set_url = trained_by.get("scenarios")
    metrics = None
    if set_url and is_published(set_url):
        metrics = read_published(set_url).get("metrics")
    if not metrics or not carried.get("report_url"):
        return {"metrics": None, "metrics_url": None, "report_url": None, "source": None,
                "note": "not evaluated: the model is reused and the run that trained it "
                        "left no evaluation"}
    return {"metrics": metrics, "metrics_url": carried.get("metrics_url"),
            "report_url": carried["report_url"],
            "source": {"kind": "carried", "run_id": trained_by.get("run_id"),
                       "as_of": trained_by.get("as_of")},
            "note": f"the reused model's evaluation, made by run {trained_by.get('run_id')} "
                    f"(as of {trained_by.get('as_of')}) that trained it"}
