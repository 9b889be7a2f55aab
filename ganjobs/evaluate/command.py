"""Evaluation of a scenario set against real history and the baselines risk teams use today.

:func:`evaluate_scenarios` is what ``ganjobs evaluate`` runs: it opens a published scenario
set, loads the real prices of its symbols, fits and simulates every baseline of
:mod:`ganjobs.baselines` on the model's training window with the same number of paths and
horizon, computes the metrics of :mod:`ganjobs.evaluate.metrics` for the project's paths
(``"ganjobs"``) and every baseline, and writes ``metrics.json`` and a self-contained
``report.html``.

Training window and holdout
---------------------------
The manifest's ``data`` block records ``first_date``/``last_date`` of the model's training
window. Real "training" returns are those whose both prices lie within these dates; the
"holdout" returns are those after ``last_date`` (they feed the DCR ratio only). Baselines are
fitted on the training returns only. When the manifest has no dates, the last 10% of the
returns are set aside as the holdout and the first 90% are the reference (the trainer holds
out the same share), and ``context.window.note`` says so.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from ganjobs.baselines import BASELINES, simulate_baseline
from ganjobs.data.prices import MarketData, load_market_data
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.metrics import PROJECT, check_bars, compute_metrics
from ganjobs.io.storage import join, split_url, write_bytes
from ganjobs.scenarios import open_scenarios

__all__ = ["evaluate_scenarios", "compute_metrics", "simulate_models", "training_window",
           "check_bars", "PROJECT", "FALLBACK_HOLDOUT"]

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
# Share of returns set aside as holdout when the manifest records no training dates.
FALLBACK_HOLDOUT = 0.10


def _check_out(out: str) -> None:
    """Refuse an output location that certainly cannot be written, before any work.

    Remote stores cannot be probed without writing; a failure there surfaces at the write,
    which happens only after everything has been computed, so nothing partial is left.
    """
    scheme, path = split_url(out)
    if scheme != "file":
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise GanjobsError(f"{out}: exists and is not a folder")
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise GanjobsError(f"{out}: cannot create a folder under {probe} (not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GanjobsError(f"{out}: not writable ({probe} denies write access)")


def _parse_date(value: Any) -> pd.Timestamp | None:
    if value in (None, ""):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return None if pd.isna(ts) else ts.tz_localize(None) if ts.tzinfo else ts


def training_window(md: MarketData, data_block: dict[str, Any] | None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Split real returns into the model's training window and the later holdout.

    Parameters
    ----------
    md : MarketData
        Aligned prices of the set's symbols.
    data_block : dict or None
        The manifest's ``data`` block (``first_date``, ``last_date``).

    Returns
    -------
    train, holdout : ndarray, shapes (T, k) and (T_h, k)
    info : dict
        Dates and counts of both parts, and a ``note`` when the dates were missing.

    Raises
    ------
    GanjobsError
        When the prices hold fewer than 30 returns of the training window.
    """
    data_block = data_block or {}
    first = _parse_date(data_block.get("first_date"))
    last = _parse_date(data_block.get("last_date"))
    dates = pd.DatetimeIndex(md.dates)
    start, end = dates[:-1], dates[1:]  # return t runs from dates[t] to dates[t + 1]
    info: dict[str, Any] = {}
    if first is not None and last is not None:
        in_train = (start >= first) & (end <= last)
        in_hold = start >= last
        info["source"] = "manifest"
        info["note"] = None
        if not in_hold.any():
            info["note"] = (f"no prices after the training window's last date "
                            f"{last.date()}: no holdout, no DCR ratio")
    else:
        n = len(md.returns)
        cut = n - max(1, int(round(n * FALLBACK_HOLDOUT)))
        in_train = np.arange(n) < cut
        in_hold = ~in_train
        info["source"] = "fallback"
        info["note"] = (f"the scenario manifest records no training dates: the first "
                        f"{100 - FALLBACK_HOLDOUT * 100:.0f}% of the returns are the real "
                        f"reference and the last {FALLBACK_HOLDOUT * 100:.0f}% the DCR holdout; "
                        f"the model may have seen the holdout")
    train = md.returns[np.asarray(in_train)]
    holdout = md.returns[np.asarray(in_hold)]
    if len(train) < 30:
        raise GanjobsError(
            f"{md.source}: only {len(train)} returns fall in the model's training window "
            f"{data_block.get('first_date')}..{data_block.get('last_date')}; need at least 30")

    def span(mask: np.ndarray) -> dict[str, Any]:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return {"first_date": None, "last_date": None, "n_returns": 0}
        return {"first_date": str(start[idx[0]].date()), "last_date": str(end[idx[-1]].date()),
                "n_returns": int(len(idx))}

    info["train"] = span(np.asarray(in_train))
    info["holdout"] = span(np.asarray(in_hold))
    return train, holdout, info


def simulate_models(train: np.ndarray, n: int, horizon: int, seed: int = 0,
                    baselines: tuple[str, ...] = BASELINES) -> dict[str, np.ndarray]:
    """Paths ``(n, horizon, k)`` of every baseline fitted on ``train``, one seeded stream each."""
    streams = np.random.SeedSequence(seed).spawn(len(BASELINES))
    out = {}
    for name, ss in zip(BASELINES, streams, strict=True):
        if name in baselines:
            out[name] = simulate_baseline(name, train, n, horizon, np.random.default_rng(ss))
    return out


def evaluate_scenarios(scenarios: str, prices: str, out: str, seed: int = 0,
                       max_paths: int = 2000) -> dict[str, Any]:
    """Evaluate a scenario set against real prices and the baselines; write metrics and report.

    Parameters
    ----------
    scenarios : str
        URL of a published scenario set (CONTRACTS §3).
    prices : str
        URL of the market prices (CONTRACTS §2) holding the set's symbols.
    out : str
        Folder URL that receives ``metrics.json`` and ``report.html`` (any fsspec URL).
    seed : int
        Seed of the baselines' simulation and of every subsample in the metrics.
    max_paths : int
        Use the first ``max_paths`` scenarios (and as many baseline paths).

    Returns
    -------
    dict
        ``{"metrics": dict, "metrics_url": str, "report_url": str}``.

    Raises
    ------
    GanjobsError
        Set absent or unfinished (no ``_SUCCESS``), prices missing a symbol or the training
        window, unusable paths, or an output location that cannot be written. Raised before
        anything is written.
    """
    from ganjobs.evaluate.report import render_report

    t0 = time.perf_counter()
    if int(max_paths) < 1:
        raise GanjobsError(f"max_paths must be >= 1, got {max_paths}")
    _check_out(out)
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
    sim_s = time.perf_counter() - t_sim
    context = {
        "scenarios": scenarios,
        "prices": prices,
        "model": ss.manifest.get("model"),
        "scenario_seed": ss.manifest.get("seed"),
        "n_scenarios_in_set": ss.n_scenarios,
        "window": window,
        "baseline_seconds": sim_s,
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
    metrics_url = join(out, METRICS_FILE)
    report_url = join(out, REPORT_FILE)
    write_bytes(metrics_url, json.dumps(metrics, indent=2, allow_nan=False).encode())
    write_bytes(report_url, report.encode("utf-8"))
    return {"metrics": metrics, "metrics_url": metrics_url, "report_url": report_url}
