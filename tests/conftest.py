"""Shared fixtures: a real S3 endpoint (moto's ThreadedMotoServer), bundled sample data."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# Test clusters live on loopback and are torn down after each module. Ray caches the auth
# mode per process, so one mode for the whole session: token auth (Ray's default for new
# local clusters) off everywhere, including heads started with `ray start`.
os.environ["RAY_AUTH_MODE"] = "disabled"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1, as s3fs's own test suite runs it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Standard AWS settings pointing at the moto endpoint; yields a fresh bucket name."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(
        Bucket=bucket)
    yield bucket


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    """The bundled real prices written once in the input layout."""
    from ganjobs.data.sample import write_sample_data

    out = tmp_path_factory.mktemp("prices")
    write_sample_data(str(out))
    return str(out)


@pytest.fixture(autouse=True, scope="module")
def _ray_isolated_per_module():
    """Each test module gets its own Ray runtime: shut down whatever a module started."""
    yield
    import sys

    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()


@pytest.fixture(scope="module")
def harness():
    """Prefect's test harness (a temporary database and API server) for one module."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for one module (2 CPU workers: gloo DDP)."""
    import ray

    from ganjobs.cluster.connect import start_local_ray

    if ray.is_initialized():
        ray.shutdown()
    start_local_ray(num_cpus=2, logging_level="WARNING")
    yield ray
    ray.shutdown()
