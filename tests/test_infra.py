"""Cluster manifests parse and carry the fields the code and the runbook rely on."""

from __future__ import annotations

from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parent.parent / "infra"


def _load(rel: str) -> dict:
    return yaml.safe_load((INFRA / rel).read_text())


def _gpu_limit(container: dict) -> str:
    return container["resources"]["limits"]["nvidia.com/gpu"]


def test_raycluster_has_gpu_workers_and_dashboard():
    doc = _load("kuberay/raycluster.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster"
    head = doc["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    ports = {p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]}
    assert 8265 in ports  # the Jobs API that ganjobs.cluster.jobs talks to
    group = doc["spec"]["workerGroupSpecs"][0]
    container = group["template"]["spec"]["containers"][0]
    assert _gpu_limit(container) == "1" and group["rayStartParams"]["num-gpus"] == "1"
    assert container["image"] == head["template"]["spec"]["containers"][0]["image"]
    refs = {next(iter(e.values()))["name"] for e in container["envFrom"]}
    assert {"ganjobs-s3", "ganjobs-settings"} <= refs


def test_rayjob_trains_with_s3_storage_on_gpus():
    doc = _load("kuberay/rayjob.yaml")
    assert doc["kind"] == "RayJob"
    entry = doc["spec"]["entrypoint"]
    assert entry.startswith("ganjobs train") and "--gpu" in entry
    assert "--storage s3://" in entry  # multi-node runs need shared checkpoint storage
    workers = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert _gpu_limit(workers["template"]["spec"]["containers"][0]) == "1"
    env = yaml.safe_load(doc["spec"]["runtimeEnvYAML"])
    assert env["env_vars"]["RAY_TRAIN_V2_ENABLED"] == "1"


def test_cluster_launcher_gpu_nodes():
    doc = _load("cluster-launcher/gpu-cluster.yaml")
    assert doc["head_node_type"] in doc["available_node_types"]
    gpu = doc["available_node_types"]["gpu_worker"]
    assert gpu["resources"]["GPU"] == 1
    assert any("--head" in c for c in doc["head_start_ray_commands"])
    assert "--gpus all" in doc["docker"]["run_options"]


def test_dockerfile_installs_project_on_ray_base():
    text = (INFRA / "Dockerfile").read_text()
    assert "FROM rayproject/ray:" in text
    assert "pip install --no-cache-dir ." in text
