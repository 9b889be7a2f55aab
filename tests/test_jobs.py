"""Cluster execution with real Ray: a head started with `ray start`, the Jobs API, S3 storage,
and a two-node cluster on one machine. No mocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ganjobs.cluster.jobs import run_remote, submission_id, submit
from ganjobs.io.publisher import is_published
from ganjobs.scenarios import open_scenarios

pytestmark = pytest.mark.slow
VENV_BIN = Path(sys.executable).parent


def _ports(n: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def ray_head(s3_server):
    """`ray start --head --block` on 127.0.0.1 with its own ports and temp dir."""
    gcs, dash, client, nm, om, agent, metrics, agent_http = _ports(8)
    # Ray's unix sockets live under the temp dir and their paths must fit in 107 bytes, which
    # pytest's own temp folders (longer still under xdist) do not.
    tmp = Path(tempfile.mkdtemp(prefix="gjh-", dir="/tmp"))
    env = dict(os.environ, AWS_ENDPOINT_URL_S3=s3_server, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               RAY_USAGE_STATS_ENABLED="0", RAY_TRAIN_V2_ENABLED="1", RAY_AUTH_MODE="disabled",
               PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    cmd = [str(VENV_BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
           f"--port={gcs}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash}", f"--ray-client-server-port={client}",
           f"--node-manager-port={nm}", f"--object-manager-port={om}",
           f"--dashboard-agent-listen-port={agent_http}", f"--dashboard-agent-grpc-port={agent}",
           f"--metrics-export-port={metrics}", "--num-cpus=2", f"--temp-dir={tmp}",
           "--disable-usage-stats"]
    proc = subprocess.Popen(cmd, env=env, stdout=open(tmp / "head.log", "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.time() + 120
    while True:
        try:
            JobSubmissionClient(address).list_jobs()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((tmp / "head.log").read_text()[-3000:]) from None
            time.sleep(1)
    yield address
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    # Whatever of the head's process group is still shutting down is not worth waiting for.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)


def test_submission_id_is_stable():
    assert submission_id("train", "daily run") == submission_id("train", "daily run")
    assert submission_id("train", "a") != submission_id("train", "b")
    assert submission_id("train", "a", 1).endswith("-r1")


def test_failed_job_is_a_clear_error(ray_head, tmp_path):
    from ganjobs.cluster.jobs import JobFailed

    with pytest.raises(JobFailed, match="FAILED"):
        run_remote("generate", f"bad-{time.time()}", [
            "generate", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
            "--n", "5", "--horizon", "5"], address=ray_head, timeout_s=120, echo=lambda s: None)


def test_two_node_cluster_ddp_with_s3_checkpoints(s3_env, sample_dir):
    """One DDP worker per node on a two-node cluster, checkpoints on S3."""
    import ray
    from ray.cluster_utils import Cluster

    from ganjobs.train.command import train_model

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        from ganjobs.errors import GanjobsError

        with pytest.raises(GanjobsError, match="local but the Ray cluster has 2 nodes"):
            train_model(prices=sample_dir, out=f"s3://{s3_env}/never", symbols=["SPX"],
                        preset="tiny", workers=2, storage_path="/tmp/local-results",
                        run_name="two-node-local")
        assert not is_published(f"s3://{s3_env}/never")
        out = f"s3://{s3_env}/model2"
        result = train_model(prices=sample_dir, out=out, symbols=["SPX"], preset="tiny",
                             workers=2, storage_path=f"s3://{s3_env}/ray-results",
                             run_name="two-node")
        assert is_published(out) and result["steps"] > 0
        from ganjobs.io.storage import filesystem

        fs, path = filesystem(f"s3://{s3_env}/ray-results/two-node")
        assert any("checkpoint" in p for p in fs.find(path))
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_pipeline_runs_training_and_generation_as_jobs(ray_head, s3_env):
    """With a Jobs API address the flow submits train and generate to the cluster: this
    process starts no Ray of its own, and the cluster's jobs carry the run's name."""
    import ray
    from prefect.testing.utilities import prefect_test_harness
    from ray.job_submission import JobSubmissionClient

    from flows.params import PipelineParams
    from flows.pipeline import scenario_pipeline
    from ganjobs.cluster.jobs import submission_id
    from ganjobs.data.sample import write_sample_data

    ray.shutdown()
    lake = f"s3://{s3_env}"
    write_sample_data(f"{lake}/prices")
    params = PipelineParams(prices=f"{lake}/prices", root=f"{lake}/runs", name="remote",
                            symbols=["SPX"], preset="tiny", n=64, horizon=5, seed=3,
                            eval_max_paths=64, ray_address=ray_head,
                            overrides={"model.noise_halflives": [3, 9]})
    with prefect_test_harness(server_startup_timeout=120):
        state = scenario_pipeline(params, return_state=True)
        assert state.is_completed(), state.message
        summary = state.result()
    assert not ray.is_initialized()
    assert is_published(summary["scenarios_url"]) and is_published(summary["model_url"])
    assert open_scenarios(summary["scenarios_url"]).n_scenarios == 64
    jobs = {j.submission_id: j.status.value for j in JobSubmissionClient(ray_head).list_jobs()}
    run_name = f"remote-{summary['run_id']}"
    for kind in ("train", "generate"):
        assert jobs.get(submission_id(kind, run_name)) == "SUCCEEDED", jobs
    logs = JobSubmissionClient(ray_head).get_job_logs(submission_id("generate", run_name))
    assert "scenario set written" in logs
    # The overrides travelled to the cluster's training job as --set items.
    from ganjobs.io.storage import read_json

    meta = read_json(f"{summary['model_url']}/model.json")
    assert meta["config"]["model"]["noise_halflives"] == [3.0, 9.0]

    # Submitting the same run name again (a retried Prefect task) attaches to the finished
    # job instead of starting a second one.
    again = submit("generate", run_name, ["generate", "--help"], address=ray_head)
    assert again.reused and again.submission_id == submission_id("generate", run_name)
    assert len(JobSubmissionClient(ray_head).list_jobs()) == len(jobs)
