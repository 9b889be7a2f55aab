"""The backtest loop: refit at scheduled dates, forecast at every origin, measure risk.

Every model sees the same origins and refit dates. At a refit position ``p`` it is fitted on
``returns[:p]`` (prices before the refit date); at an origin ``t`` it is asked for scenarios
given ``returns[: t + 1]`` only — the array handed over ends there, so no model can look
ahead. From each origin's scenario paths, the h-day simple return of each symbol
(``exp(sum of log returns) - 1``) and of the portfolio (P&L over gross notional) give VaR 99%,
VaR 97.5% and ES 97.5% by the one rule of :mod:`ganjobs.core.risk`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ganjobs.core.risk import var_es_rows

#: Origins per call of a forecaster (bounds the memory of one batch of paths).
ORIGIN_BATCH = 32
#: (name, tail) of the measures, in the column order of the forecasts.
MEASURES = (("var_99", 0.01), ("var_975", 0.025), ("es_975", 0.025))


@dataclass
class Plan:
    """Origins (return indices), their dates, refit positions, horizons and targets."""

    origins: np.ndarray
    dates: pd.DatetimeIndex
    refits: np.ndarray
    horizons: tuple[int, ...]
    symbols: list[str]
    weights: np.ndarray | None = None  # portfolio weights over gross notional
    portfolio: str | None = None

    @property
    def targets(self) -> list[str]:
        return self.symbols + ([self.portfolio] if self.portfolio else [])


@dataclass
class Timing:
    fit_seconds: dict[str, float] = field(default_factory=dict)
    scenario_seconds: dict[str, float] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)


def refit_positions(start: int, stop: int, every: int | None) -> np.ndarray:
    """Refit at ``start`` and every ``every`` origins after it (``None``: never again).

    Positions count origins from ``start``, so they do not depend on where the data end.
    """
    if every is None:
        return np.array([start])
    return np.arange(start, stop, every)


def target_returns(paths: np.ndarray, horizons: Sequence[int],
                   weights: np.ndarray | None) -> np.ndarray:
    """h-day simple returns ``(B, m, horizons, targets)`` of log-return paths ``(B, m, H, k)``."""
    cum = np.cumsum(np.asarray(paths, dtype=np.float64), axis=2)
    simple = np.expm1(cum[:, :, [h - 1 for h in horizons], :])
    if weights is None:
        return simple
    return np.concatenate([simple, (simple @ weights)[..., None]], axis=-1)


def measures(paths: np.ndarray, horizons: Sequence[int],
             weights: np.ndarray | None) -> np.ndarray:
    """``(B, horizons, targets, 3)``: VaR 99%, VaR 97.5%, ES 97.5% per origin."""
    values = target_returns(paths, horizons, weights)  # (B, m, H, T)
    b, m, nh, nt = values.shape
    rows = np.moveaxis(values, 1, -1).reshape(-1, m)  # (B * H * T, m)
    out = np.empty((rows.shape[0], len(MEASURES)))
    var99, _ = var_es_rows(rows, 0.01)
    var975, es975 = var_es_rows(rows, 0.025)
    out[:, 0], out[:, 1], out[:, 2] = var99, var975, es975
    return out.reshape(b, nh, nt, len(MEASURES))


def realized(returns: np.ndarray, origins: np.ndarray, horizons: Sequence[int],
             weights: np.ndarray | None) -> np.ndarray:
    """Realized h-day simple returns after each origin ``(origins, horizons, targets)``;
    NaN where the data end before ``t + h``."""
    T, k = returns.shape
    cum = np.vstack([np.zeros((1, k)), np.cumsum(returns, axis=0)])  # cum[i] = sum r[:i]
    out = []
    for h in horizons:
        stop = origins + 1 + h
        ok = stop <= T
        s = np.full((len(origins), k), np.nan)
        s[ok] = np.expm1(cum[stop[ok]] - cum[origins[ok] + 1])
        out.append(s if weights is None else np.hstack([s, (s @ weights)[:, None]]))
    return np.stack(out, axis=1)


def run_models(returns: np.ndarray, plan: Plan, forecasters: Sequence[Any], n: int,
               seed: int, progress: Callable[[str], None] | None = None
               ) -> tuple[dict[str, np.ndarray], Timing]:
    """Forecasts of every model: ``{name: (origins, horizons, targets, 3)}`` and timings."""
    timing = Timing()
    out = {f.name: np.full((len(plan.origins), len(plan.horizons), len(plan.targets),
                            len(MEASURES)), np.nan) for f in forecasters}
    keys = [str(d.date()) for d in plan.dates]
    bounds = list(plan.refits) + [int(plan.origins[-1]) + 1]
    H = max(plan.horizons)
    for seg, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        idx = np.flatnonzero((plan.origins >= lo) & (plan.origins < hi))
        if progress:
            progress(f"refit {seg + 1}/{len(bounds) - 1}: fitting on returns to "
                     f"{keys[idx[0]]}, {len(idx)} origins")
        for f in forecasters:
            t0 = time.perf_counter()
            f.fit(returns[:lo])
            timing.fit_seconds[f.name] = timing.fit_seconds.get(f.name, 0.0) + (
                time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(0, len(idx), ORIGIN_BATCH):
                batch = idx[i:i + ORIGIN_BATCH]
                origins = plan.origins[batch]
                # The history handed over ends at the batch's last origin: no look-ahead.
                paths = f.scenarios(returns[: int(origins[-1]) + 1], origins, n, H,
                                    [keys[j] for j in batch], seed)
                out[f.name][batch] = measures(paths, plan.horizons, plan.weights)
                timing.paths[f.name] = timing.paths.get(f.name, 0) + int(
                    paths.shape[0] * paths.shape[1])
            timing.scenario_seconds[f.name] = timing.scenario_seconds.get(f.name, 0.0) + (
                time.perf_counter() - t0)
    return out, timing
