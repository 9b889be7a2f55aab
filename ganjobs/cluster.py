"""Connecting to Ray and checking what a cluster run needs."""

from __future__ import annotations

import os

from ganjobs.errors import GanjobsError
from ganjobs.storage import split_url

# Settings workers need to reach object storage; credentials are forwarded to a local
# cluster only (a remote cluster has its own identity; see ganjobs.jobs).


def ensure_ray(address: str | None = None) -> None:
    """Connect to ``address`` / ``RAY_ADDRESS``, or start a local cluster, once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    target = address or os.environ.get("RAY_ADDRESS") or None
    from ganjobs.jobs import FORWARDED_ENV

    # Non-secret settings only: a local cluster inherits this process's environment
    # (credentials included), and runtime envs are logged in plain text by Ray.
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    ray.init(address=target, runtime_env={"env_vars": env}, log_to_driver=True,
             include_dashboard=False if target is None else None)


def alive_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


def check_shared_storage(storage_path: str) -> None:
    """Refuse a local checkpoint folder when the cluster has more than one node.

    Workers on other nodes could neither write nor restore its checkpoints, so the run
    would fail only at its first checkpoint or, worse, on restart.
    """
    scheme, _ = split_url(storage_path)
    nodes = alive_nodes()
    if scheme == "file" and nodes > 1:
        raise GanjobsError(
            f"storage path {storage_path!r} is local but the Ray cluster has {nodes} nodes; "
            "use shared storage such as s3://bucket/ray-results"
        )
