"""``ganjobs evaluate``: a scenario set against real history and the baselines risk teams use.

:func:`evaluate_scenarios` opens a published scenario set, loads the real prices of its
symbols, fits and simulates every baseline of :mod:`ganjobs.baselines` on the model's training
window with the same number of paths and horizon, computes the metrics of
:mod:`ganjobs.evaluate.scoring` for the project's paths (``"ganjobs"``) and every baseline,
and publishes ``metrics.json`` and a self-contained ``report.html`` with a manifest and
``_SUCCESS`` last, like every published folder (docs/formats.md).

Training window and holdout
---------------------------
The split is the one decided at training and recorded in the set's manifest (``data`` block),
read back by :func:`ganjobs.core.split.read_split`: real "training" returns are those whose
both prices lie within the recorded window, "holdout" returns those after it (they feed the
DCR ratio only). Baselines are fitted on the training returns only. Without recorded dates
the trainer's default holdout share is assumed and ``context.window.note`` says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ganjobs.baselines import BASELINES, simulate_baseline
from ganjobs.core.seeds import check_seed, stream
from ganjobs.core.split import read_split
from ganjobs.core.version import code_version
from ganjobs.data.prices import MarketData, load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.definitions import PROJECT
from ganjobs.evaluate.scoring import compute_metrics
from ganjobs.io.publisher import Publisher, precheck_out
from ganjobs.io.storage import join
from ganjobs.scenarios import open_scenarios

__all__ = ["evaluate_scenarios", "simulate_models", "training_window", "scenario_set_identity",
           "PROJECT", "FORMAT", "METRICS_FILE", "REPORT_FILE"]

#: ``format`` of the evaluation folder's manifest.
FORMAT = "ganjobs.evaluation/1"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
#: Fewest real training returns the metrics accept.
MIN_TRAIN_RETURNS = 30


def training_window(md: MarketData, data_block: dict[str, Any] | None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Split real returns into the model's training window and the later holdout.

    Parameters
    ----------
    md : MarketData
        Aligned prices of the set's symbols.
    data_block : dict or None
        The manifest's ``data`` block, as recorded at training (see
        :func:`ganjobs.core.split.read_split`).

    Returns
    -------
    train, holdout : ndarray, shapes (T, k) and (T_h, k)
    info : dict
        ``source`` (``"manifest"`` or ``"fallback"``), ``note`` (or None), and the dates and
        counts of both parts under ``train`` and ``holdout``.

    Raises
    ------
    GanjobsError
        When the prices hold fewer than 30 returns of the training window.
    """
    split = read_split(md.dates, data_block)
    train = md.returns[split.train_mask]
    holdout = md.returns[split.holdout_mask]
    if len(train) < MIN_TRAIN_RETURNS:
        block = data_block or {}
        raise GanjobsError(
            f"{md.source}: only {len(train)} returns fall in the model's training window "
            f"{block.get('first_date')}..{block.get('last_date')}; need at least "
            f"{MIN_TRAIN_RETURNS}")
    note = split.note
    if note and not len(holdout):
        note = f"{note}, no DCR ratio"
    info = {"source": split.source, "note": note,
            "train": split.span(md.dates, "train"), "holdout": split.span(md.dates, "holdout")}
    return train, holdout, info


def simulate_models(train: np.ndarray, n: int, horizon: int, seed: int = 0,
                    baselines: tuple[str, ...] = BASELINES) -> dict[str, np.ndarray]:
    """Paths ``(n, horizon, k)`` of every baseline fitted on ``train``.

    Each baseline draws from its own stream, named after it, so adding or dropping one never
    changes another's paths.
    """
    return {name: simulate_baseline(name, train, n, horizon, stream(seed, f"baseline:{name}"))
            for name in baselines}


def scenario_set_identity(url: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What identifies a scenario set wherever it is later moved or copied.

    A set is evaluated where it was generated and may then be published elsewhere (with
    fields added to its manifest): its parts stay byte for byte the same, so their digest,
    with the generation's ``created_at``, seed and model fingerprint, names the set; ``url``
    is only where it was evaluated.

    Returns
    -------
    dict
        ``evaluated_at``, ``created_at``, ``seed``, ``n_scenarios``, ``model_fingerprint``,
        ``content_sha256`` (SHA-256 of the parts' SHA-256 hex digests, one per line, in
        manifest order) and ``run_id`` (the pipeline run's, when the manifest has one).
    """
    digests = "\n".join(str(p.get("sha256")) for p in manifest.get("parts", []))
    return {
        "evaluated_at": url,
        "created_at": manifest.get("created_at"),
        "seed": manifest.get("seed"),
        "n_scenarios": manifest.get("n_scenarios"),
        "model_fingerprint": (manifest.get("model") or {}).get("fingerprint"),
        "content_sha256": hashlib.sha256(digests.encode()).hexdigest(),
        "run_id": (manifest.get("pipeline") or {}).get("run_id"),
    }


def evaluate_scenarios(scenarios: str, prices: str, out: str, seed: int = 0,
                       max_paths: int = 2000, overwrite: bool = True,
                       scenarios_location: str | None = None,
                       run_id: str | None = None) -> dict[str, Any]:
    """Evaluate a scenario set against real prices and the baselines; publish the results.

    Parameters
    ----------
    scenarios : str
        URL of a published scenario set (docs/formats.md).
    prices : str
        URL of the market prices holding the set's symbols.
    out : str
        Folder URL that receives ``metrics.json``, ``report.html``, ``manifest.json`` and
        ``_SUCCESS`` (any fsspec URL).
    seed : int
        Seed of the baselines' simulation and of every subsample in the metrics.
    max_paths : int
        Use the first ``max_paths`` scenarios (and as many baseline paths).
    overwrite : bool
        Replace an evaluation already published at ``out`` (the default: an evaluation is
        derived data, recomputed at will).
    scenarios_location : str, optional
        Where readers will find the set when it is evaluated before being published
        elsewhere (the pipeline evaluates a staged copy): the report names this location.
    run_id : str, optional
        The pipeline run the set belongs to, when its manifest does not record it yet.

    Returns
    -------
    dict
        ``{"metrics": dict, "metrics_url": str, "report_url": str, "manifest": dict}``.

    Raises
    ------
    GanjobsError
        Set absent or unfinished (no ``_SUCCESS``), prices missing a symbol or the training
        window, unusable paths, or an output location that cannot be written. Raised before
        anything is written; a failure while publishing leaves nothing published.
    """
    from ganjobs.evaluate.report import render_report

    t0 = time.perf_counter()
    seed = check_seed(seed)
    if isinstance(max_paths, bool) or int(max_paths) < 1:
        raise GanjobsError(f"max_paths must be >= 1, got {max_paths}")
    precheck_out(out, overwrite=overwrite)
    ss = open_scenarios(scenarios)
    symbols = ss.symbols
    md = load_market_data(prices, symbols)
    data_block = ss.manifest.get("data") or {}
    train, holdout, window = training_window(md, data_block)
    expected = data_block.get("sha256")
    window["data_sha256_match"] = None if not expected else expected == md.fingerprint
    paths = ss.paths(symbols, max_scenarios=int(max_paths))
    if not np.all(np.isfinite(paths)):
        bad = int(np.sum(~np.all(np.isfinite(paths), axis=(1, 2))))
        raise GanjobsError(f"{scenarios}: {bad} scenario(s) hold NaN or infinite returns")
    n, horizon = paths.shape[0], paths.shape[1]
    t_sim = time.perf_counter()
    models: dict[str, np.ndarray] = {PROJECT: paths}
    models.update(simulate_models(train, n, horizon, seed))
    identity = scenario_set_identity(scenarios, ss.manifest)
    if scenarios_location:
        identity["location"] = scenarios_location
    if run_id:
        identity["run_id"] = run_id
    context = {
        "scenarios": scenarios_location or scenarios,
        "scenario_set": identity,
        "prices": prices,
        "model": ss.manifest.get("model"),
        "scenario_seed": ss.manifest.get("seed"),
        "n_scenarios_in_set": ss.n_scenarios,
        "window": window,
        "baseline_seconds": time.perf_counter() - t_sim,
    }
    metrics = compute_metrics(train, models, symbols, holdout=holdout, seed=seed,
                              context=context)
    if window.get("note"):
        metrics["notes"].insert(0, window["note"])
    if window["data_sha256_match"] is False:
        metrics["notes"].append("the prices' fingerprint differs from the one the scenario "
                                "manifest records: the model was trained on other data")
    report = render_report(metrics, train, models)
    metrics["seconds_total"] = time.perf_counter() - t0
    manifest = _manifest(identity, md, window, seed, n)
    with Publisher(out, overwrite=overwrite) as pub:
        pub.write_part(METRICS_FILE, json.dumps(metrics, indent=2, allow_nan=False).encode(),
                       rows=1)
        pub.write_part(REPORT_FILE, report.encode("utf-8"), rows=1)
        manifest = pub.commit(manifest)
    return {"metrics": metrics, "metrics_url": join(out, METRICS_FILE),
            "report_url": join(out, REPORT_FILE), "manifest": manifest}


def _manifest(identity: dict[str, Any], md: MarketData, window: dict[str, Any], seed: int,
              n_paths: int) -> dict[str, Any]:
    """What was evaluated, against what, by which code: small, the numbers are in the files."""
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "seed": seed,
        "n_paths": n_paths,
        "scenarios": identity,
        "prices": {"location": md.source, "fingerprint": md.fingerprint,
                   "matches_training_data": window["data_sha256_match"]},
        "split": {"source": window["source"], "train": window["train"],
                  "holdout": window["holdout"]},
    }
