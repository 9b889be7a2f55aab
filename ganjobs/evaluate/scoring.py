"""Scoring: every model's paths against the one real reference, as ``metrics.json``'s body.

:func:`compute_metrics` prepares the real side once (:mod:`ganjobs.evaluate.reference`),
scores each model with :func:`model_metrics`, averages over symbols, checks the quality bars
(:mod:`ganjobs.evaluate.bars`) and returns plain JSON. The metrics are defined in
:mod:`ganjobs.evaluate.definitions`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from ganjobs.core.seeds import check_seed, stream
from ganjobs.errors import GanjobsError
from ganjobs.evaluate.bars import check_bars
from ganjobs.evaluate.definitions import (
    COPY_TOL,
    EMD_LAGS,
    FORMAT,
    MAX_EMD_SAMPLES,
    MAX_NN_QUERIES,
    METRICS,
    PROJECT,
    WINDOW,
)
from ganjobs.evaluate.discriminative import discriminative_score, sample_path_windows
from ganjobs.evaluate.primitives import (
    acf_curves,
    aggregate,
    correlation_error,
    curve_score,
    relative_error,
    strategy_stats,
    tail_stats,
)
from ganjobs.evaluate.reference import Reference, WindowScope, build_reference, scaled_flat

#: Random stream of one model's subsamples, by model name: adding a model never changes the
#: draws of the others.
MODEL_STREAM = "model:{}"


def _window_scope(ref: Reference, scope: WindowScope, paths: np.ndarray, rng: np.random.Generator
                  ) -> dict[str, float]:
    """Copy rate, DCR ratio and discriminative score of one symbol's (or the joint) windows."""
    sub = paths[:, :, scope.cols]
    out: dict[str, float] = {}
    syn_w, _ = sample_path_windows(sub, WINDOW, MAX_NN_QUERIES, rng)
    dist, ind = scope.nn.kneighbors(scaled_flat(syn_w, scope.sigma))
    nearest = scope.train_raw[ind[:, 0]]
    diff = np.abs(syn_w.astype(np.float32).astype(np.float64) - nearest.astype(np.float64))
    out["copy_rate"] = float(np.mean(diff.reshape(len(diff), -1).max(axis=1) <= COPY_TOL))
    med = float(np.median(dist[:, 0]))
    if np.isfinite(scope.holdout_median) and scope.holdout_median > 0:
        out["dcr_ratio"] = med / scope.holdout_median
    else:
        out["dcr_ratio"] = float("nan")
    m = len(scope.disc_real)
    disc_w, disc_g = sample_path_windows(sub, WINDOW, m, rng)
    out["discriminative"] = discriminative_score(scope.disc_real, scope.disc_groups, disc_w,
                                                 disc_g, scope.sigma, seed=ref.seed)
    return out


def model_metrics(ref: Reference, paths: np.ndarray, name: str) -> dict[str, Any]:
    """All metrics of one model's paths ``(n, H, k)`` against the reference.

    Returns
    -------
    dict
        ``{"per_symbol": {symbol: {metric: value}}, "joint": {...}, "curves": {...},
        "seconds": float}``.
    """
    t0 = time.perf_counter()
    paths = np.asarray(paths)
    if paths.ndim != 3 or paths.shape[2] != len(ref.symbols):
        raise GanjobsError(f"{name}: paths of shape {paths.shape} do not match "
                           f"{len(ref.symbols)} symbols")
    if paths.shape[1] != ref.horizon:
        raise GanjobsError(f"{name}: horizon {paths.shape[1]} differs from {ref.horizon}")
    if not np.all(np.isfinite(paths)):
        raise GanjobsError(f"{name}: paths contain NaN or infinite values")
    rng = stream(ref.seed, MODEL_STREAM.format(name))
    x64 = paths.astype(np.float64)
    per_symbol: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    for j, sym in enumerate(ref.symbols):
        x = x64[:, :, j]
        real = ref.real_stats[sym]
        row: dict[str, Any] = {}
        for lag in EMD_LAGS:
            key = f"emd_{lag}d"
            if lag not in ref.emd_real:
                row[key] = float("nan")
                continue
            agg = aggregate(x, lag)
            if agg.size > MAX_EMD_SAMPLES:
                agg = rng.choice(agg, MAX_EMD_SAMPLES, replace=False)
            row[key] = float(wasserstein_distance(ref.emd_real[lag][j],
                                                  agg / (ref.sigma[j] * np.sqrt(lag))))
        c = acf_curves(x, ref.acf_lags)
        rc = ref.curves[sym]
        for key in ("acf_r", "acf_abs", "acf_sq", "leverage"):
            row[key] = curve_score(c[key], rc[key])
        curves[sym] = {key: v.tolist() for key, v in c.items()}
        tails = tail_stats(x.ravel(), aggregate(x, 10))
        for key in ("var99_1d", "es975_1d", "var99_10d", "es975_10d"):
            row[key] = tails[key]
            row[f"{key}_relerr"] = relative_error(tails[key], real[key])
        row["kurtosis"] = tails["kurtosis"]
        row["skew"] = tails["skew"]
        strat = strategy_stats(x, real["sigma"])
        errs = []
        for s, vals in strat.items():
            for measure in ("var5", "es5"):
                e = relative_error(vals[measure], real["strategies"][s][measure])
                vals[f"{measure}_relerr"] = e
                errs.append(e)
        row["strategies"] = strat
        row["strategy_relerr"] = (float(np.mean(errs)) if errs and np.all(np.isfinite(errs))
                                  else float("nan"))
        if sym in ref.scopes:
            row.update(_window_scope(ref, ref.scopes[sym], paths, rng))
        else:
            row.update(copy_rate=float("nan"), dcr_ratio=float("nan"),
                       discriminative=float("nan"))
        per_symbol[sym] = row
    joint: dict[str, float] = {"corr_error": correlation_error(ref.train, x64)}
    if "joint" in ref.scopes:
        joint.update(_window_scope(ref, ref.scopes["joint"], paths, rng))
    elif len(ref.symbols) == 1:  # one symbol: the joint window metrics are the symbol's
        only = per_symbol[ref.symbols[0]]
        joint.update({key: only[key] for key in ("discriminative", "copy_rate", "dcr_ratio")})
    else:  # paths shorter than a window
        joint.update(discriminative=float("nan"), copy_rate=float("nan"),
                     dcr_ratio=float("nan"))
    return {"per_symbol": per_symbol, "joint": joint, "curves": curves,
            "seconds": time.perf_counter() - t0}


def summarize(per_symbol: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Mean over symbols of every numeric per-symbol metric."""
    out = {}
    for key in METRICS:
        vals = [float(v[key]) for v in per_symbol.values()
                if isinstance(v.get(key), (int, float))]
        vals = [v for v in vals if np.isfinite(v)]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def clean_json(obj: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN and infinities to ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else None
    return obj


def compute_metrics(real: np.ndarray, models: Mapping[str, np.ndarray],
                    symbols: Sequence[str], *, holdout: np.ndarray | None = None,
                    seed: int = 0, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every metric for every model, against the same real reference.

    Parameters
    ----------
    real : ndarray, shape (T, k)
        Real log returns of the training window.
    models : mapping of str to ndarray (n, H, k)
        Paths per model, e.g. ``{"ganjobs": ..., "gaussian": ..., ...}``; all of one horizon.
    symbols : sequence of str
        Column names, in the order of the last axis.
    holdout : ndarray, shape (T_h, k), optional
        Real returns after the training window, for the DCR ratio.
    seed : int
        Seed of every subsample and of the classifier.
    context : mapping, optional
        Extra JSON-able fields recorded under ``"context"`` (locations, dates, notes).

    Returns
    -------
    dict
        JSON-ready: ``format``, ``symbols``, ``horizon``, ``n_paths``, ``seed``, ``real``
        (per-symbol real statistics), ``models`` (name → ``per_symbol``, ``joint``,
        ``summary``, ``seconds``), ``curves`` (symbol → real/model → ACF and leverage
        curves), ``bars`` (the quality bars for the project model when present),
        ``notes`` and ``context``.
    """
    if not models:
        raise GanjobsError("no scenario paths to evaluate")
    shapes = {name: np.shape(p) for name, p in models.items()}
    horizons = {s[1] for s in shapes.values() if len(s) == 3}
    if len(horizons) != 1:
        raise GanjobsError(f"models must share one horizon; got shapes {shapes}")
    horizon = horizons.pop()
    seed = check_seed(seed, "seed")
    t0 = time.perf_counter()
    ref = build_reference(real, symbols, horizon, holdout=holdout, seed=seed)
    out: dict[str, Any] = {
        "format": FORMAT,
        "symbols": list(symbols),
        "horizon": int(horizon),
        "n_paths": {name: int(s[0]) for name, s in shapes.items()},
        "seed": int(seed),
        "n_train_returns": int(len(ref.train)),
        "n_holdout_returns": int(len(ref.holdout)),
        "real": ref.real_stats,
        "models": {},
        "curves": {sym: {"real": {k: v.tolist() for k, v in ref.curves[sym].items()}}
                   for sym in ref.symbols},
    }
    for name, paths in models.items():
        res = model_metrics(ref, paths, name)
        out["models"][name] = {
            "per_symbol": res["per_symbol"], "joint": res["joint"],
            "summary": summarize(res["per_symbol"]), "seconds": res["seconds"],
        }
        for sym, c in res["curves"].items():
            out["curves"][sym][name] = c
    out["bars"] = check_bars(out) if PROJECT in out["models"] else []
    out["notes"] = list(ref.notes)
    out["context"] = dict(context or {})
    out["seconds"] = time.perf_counter() - t0
    return clean_json(out)
