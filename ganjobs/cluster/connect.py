"""Connecting to Ray and checking what a cluster run needs."""

from __future__ import annotations

import os
import socket
from typing import Any

from ganjobs.errors import GanjobsError
from ganjobs.io.storage import split_url

# Settings workers need to reach object storage; credentials are forwarded to a local
# cluster only (a remote cluster has its own identity; see ganjobs.cluster.jobs).


def ensure_ray(address: str | None = None) -> None:
    """Connect to ``address`` / ``RAY_ADDRESS``, or start a local cluster, once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    target = address or os.environ.get("RAY_ADDRESS") or None
    from ganjobs.cluster.jobs import FORWARDED_ENV

    # Non-secret settings only: a local cluster inherits this process's environment
    # (credentials included), and runtime envs are logged in plain text by Ray.
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    if target is None:
        start_local_ray(env, log_to_driver=True)
    else:
        ray.init(address=target, runtime_env={"env_vars": env}, log_to_driver=True)


def start_local_ray(env: dict[str, str] | None = None, **init_kwargs: Any) -> str:
    """Start a Ray cluster on this machine with its own dashboard; return the dashboard URL.

    Ray Train's placement-group cleaner asks the state API every second whether the train
    controller is alive, and a process of a cluster without ``RAY_API_SERVER_ADDRESS`` asks
    127.0.0.1:8265, the default dashboard port, whether or not its own dashboard runs there.
    Any other Ray cluster's dashboard on that port answers "no such actor", and the cleaner
    then removes the run's placement group, killing its workers mid-training. So the cluster
    gets a dashboard on a free port of its own, and its processes are pointed at it.

    Parameters
    ----------
    env
        Environment variables for every process of the cluster (the job's runtime env).
    **init_kwargs
        Further ``ray.init`` arguments (``num_cpus``, ``logging_level``, ``_temp_dir``...).
    """
    import ray

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**(env or {}), "RAY_API_SERVER_ADDRESS": url}
    ray.init(address="local", include_dashboard=True, dashboard_host="127.0.0.1",
             dashboard_port=port, runtime_env={"env_vars": env}, **init_kwargs)
    return url


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
