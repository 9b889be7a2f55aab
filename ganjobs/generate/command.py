"""``ganjobs generate``: sample a scenario set from a model and publish it atomically.

Parts (see :mod:`ganjobs.generate.parts`) are built in this process for small sets and as
Ray tasks for large ones; the same model, n, horizon and seed give byte-identical parts
either way. The layout of a set is described in docs/formats.md.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ganjobs.core.seeds import check_seed
from ganjobs.core.version import code_version
from ganjobs.errors import GanjobsError
from ganjobs.generate.parts import BLOCK, PART_BLOCKS, PartResult, PartSpec, build_part, plan_parts
from ganjobs.io.publisher import Publisher
from ganjobs.io.storage import split_url
from ganjobs.scenarios import FORMAT

IN_PROCESS_MAX = 65_536  # below this, Ray's start-up costs more than it saves


def _validate(n: int, horizon: int, seed: int, out: str) -> None:
    if not isinstance(n, int) or n <= 0:
        raise GanjobsError(f"--n must be a positive integer, got {n}")
    if not isinstance(horizon, int) or horizon <= 0:
        raise GanjobsError(f"--horizon must be a positive integer, got {horizon}")
    check_seed(seed)
    split_url(out)


def generate_scenarios(model: str, out: str, n: int, horizon: int, seed: int = 0,
                       overwrite: bool = False, workers: int | None = None,
                       device: str | None = None, progress: bool = True,
                       symbols: list[str] | None = None, prices: str | None = None,
                       as_of: Any = None, unconditional: bool = False) -> dict[str, Any]:
    """Sample ``n`` paths of ``horizon`` days from the model at ``model`` and publish them.

    A conditional model (trained with ``condition.enabled``, e.g. ``--preset daily``) draws
    paths that start from the market's state at ``as_of``, computed from ``prices`` up to and
    including that date; ``unconditional`` draws them from states of its training years
    instead (see :mod:`ganjobs.generate.conditioning`). A long-run model ignores neither
    option silently: it refuses ``prices`` and ``as_of``.

    Parameters
    ----------
    model : str
        URL of a model folder written by ``ganjobs train``.
    out : str
        URL of the scenario set to write (refused when it already holds ``_SUCCESS``
        unless ``overwrite``).
    n, horizon : int
        Number of scenarios and steps per scenario.
    seed : int
        Sampling seed; the same model, n, horizon and seed give byte-identical parts.
    workers : int, optional
        Parallel Ray tasks. Default: in-process for small sets, else one per CPU.
    device : str, optional
        Torch device; default ``cuda`` when available.
    symbols : list of str, optional
        Columns to publish (all of the model's by default); paths are always sampled
        jointly, so a subset holds the same values as the full set.
    prices : str, optional
        Prices URL the state is read from (required by a conditional model).
    as_of : str or date, optional
        Origin date (default: the last price date); the state uses prices up to it only.
    unconditional : bool
        Long-run paths (a conditional model then draws its states from its training years).

    Returns
    -------
    dict
        The published manifest.
    """
    _validate(n, horizon, seed, out)
    if workers is not None and workers <= 0:
        raise GanjobsError(f"--workers must be positive, got {workers}")
    from ganjobs.generate.conditioning import resolve_sampler
    from ganjobs.model.folder import load_model

    gan = load_model(model)
    columns = _select(gan.symbols, symbols, model)
    sampler, conditioning = resolve_sampler(gan, prices, as_of, unconditional)
    device = device or _default_device()
    parts = plan_parts(n)
    t0 = time.perf_counter()
    publisher = Publisher(out, overwrite=overwrite)
    with publisher:
        # Ray tasks rebuild the model from its URL alone: a state-bound sampler stays here.
        use_ray = sampler is gan and ((workers or 0) > 1 or
                                      (workers is None and n > IN_PROCESS_MAX))
        results = (_run_ray(model, parts, horizon, seed, columns, workers, device, publisher)
                   if use_ray else
                   _run_local(sampler, parts, horizon, seed, columns, device, publisher,
                              progress))
        manifest = _manifest(gan, columns, model, n, horizon, seed, results, device,
                             time.perf_counter() - t0)
        manifest["conditioning"] = conditioning
        publisher.commit(manifest)
    return manifest


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _select(available: list[str], wanted: list[str] | None, model: str) -> list[str]:
    if not wanted:
        return list(available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise GanjobsError(f"{model}: unknown symbol(s) {', '.join(unknown)}; the model has "
                           f"{', '.join(available)}")
    return list(dict.fromkeys(wanted))


def _run_local(gan: Any, parts: list[PartSpec], horizon: int, seed: int, columns: list[str],
               device: str, publisher: Publisher, progress: bool) -> list[PartResult]:
    results = []
    for spec in _progress(parts, progress):
        res = build_part(gan, spec, horizon, seed, columns, device)
        info = publisher.write_part(spec.name, res.data, res.rows)
        res.sha256, res.nbytes, res.data = info.sha256, info.bytes, None
        results.append(res)
    return results


def _progress(parts: list[PartSpec], enabled: bool):
    if not enabled or len(parts) < 2:
        return parts
    from rich.progress import track

    return track(parts, description="generating parts", transient=True)


def _run_ray(model_url: str, parts: list[PartSpec], horizon: int, seed: int,
             symbols: list[str], workers: int | None, device: str,
             publisher: Publisher) -> list[PartResult]:
    """Each Ray task samples one part and writes it; the driver keeps only summaries."""
    from ganjobs.generate.ray_parts import run_parts

    results = run_parts(model_url, parts, horizon, seed, symbols, workers, device,
                        publisher.url)
    for res in results:
        publisher.parts.append(_info(res))
    return results


def _info(res: PartResult):
    from ganjobs.io.publisher import PartInfo

    return PartInfo(name=res.spec.name, rows=res.rows, sha256=res.sha256, bytes=res.nbytes)


def _manifest(gan: Any, columns: list[str], model_url: str, n: int, horizon: int, seed: int,
              results: list[PartResult], device: str, seconds: float) -> dict[str, Any]:
    mins = np.min([r.mins for r in results], axis=0)
    maxs = np.max([r.maxs for r in results], axis=0)
    nonfinite = int(sum(r.nonfinite for r in results))
    return {
        "format": FORMAT,
        "symbols": list(columns),
        "horizon": horizon,
        "n_scenarios": n,
        "return_kind": "log",
        "seed": seed,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"location": model_url, "fingerprint": gan.fingerprint},
        "data": dict(gan.meta.get("data", {})),
        "code_version": code_version(),
        "parts": [{"name": r.spec.name, "rows": r.rows, "sha256": r.sha256, "bytes": r.nbytes}
                  for r in results],
        "tails": {s: {"min": float(mins[j]), "max": float(maxs[j])}
                  for j, s in enumerate(columns)},
        # No safety filter runs: every sampled path is published as drawn.
        "filtering": {"filter": None, "rejected_paths": 0, "clipped_values": 0,
                      "nonfinite_values": nonfinite},
        "generation": {"block_scenarios": BLOCK, "part_scenarios": BLOCK * PART_BLOCKS,
                       "device": device, "seconds": round(seconds, 3)},
    }
