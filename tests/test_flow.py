"""The Prefect pipeline end to end: real Prefect (test harness), real S3 (moto), real Ray.

One successful run on the tiny preset is shared by the tests of this module; a second
identical run must publish nothing, and a run whose training fails must publish nothing.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

PORTFOLIO = """\
name: test-book
base_value: 1000000
positions:
  SPX: 600000
  NDX: 400000
horizons: [1, 5]
"""


@pytest.fixture(scope="module")
def lake(s3_server, tmp_path_factory):
    """A bucket on the moto endpoint holding the sample prices under ``prices/``; the AWS
    settings point at it for the whole module (the shared run needs them)."""
    import boto3
    import ray

    # The library starts Ray once per process and hands the AWS settings of that moment to
    # its workers: start it afresh under this module's settings, and leave none behind.
    ray.shutdown()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_S3", s3_server)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        bucket = f"flow-{uuid.uuid4().hex[:10]}"
        client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        from ganjobs.data.sample import write_sample_data

        write_sample_data(f"s3://{bucket}/prices")
        portfolio = tmp_path_factory.mktemp("portfolio") / "book.yaml"
        portfolio.write_text(PORTFOLIO)
        yield {"bucket": bucket, "client": client, "portfolio": str(portfolio)}
        ray.shutdown()


def _params(lake: dict, **over):
    from flows.params import PipelineParams

    base = dict(prices=f"s3://{lake['bucket']}/prices", root=f"s3://{lake['bucket']}/runs",
                name="tiny", symbols=["SPX", "NDX"], preset="tiny", n=64, horizon=5, seed=1,
                portfolio=lake["portfolio"], eval_max_paths=64,
                overrides={"model.noise_halflives": [3, 9], "model.g_channels": 6})
    base.update(over)
    return PipelineParams(**base)


def _objects(lake: dict, prefix: str) -> dict[str, tuple[str, str]]:
    """key -> (ETag, LastModified) of every object under ``prefix``."""
    out = {}
    pages = lake["client"].get_paginator("list_objects_v2").paginate(
        Bucket=lake["bucket"], Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            out[obj["Key"]] = (obj["ETag"], str(obj["LastModified"]))
    return out


@pytest.fixture(scope="module")
def first_run(harness, lake):
    from flows.pipeline import scenario_pipeline

    state = scenario_pipeline(_params(lake), return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def test_flow_module_does_not_import_torch():
    code = "import flows.pipeline, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow
def test_run_publishes_a_complete_versioned_set(first_run, lake):
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import read_json
    from ganjobs.scenarios import open_scenarios

    s = first_run
    assert s["published"] and s["latest_updated"]
    # A long-run preset still goes through the daily mode: the series' first model.
    assert s["model_decision"] == "train" and s["conditioning"] == "long-run"
    run = f"s3://{lake['bucket']}/runs/tiny/{s['as_of']}/{s['run_id']}"
    assert s["scenarios_url"] == f"{run}/scenarios"
    sset = open_scenarios(s["scenarios_url"])  # refuses a set without _SUCCESS
    m = sset.manifest
    assert (m["n_scenarios"], m["horizon"], m["symbols"]) == (64, 5, ["SPX", "NDX"])
    assert {"ganjobs", "gaussian", "bootstrap"} <= set(m["metrics"]["models"])
    assert m["evaluation"]["report_url"] == s["report_url"]
    assert m["pipeline"]["run_id"] == s["run_id"]
    assert sset.paths().shape == (64, 5, 2)
    assert is_published(f"{run}/model")
    assert is_published(s["stress_url"]) and s["stress_url"].startswith(f"{run}/stress/")
    # Stressed while staged, recorded where readers find the set.
    stress = read_json(f"{s['stress_url']}/stress.json")
    assert stress["scenarios"]["location"] == s["scenarios_url"]
    keys = _objects(lake, "runs/tiny/")
    assert not [k for k in keys if "/_staging/" in k], "staging left behind"
    latest = read_json(f"s3://{lake['bucket']}/runs/tiny/LATEST")
    assert latest["scenarios"] == s["scenarios_url"] and latest["run_id"] == s["run_id"]


@pytest.mark.slow
def test_run_trains_with_the_config_overrides(first_run):
    from ganjobs.io.publisher import read_manifest
    from ganjobs.io.storage import read_json

    meta = read_json(f"{first_run['model_url']}/model.json")
    assert meta["config"]["model"]["noise_halflives"] == [3.0, 9.0]
    assert meta["config"]["model"]["g_channels"] == 6
    assert meta["config"]["data"]["window"] == 16  # the tiny preset underneath
    identity = read_manifest(first_run["scenarios_url"])["pipeline"]["identity"]
    assert identity["overrides"] == {"model.noise_halflives": [3, 9], "model.g_channels": 6}


@pytest.mark.slow
def test_run_creates_artifacts(first_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[first_run["flow_run_id"]])))
    by_key = {a.key: a for a in arts}
    assert by_key["tiny-summary"].type == "markdown"
    assert first_run["scenarios_url"] in by_key["tiny-summary"].data
    assert "ganjobs" in by_key["tiny-summary"].data
    assert by_key["tiny-metrics"].type == "table"
    # Prefect stores a link artifact as markdown: [text](url).
    assert f"({first_run['report_url']})" in by_key["tiny-report"].data
    assert by_key["tiny-stress"].type == "markdown"


@pytest.mark.slow
def test_identical_rerun_publishes_nothing(first_run, lake):
    from flows.pipeline import scenario_pipeline

    before = _objects(lake, "runs/tiny/")
    state = scenario_pipeline(_params(lake), return_state=True)
    assert state.is_completed(), state.message
    again = state.result()
    assert again["run_id"] == first_run["run_id"]
    assert not again["published"] and not again["latest_updated"]
    # The model the first run trained is reused, which maps to the first run's folder.
    assert again["model_decision"] == "reuse" and again["model_url"] == first_run["model_url"]
    assert _objects(lake, "runs/tiny/") == before


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny", "broken"])
def test_failed_training_publishes_nothing(first_run, lake, name):
    """The run fails (an unknown preset, refused when the model's configuration is
    resolved): no new set, LATEST of an existing series untouched, and none created for a
    new one."""
    from flows.pipeline import scenario_pipeline

    def published(keys):
        return {k: v for k, v in keys.items() if k.endswith(("/_SUCCESS", "/LATEST"))}

    before = _objects(lake, f"runs/{name}/")
    state = scenario_pipeline(_params(lake, name=name, preset="no-such-preset"),
                              return_state=True)
    assert state.is_failed() and "no-such-preset" in state.message
    after = _objects(lake, f"runs/{name}/")
    assert published(after) == published(before)
    assert (f"runs/{name}/LATEST" in after) == (name == "tiny")


def test_run_id_is_deterministic_and_input_sensitive():
    from flows.params import PipelineParams, code_version, output_identity, run_id_for

    p = PipelineParams(prices="p", root="r")

    def rid(params, fp="a" * 64):
        return run_id_for(output_identity(params, fp, ["SPX"], code_version()))

    assert rid(p) == rid(PipelineParams(prices="p", root="r", ray_address="ray://x:10001"))
    assert rid(p) != rid(PipelineParams(prices="p", root="r", seed=2))
    assert rid(p) != rid(p, fp="b" * 64)
    with pytest.raises(ValueError):
        PipelineParams(prices="p", root="r", name="Bad/Name")
    a = PipelineParams(prices="p", root="r", overrides={"loss.facts_weight": 5, "data.window": 32})
    b = PipelineParams(prices="p", root="r", overrides={"data.window": 32, "loss.facts_weight": 5})
    assert rid(a) == rid(b) != rid(p)
    assert rid(a) != rid(PipelineParams(prices="p", root="r", overrides={"data.window": 32}))


@pytest.mark.parametrize("overrides, match", [
    ({"model.nope": 1}, "unknown config field 'model.nope'"),
    ({"steps": 4}, "did you mean train.steps"),
    ({"train.seed": 4}, "parameter 'seed'"),
])
def test_pipeline_overrides_are_checked(overrides, match):
    from pydantic import ValidationError

    from flows.params import PipelineParams

    with pytest.raises(ValidationError, match=match):
        PipelineParams(prices="p", root="r", overrides=overrides)


def _train_task(**over):
    from flows.task_params import TrainTask

    base = dict(prices="s3://b/prices", model_url="s3://b/m", symbols=["SPX", "WTI"],
                preset="tiny", steps=5, workers=None, gpu=False, seed=3,
                overrides={"model.noise_halflives": [3.0, 9.0], "model.arch": "tcn",
                           "model.lag1_news": None, "loss.facts_weight": 0},
                data_sha256="a" * 64, code="0+src.x", run_name="tiny-r1")
    base.update(over)
    return TrainTask(**base)


def test_remote_training_passes_the_overrides_as_set_items():
    from flows.remote import train_args
    from ganjobs.config import parse_overrides

    task = _train_task()
    args = train_args(task)
    items = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert len(items) == 4
    assert parse_overrides(items) == task.overrides
    assert args[args.index("--steps") + 1] == "5" and "--workers" not in args


def test_remote_generation_passes_the_conditioning_options():
    from flows.remote import generate_args
    from flows.task_params import GenerateTask

    base = dict(model={"out": "s3://b/m"}, staging_url="s3://b/s", n=8, horizon=5, seed=1)
    args = generate_args(GenerateTask(**base, prices="s3://b/p", as_of="2024-05-31"))
    assert args[args.index("--prices") + 1] == "s3://b/p"
    assert args[args.index("--as-of") + 1] == "2024-05-31" and "--unconditional" not in args
    args = generate_args(GenerateTask(**base, prices="s3://b/p", unconditional=True))
    assert "--unconditional" in args and "--as-of" not in args
    assert "--prices" not in generate_args(GenerateTask(**base))


def test_task_cache_key_is_the_parameter_object_without_the_ray_address():
    from flows.tasks import _inputs_key

    def key(**over):
        return _inputs_key(None, {"p": _train_task(**over)})

    assert key() == key(address="ray://head:10001") == key()
    assert key() != key(overrides={})
    assert key() != key(data_sha256="b" * 64)
    assert key() != key(code="0+src.y")


def _staged(url: str, parts: int = 2) -> dict:
    from ganjobs.io.publisher import Publisher

    with Publisher(url) as pub:
        for i in range(parts):
            pub.write_part(f"part-{i:05d}.parquet", f"bytes of part {i}".encode() * 100, rows=10)
        return pub.commit({"format": "ganjobs.scenarios/1", "n_scenarios": 2 * parts})


@pytest.mark.parametrize("where", ["local", "s3"])
def test_publish_staged_set_adds_metrics_and_is_retry_safe(where, tmp_path, request):
    from flows.publish import publish_staged_set
    from ganjobs.io.publisher import is_published, read_manifest
    from ganjobs.io.storage import read_bytes

    if where == "s3":
        root = f"s3://{request.getfixturevalue('s3_env')}/run"
    else:
        root = str(tmp_path / "run")
    staged = _staged(f"{root}/_staging/scenarios")
    final = f"{root}/scenarios"
    out = publish_staged_set(f"{root}/_staging/scenarios", final, {"metrics": {"x": 1}})
    assert is_published(final) and out["metrics"] == {"x": 1}
    m = read_manifest(final)
    assert m["parts"] == staged["parts"] and m["metrics"] == {"x": 1}
    assert read_bytes(f"{final}/part-00001.parquet") == b"bytes of part 1" * 100
    # A retry after success (e.g. the task's result was lost) changes nothing.
    assert publish_staged_set(f"{root}/_staging/scenarios", final, {"metrics": {"x": 2}}) == m


def test_latest_moves_only_forward_and_only_to_published_sets(tmp_path):
    from flows.publish import latest_record, read_latest, update_latest
    from ganjobs.errors import StorageError

    latest = str(tmp_path / "daily" / "LATEST")

    def rec(as_of: str, run_id: str) -> dict:
        url = str(tmp_path / "daily" / as_of / run_id / "scenarios")
        return latest_record(name="daily", as_of=as_of, run_id=run_id, run_url=url,
                             scenarios_url=url, report_url=None, data={})

    with pytest.raises(StorageError):
        update_latest(latest, rec("2024-01-02", "ra"))  # not published: refused
    assert read_latest(latest) is None
    _staged(rec("2024-01-02", "ra")["scenarios"])
    assert update_latest(latest, rec("2024-01-02", "ra"))
    assert not update_latest(latest, rec("2024-01-02", "ra"))  # same run: no write
    _staged(rec("2024-01-01", "rb")["scenarios"])
    assert not update_latest(latest, rec("2024-01-01", "rb"))  # back-fill: stays
    _staged(rec("2024-01-03", "rc")["scenarios"])
    assert update_latest(latest, rec("2024-01-03", "rc"))
    assert read_latest(latest)["run_id"] == "rc"
