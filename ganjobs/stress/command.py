"""Stress testing a portfolio over a scenario set: P&L, VaR, ES, worst cases, reverse stress.

Conventions
-----------
* P&L is linear in the positions: a scenario's P&L at horizon ``h`` (days) is
  ``Σ_symbols notional · (exp(Σ_{t≤h} r_t) − 1)`` with ``r_t`` the scenario's log returns.
  No rebalancing, no funding, no FX: notionals are in the base currency.
* Losses are reported as positive numbers. With ``q_p`` the empirical lower ``p``-quantile
  of the P&L (the ``⌈n·p⌉``-th smallest P&L, numpy's ``inverted_cdf``: always an observed
  P&L),

  - ``VaR_α = −q_{1−α}``
  - ``ES_α = −mean(P&L | P&L ≤ −VaR_α)`` (the tail set includes the VaR scenario itself, so
    it is never empty and ``ES_α ≥ VaR_α``).

  A negative VaR means the portfolio gains even in that tail.
* A scenario *breaches* the loss threshold ``L`` when its loss is at least ``L``
  (``P&L ≤ −L``); ``prob_loss_beyond_threshold`` is the fraction of such scenarios.
* Worst scenarios are ordered by P&L ascending; ties go to the smaller scenario id, so the
  result does not depend on how the set is split into parts.
* Reverse stress is computed at the longest horizon: the mean over breaching scenarios of each
  symbol's cumulative return ``exp(Σ_{t≤s} r_t) − 1`` at every step ``s``.

Sources compared side by side in ``stress.json`` under ``sources``:

* ``ganjobs``: the scenario set, streamed part by part; P&L of every scenario is kept
  (N × horizons float64) so VaR and ES are exact, everything else is running sums and a
  running top-k.
* ``historical``: overlapping ``h``-day windows of the real log returns (``--prices``),
  restricted to the set's training window (manifest ``data.first_date``/``last_date``).
  Each horizon uses all its ``T − h + 1`` windows.
* ``baseline:<name>``: ``min(N, 20000)`` paths of each baseline generator of
  :mod:`ganjobs.baselines`, fitted on the same real returns, with a seeded generator.
  Baselines need real returns, so they run only when ``prices`` is given.
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.data.portfolio import Portfolio, parse_portfolio
from ganjobs.errors import GanjobsError
from ganjobs.io.storage import (
    Publisher,
    is_published,
    read_bytes,
    sha256_bytes,
    split_url,
)

log = logging.getLogger(__name__)

FORMAT = "ganjobs.stress/1"
VAR_LEVELS = (0.95, 0.99)
ES_LEVELS = (0.975, 0.99)
QUANTILE_LEVELS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
#: Scenarios converted to float64 at a time: bounds memory whatever the part size
#: (8192 × 252 steps × 3 symbols × 8 bytes ≈ 50 MB).
CHUNK = 8192
#: Paths drawn from each baseline generator at most.
BASELINE_MAX = 20_000
#: Baseline paths simulated per call: the generators hold several (n, H, k) float64 arrays
#: while simulating, so batches keep the peak memory small. Part of the seeded result.
BASELINE_BATCH = 5_000


# --------------------------------------------------------------------------- measures


def _level_key(level: float) -> str:
    """``0.975 -> "97.5"``, ``0.99 -> "99"``."""
    return f"{level * 100:g}"


def lower_quantiles(pnl: np.ndarray, levels: Any) -> np.ndarray:
    """Empirical lower quantiles: ``q_p`` is the ``⌈n·p⌉``-th smallest value (at least the 1st).

    This is the ``inverted_cdf`` definition (smallest sample value whose empirical CDF is ≥ p),
    written out because ``1 − 0.95`` is ``0.05000000000000004`` in floating point, which would
    move ``ceil(n·p)`` one rank up whenever ``n·0.05`` is an integer.

    Parameters
    ----------
    pnl : ndarray, shape (n,)
    levels : array_like of float in (0, 1]

    Returns
    -------
    ndarray, shape (len(levels),)
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    n = len(pnl)
    # round() strips the representation error of levels such as 1 - 0.95 before the ceiling.
    ranks = [min(max(int(np.ceil(round(n * float(p), 9))), 1), n) - 1
             for p in np.atleast_1d(levels)]
    part = np.partition(pnl, sorted(set(ranks)))
    return part[ranks]


def value_at_risk(pnl: np.ndarray, alpha: float) -> float:
    """VaR at confidence ``alpha`` as a positive loss: ``−q_{1−α}(P&L)``.

    Parameters
    ----------
    pnl : ndarray, shape (n,)
        P&L per scenario.
    alpha : float
        Confidence level in (0, 1), e.g. 0.99.

    Returns
    -------
    float
        Minus the ``⌈n·(1−α)⌉``-th smallest P&L (see :func:`lower_quantiles`).
    """
    return float(-lower_quantiles(pnl, [1.0 - alpha])[0])


def expected_shortfall(pnl: np.ndarray, alpha: float) -> float:
    """ES at confidence ``alpha`` as a positive loss: ``−mean(P&L | P&L ≤ −VaR_α)``.

    Parameters
    ----------
    pnl : ndarray, shape (n,)
        P&L per scenario.
    alpha : float
        Confidence level in (0, 1), e.g. 0.975.

    Returns
    -------
    float
        Mean loss over the scenarios at or beyond the VaR (ties with the VaR included).
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    q = lower_quantiles(pnl, [1.0 - alpha])[0]
    return float(-pnl[pnl <= q].mean())


def risk_measures(pnl: np.ndarray, threshold: float, base_value: float) -> dict[str, Any]:
    """Distribution summary, VaR, ES and exceedance probability of one P&L vector.

    Parameters
    ----------
    pnl : ndarray, shape (n,)
        P&L per scenario, base currency.
    threshold : float
        Positive loss amount; a scenario breaches it when ``P&L ≤ −threshold``.
    base_value : float
        Portfolio value; ``*_pct`` entries are amounts divided by it.

    Returns
    -------
    dict
        ``n``, ``mean``, ``std`` (ddof 1), ``min``, ``max``, ``quantiles`` (keyed by level),
        ``var`` / ``es`` (keyed by level in percent, e.g. ``"99"``, ``"97.5"``),
        ``var_pct`` / ``es_pct`` and ``prob_loss_beyond_threshold``.
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    n = len(pnl)
    qs = lower_quantiles(pnl, QUANTILE_LEVELS)
    var = {_level_key(a): value_at_risk(pnl, a) for a in VAR_LEVELS}
    es = {_level_key(a): expected_shortfall(pnl, a) for a in ES_LEVELS}
    return {
        "n": int(n),
        "mean": float(pnl.mean()),
        "std": float(pnl.std(ddof=1)) if n > 1 else 0.0,
        "min": float(pnl.min()),
        "max": float(pnl.max()),
        "quantiles": {f"{p:g}": float(v) for p, v in zip(QUANTILE_LEVELS, qs, strict=True)},
        "var": var,
        "es": es,
        "var_pct": {k: v / base_value for k, v in var.items()},
        "es_pct": {k: v / base_value for k, v in es.items()},
        "prob_loss_beyond_threshold": float(np.mean(pnl <= -threshold)),
    }


# --------------------------------------------------------------------------- streaming core


@dataclass
class _TopK:
    """The ``k`` lowest P&L seen so far at one horizon, with their cumulative log paths."""

    k: int
    pnl: np.ndarray
    ids: np.ndarray
    cum: np.ndarray  # (m, steps, n_symbols) cumulative log returns

    def merge(self, pnl: np.ndarray, ids: np.ndarray, cum: np.ndarray) -> None:
        if len(pnl) > self.k:
            # Keep every scenario tied with the k-th value so that the id tie-break below is
            # exact and the result independent of chunking.
            kth = np.partition(pnl, self.k - 1)[self.k - 1]
            sel = np.flatnonzero(pnl <= kth)
            pnl, ids, cum = pnl[sel], ids[sel], cum[sel]
        all_pnl = np.concatenate([self.pnl, pnl])
        all_ids = np.concatenate([self.ids, ids])
        order = np.lexsort((all_ids, all_pnl))[: self.k]
        all_cum = np.concatenate([self.cum, cum], axis=0)
        self.pnl, self.ids, self.cum = all_pnl[order], all_ids[order], all_cum[order]


@dataclass
class StressResult:
    """What a :class:`StressAccumulator` found; turned into JSON by :meth:`to_dict`."""

    symbols: list[str]
    notionals: np.ndarray
    horizons: list[int]
    threshold: float
    base_value: float
    pnl: np.ndarray  # (n, len(horizons)), row i = scenario id i
    worst: list[_TopK]
    breach_count: int
    breach_sum_cum: np.ndarray  # (steps, k): Σ over breaching scenarios of exp(cum) − 1
    breach_sum_log: np.ndarray  # (steps, k): Σ over breaching scenarios of cum log return
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.horizons[-1]

    def measures(self, j: int) -> dict[str, Any]:
        """:func:`risk_measures` at horizon index ``j``."""
        return risk_measures(self.pnl[:, j], self.threshold, self.base_value)

    def worst_records(self, j: int, labels: Any = None) -> list[dict[str, Any]]:
        """The worst scenarios at horizon index ``j``, worst first.

        Parameters
        ----------
        j : int
            Horizon index.
        labels : callable, optional
            ``labels(id, h) -> dict`` adds fields to each record (dates for historical windows).
        """
        h = self.horizons[j]
        top = self.worst[j]
        out = []
        for rank, (sid, p, cum) in enumerate(zip(top.ids, top.pnl, top.cum, strict=True), 1):
            simple = np.expm1(cum[:h])  # (h, k) cumulative simple return per step
            rec: dict[str, Any] = {
                "rank": rank,
                "scenario": int(sid),
                "pnl": float(p),
                "pnl_pct": float(p) / self.base_value,
                "cum_return": {s: float(simple[-1, i]) for i, s in enumerate(self.symbols)},
                "path": {s: simple[:, i].tolist() for i, s in enumerate(self.symbols)},
                "pnl_path": (simple @ self.notionals).tolist(),
            }
            if labels is not None:
                rec.update(labels(int(sid), h))
            out.append(rec)
        return out

    def reverse_stress(self) -> dict[str, Any]:
        """Mean path of each symbol over the scenarios breaching the threshold at the longest
        horizon."""
        n = len(self.pnl)
        rec: dict[str, Any] = {
            "horizon": self.steps,
            "loss_threshold": self.threshold,
            "n_breach": int(self.breach_count),
            "prob_breach": self.breach_count / n if n else 0.0,
        }
        if self.breach_count == 0:
            rec.update(mean_pnl=None, mean_cum_return=None, mean_cum_log_return=None,
                       mean_pnl_path=None)
            return rec
        mean_cum = self.breach_sum_cum / self.breach_count
        mean_log = self.breach_sum_log / self.breach_count
        # P&L is linear in the cumulative simple returns, so the mean P&L path of the
        # breaching scenarios is exactly the positions applied to their mean path.
        pnl_path = mean_cum @ self.notionals
        rec.update(
            mean_pnl=float(pnl_path[-1]),
            mean_cum_return={s: mean_cum[:, i].tolist() for i, s in enumerate(self.symbols)},
            mean_cum_log_return={s: mean_log[:, i].tolist() for i, s in enumerate(self.symbols)},
            mean_pnl_path=pnl_path.tolist(),
        )
        return rec

    def to_dict(self, labels: Any = None) -> dict[str, Any]:
        """Per-horizon measures and worst scenarios, plus the reverse stress."""
        return {
            "n": int(len(self.pnl)),
            **self.extra,
            "horizons": {
                str(h): {**self.measures(j), "worst": self.worst_records(j, labels)}
                for j, h in enumerate(self.horizons)
            },
            "reverse_stress": self.reverse_stress(),
        }


class StressAccumulator:
    """Streams blocks of scenario paths into P&L, running top-k and reverse-stress sums.

    Memory is ``n × len(horizons)`` float64 for the P&L plus one chunk of paths in float64,
    whatever the number of blocks.

    Parameters
    ----------
    n : int
        Total number of scenarios; ids must be ``0..n-1``, each seen exactly once.
    symbols : list of str
        Column order of the path blocks.
    notionals : array_like, shape (k,)
        Notional per symbol, base currency.
    horizons : list of int
        Sorted horizons (steps); blocks must hold at least ``max(horizons)`` steps.
    threshold : float
        Positive loss threshold (breach when ``P&L ≤ −threshold`` at the longest horizon).
    worst_k : int
        Worst scenarios kept per horizon.
    base_value : float
        Portfolio value, for ``*_pct`` measures.
    source : str
        Name used in error messages.
    """

    def __init__(self, n: int, symbols: list[str], notionals: Any, horizons: list[int],
                 threshold: float, worst_k: int, base_value: float, source: str = "scenarios"
                 ) -> None:
        if n < 1:
            raise GanjobsError(f"{source}: no scenarios")
        self.n = int(n)
        self.symbols = list(symbols)
        self.notionals = np.asarray(notionals, dtype=np.float64)
        self.horizons = sorted(int(h) for h in horizons)
        self.steps = self.horizons[-1]
        self.threshold = float(threshold)
        self.base_value = float(base_value)
        self.source = source
        k = len(self.symbols)
        self.pnl = np.zeros((self.n, len(self.horizons)), dtype=np.float64)
        self.seen = np.zeros(self.n, dtype=bool)
        self.count = 0
        self.worst = [
            _TopK(worst_k, np.empty(0), np.empty(0, np.int64), np.empty((0, self.steps, k)))
            for _ in self.horizons
        ]
        self.breach_count = 0
        self.breach_sum_cum = np.zeros((self.steps, k))
        self.breach_sum_log = np.zeros((self.steps, k))

    def update(self, ids: np.ndarray, paths: np.ndarray) -> None:
        """Add a block of scenarios.

        Parameters
        ----------
        ids : ndarray, shape (m,)
            Scenario ids of the block.
        paths : ndarray, shape (m, H, k)
            Log returns per step and symbol, ``H ≥ max(horizons)``.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if paths.ndim != 3 or paths.shape[0] != len(ids) or paths.shape[2] != len(self.symbols):
            raise GanjobsError(f"{self.source}: block of shape {paths.shape} does not match "
                               f"{len(ids)} scenarios x {len(self.symbols)} symbols")
        if paths.shape[1] < self.steps:
            raise GanjobsError(f"{self.source}: paths have {paths.shape[1]} steps, "
                               f"fewer than the horizon {self.steps}")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n):
            bad = ids[(ids < 0) | (ids >= self.n)][0]
            raise GanjobsError(f"{self.source}: scenario id {bad} outside 0..{self.n - 1}")
        for start in range(0, len(ids), CHUNK):
            self._update_chunk(ids[start:start + CHUNK], paths[start:start + CHUNK])

    def _update_chunk(self, ids: np.ndarray, paths: np.ndarray) -> None:
        if self.seen[ids].any() or len(np.unique(ids)) != len(ids):
            dup = ids[self.seen[ids]][0] if self.seen[ids].any() else ids[0]
            raise GanjobsError(f"{self.source}: scenario id {dup} appears twice")
        # float64 accumulation: float32 cumulative sums over 252 steps lose ~1e-6 relative.
        cum = np.cumsum(paths[:, : self.steps, :], axis=1, dtype=np.float64)
        if not np.isfinite(cum[:, -1, :]).all():
            row = int(np.flatnonzero(~np.isfinite(cum[:, -1, :]).all(axis=1))[0])
            raise GanjobsError(f"{self.source}: scenario {ids[row]} holds a non-finite return")
        pnl = np.stack([np.expm1(cum[:, h - 1, :]) @ self.notionals for h in self.horizons],
                       axis=1)
        self.pnl[ids] = pnl
        self.seen[ids] = True
        self.count += len(ids)
        for j, top in enumerate(self.worst):
            top.merge(pnl[:, j], ids, cum)
        breach = pnl[:, -1] <= -self.threshold
        if breach.any():
            sel = cum[breach]
            self.breach_count += int(breach.sum())
            self.breach_sum_cum += np.expm1(sel).sum(axis=0)
            self.breach_sum_log += sel.sum(axis=0)

    def finalize(self) -> StressResult:
        """Check every scenario was seen and return the result."""
        if self.count != self.n:
            raise GanjobsError(f"{self.source}: expected {self.n} scenarios, the parts hold "
                               f"{self.count}")
        return StressResult(
            symbols=self.symbols, notionals=self.notionals, horizons=self.horizons,
            threshold=self.threshold, base_value=self.base_value, pnl=self.pnl,
            worst=self.worst, breach_count=self.breach_count,
            breach_sum_cum=self.breach_sum_cum, breach_sum_log=self.breach_sum_log,
        )


def _accumulator(n: int, port: Portfolio, horizons: list[int], source: str
                 ) -> StressAccumulator:
    return StressAccumulator(
        n=n, symbols=port.symbols, notionals=[port.positions[s] for s in port.symbols],
        horizons=horizons, threshold=port.threshold, worst_k=port.worst_k,
        base_value=port.base_value, source=source,
    )


# --------------------------------------------------------------------------- sources


def stress_scenario_set(sset: Any, port: Portfolio, horizons: list[int]) -> StressResult:
    """Stream a scenario set part by part through a :class:`StressAccumulator`.

    Parameters
    ----------
    sset : ganjobs.scenarios.ScenarioSet
        An opened, published set holding every portfolio symbol.
    port : Portfolio
    horizons : list of int
        Sorted horizons, all ≤ the set's horizon.
    """
    acc = _accumulator(sset.n_scenarios, port, horizons, sset.url)
    try:
        for i, (ids, paths) in enumerate(sset.iter_paths(port.symbols)):
            acc.update(ids, paths)
            log.debug("stress: part %d, %d/%d scenarios", i, acc.count, acc.n)
    except (ValueError, KeyError, pa.ArrowException) as exc:
        # A part that does not follow CONTRACTS §3 (rows not a multiple of H, missing column).
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise GanjobsError(f"{sset.url}: malformed scenario part ({first})") from exc
    return acc.finalize()


def overlapping_windows(returns: np.ndarray, h: int) -> np.ndarray:
    """All overlapping ``h``-step windows of a return series.

    Parameters
    ----------
    returns : ndarray, shape (T, k)
    h : int

    Returns
    -------
    ndarray, shape (T − h + 1, h, k)
        A read-only view; window ``i`` holds ``returns[i:i + h]``.
    """
    view = np.lib.stride_tricks.sliding_window_view(returns, h, axis=0)  # (T-h+1, k, h)
    return view.transpose(0, 2, 1)


@dataclass
class RealReturns:
    """Real log returns of the portfolio symbols over the window used for comparison."""

    returns: np.ndarray  # (T, k)
    dates: np.ndarray  # (T + 1,) close dates; return t ends on dates[t + 1]
    record: dict[str, Any]


def load_real_returns(prices: str, symbols: list[str], manifest: dict[str, Any]
                      ) -> RealReturns:
    """Load real prices and keep the set's training window when its manifest records one.

    Raises
    ------
    GanjobsError
        Prices that break CONTRACTS §2, lack a portfolio symbol, or hold fewer than two
        dates inside the training window.
    """
    from ganjobs.data.prices import load_market_data

    data = load_market_data(prices, symbols)
    dates = pd.DatetimeIndex(data.dates)
    mask = np.ones(len(dates), dtype=bool)
    block = manifest.get("data") if isinstance(manifest.get("data"), dict) else {}
    first, last = block.get("first_date"), block.get("last_date")
    try:
        if first:
            mask &= dates >= pd.Timestamp(first)
        if last:
            mask &= dates <= pd.Timestamp(last)
    except (ValueError, TypeError) as exc:
        raise GanjobsError(f"scenario manifest: unreadable data.first_date/last_date "
                           f"({first!r}, {last!r})") from exc
    closes = data.closes[mask]
    if len(closes) < 2:
        raise GanjobsError(f"{prices}: fewer than 2 dates inside the scenario set's training "
                           f"window {first}..{last}")
    kept = dates[mask]
    return RealReturns(
        returns=np.diff(np.log(closes), axis=0),
        dates=kept.to_numpy("datetime64[ns]"),
        record={
            "location": prices,
            "sha256": data.fingerprint,
            "first_date": str(kept[0].date()),
            "last_date": str(kept[-1].date()),
            "n_returns": int(len(closes) - 1),
            "window_from_manifest": bool(first or last),
        },
    )


def stress_historical(real: RealReturns, port: Portfolio, horizons: list[int],
                      tails: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Historical simulation: every overlapping ``h``-day window of the real returns.

    Each horizon uses all of its ``T − h + 1`` windows; the reverse stress uses the windows of
    the longest horizon. Worst records carry the window's ``start_date`` (close before the
    first return) and ``end_date``. When ``tails`` is given, the P&L at the longest horizon
    is stored in it under ``"historical"`` (for the plot).
    """
    T = len(real.returns)
    dates = pd.DatetimeIndex(real.dates)

    def labels(i: int, h: int) -> dict[str, str]:
        return {"start_date": str(dates[i].date()), "end_date": str(dates[i + h].date())}

    out: dict[str, Any] = {"kind": "historical", **real.record, "horizons": {}}
    for h in horizons:
        if T < h:
            out["horizons"][str(h)] = {"skipped": f"only {T} real returns, fewer than {h}"}
            continue
        windows = overlapping_windows(real.returns, h)
        acc = _accumulator(len(windows), port, [h], f"historical {h}-day windows")
        acc.update(np.arange(len(windows)), windows)
        res = acc.finalize()
        out["horizons"][str(h)] = {**res.measures(0), "worst": res.worst_records(0, labels)}
        if h == horizons[-1]:
            out["reverse_stress"] = res.reverse_stress()
            if tails is not None:
                tails["historical"] = res.pnl[:, 0]
    out.setdefault("reverse_stress", None)
    return out


def _baseline_seed(seed: int, name: str) -> np.random.Generator:
    # Keyed by name, not position, so adding a baseline does not change the others' draws.
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def resolve_baselines(requested: list[str] | None) -> tuple[list[str], str | None]:
    """Baseline names to run and, when none can run, why.

    Parameters
    ----------
    requested : list of str or None
        None: all of :data:`ganjobs.baselines.BASELINES`; ``[]``: none.

    Raises
    ------
    GanjobsError
        When a requested name is not a known baseline.
    """
    if requested is not None and not requested:
        return [], "no baselines requested"
    try:
        from ganjobs.baselines import BASELINES
    except ImportError as exc:
        if requested:
            raise GanjobsError(f"baselines unavailable: {exc}") from exc
        return [], f"ganjobs.baselines unavailable ({exc})"
    known = list(BASELINES)
    if requested is None:
        return known, None
    unknown = [b for b in requested if b not in known]
    if unknown:
        raise GanjobsError(f"unknown baseline(s) {', '.join(unknown)}; known: "
                           f"{', '.join(known)}")
    return list(dict.fromkeys(requested)), None


def stress_baseline(name: str, real: RealReturns, port: Portfolio, horizons: list[int],
                    n: int, seed: int, tails: dict[str, np.ndarray] | None = None
                    ) -> dict[str, Any]:
    """Measures over ``n`` paths of one baseline generator fitted on the real returns.

    The generator is ``numpy.random.default_rng([seed, crc32(name)])``, drawn in batches of
    :data:`BASELINE_BATCH` paths. When ``tails`` is given, the P&L at the longest horizon is
    stored in it under ``"baseline:<name>"``.
    """
    from ganjobs.baselines import simulate_baseline

    rng = _baseline_seed(seed, name)
    acc = _accumulator(n, port, horizons, f"baseline {name}")
    for start in range(0, n, BASELINE_BATCH):
        m = min(BASELINE_BATCH, n - start)
        # One generator across batches: the draws continue, the batches do not repeat.
        paths = np.asarray(simulate_baseline(name, real.returns, m, horizons[-1], rng))
        acc.update(np.arange(start, start + m), paths)
    res = acc.finalize()
    res.extra = {"kind": "baseline", "name": name, "seed": int(seed)}
    if tails is not None:
        tails[f"baseline:{name}"] = res.pnl[:, -1]
    return res.to_dict()


# --------------------------------------------------------------------------- command


def _same_location(a: str, b: str) -> bool:
    try:
        return split_url(a) == split_url(b)
    except GanjobsError:
        return False


def run_stress(scenarios: str, portfolio: str, out: str, prices: str | None = None, *,
               overwrite: bool = False, seed: int = 0, baselines: list[str] | None = None,
               scenarios_location: str | None = None) -> dict[str, Any]:
    """Stress a portfolio over a scenario set and publish the results at ``out``.

    Everything is validated and computed before the first write, so bad input leaves ``out``
    untouched. The folder is written atomically: ``pnl.parquet``, ``stress.json``,
    ``stress.png``, then ``manifest.json`` and ``_SUCCESS``.

    Parameters
    ----------
    scenarios : str
        URL of a published scenario set (CONTRACTS §3).
    portfolio : str
        URL of the portfolio YAML (see :mod:`ganjobs.data.portfolio`).
    out : str
        Folder URL to publish to.
    prices : str, optional
        Real prices (CONTRACTS §2) for the historical simulation and the baselines; without
        it only the scenario set is stressed.
    overwrite : bool
        Replace a folder already published at ``out``.
    seed : int
        Seed of the baseline generators.
    baselines : list of str, optional
        Baselines to compare with; None means all, ``[]`` none.
    scenarios_location : str, optional
        Where the set is published for readers, when ``scenarios`` is a staging copy that
        is stressed before publication (the pipeline); recorded instead of ``scenarios``.

    Returns
    -------
    dict
        ``{"out": out, "results": <the content of stress.json>}``.

    Raises
    ------
    GanjobsError
        Bad input: unreadable or invalid portfolio, a set without ``_SUCCESS``, a symbol the
        set (or the prices) lack, a horizon longer than the set, ``out`` already published.
    """
    from ganjobs.core.version import code_version
    from ganjobs.scenarios import open_scenarios
    from ganjobs.stress.report import render_plot

    # ---- validate everything before computing or writing anything
    port_bytes = read_bytes(portfolio)
    port = parse_portfolio(port_bytes, source=portfolio)
    sset = open_scenarios(scenarios)
    missing = [s for s in port.symbols if s not in sset.symbols]
    if missing:
        raise GanjobsError(f"{portfolio}: unknown symbol(s) {', '.join(missing)}; the scenario "
                           f"set has {', '.join(sset.symbols)}")
    horizons = port.resolve_horizons(sset.horizon, source=portfolio)
    if _same_location(out, scenarios):
        raise GanjobsError(f"{out}: the output folder must not be the scenario set itself")
    if not overwrite and is_published(out):
        raise GanjobsError(f"{out} already holds published results; pass --overwrite to "
                           f"replace them")
    real = load_real_returns(prices, port.symbols, sset.manifest) if prices else None
    names, skipped = resolve_baselines(baselines) if real is not None else (
        [], "no --prices given (baselines are fitted on real returns)")

    # ---- compute
    res = stress_scenario_set(sset, port, horizons)
    sources: dict[str, Any] = {"ganjobs": {"kind": "ganjobs", **res.to_dict()}}
    tails: dict[str, np.ndarray] = {}
    if real is not None:
        sources["historical"] = stress_historical(real, port, horizons, tails)
    else:
        sources["historical"] = {"kind": "historical", "skipped": "no --prices given"}
    n_base = min(sset.n_scenarios, BASELINE_MAX)
    for name in names:
        try:
            sources[f"baseline:{name}"] = stress_baseline(name, real, port, horizons, n_base,
                                                          seed, tails)
        except Exception as exc:  # noqa: BLE001 - one failing baseline must not sink the report
            # (also GanjobsError: e.g. too few real returns for a GARCH fit is not bad input
            # to the stress command, whose own inputs were all validated above)
            log.warning("baseline %s failed: %s", name, exc)
            sources[f"baseline:{name}"] = {"kind": "baseline", "name": name,
                                           "error": f"{type(exc).__name__}: {exc}"}
    m = sset.manifest
    results: dict[str, Any] = {
        "format": FORMAT,
        "portfolio": {
            "location": portfolio,
            "sha256": sha256_bytes(port_bytes),
            **port.model_dump(),
            "gross_notional": port.gross_notional,
            "loss_threshold": port.threshold,
            "loss_threshold_source": "file" if port.loss_threshold is not None
            else "default: 10% of gross notional",
        },
        "scenarios": {
            "location": scenarios_location or scenarios,
            "n_scenarios": sset.n_scenarios,
            "horizon": sset.horizon,
            "seed": m.get("seed"),
            "model": m.get("model"),
            "data": m.get("data"),
        },
        "horizons": horizons,
        "conventions": {
            "pnl": "sum over symbols of notional * (exp(sum of log returns to h) - 1)",
            "var": "VaR_a = -q_{1-a}(P&L), q_p = ceil(n*p)-th smallest P&L; positive = loss",
            "es": "ES_a = -mean(P&L | P&L <= -VaR_a)",
            "breach": "P&L <= -loss_threshold",
            "reverse_stress": "mean cumulative return per step over scenarios breaching the "
                              "threshold at the longest horizon",
        },
        "baselines_skipped": skipped,
        "sources": sources,
    }

    # ---- publish
    table = pa.table({"scenario": pa.array(np.arange(sset.n_scenarios, dtype=np.int64)),
                      **{f"pnl_h{h}": res.pnl[:, j] for j, h in enumerate(horizons)}})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    png = render_plot(results, res, sources, tails)
    body = json.dumps(results, indent=1, allow_nan=False).encode()
    with Publisher(out, overwrite=overwrite) as pub:
        pub.write_part("pnl.parquet", buf.getvalue(), rows=sset.n_scenarios)
        pub.write_part("stress.json", body, rows=1)
        pub.write_part("stress.png", png, rows=1)
        pub.commit({
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "scenarios": scenarios,
            "portfolio": {"location": portfolio, "sha256": sha256_bytes(port_bytes)},
            "prices": real.record if real is not None else None,
            "horizons": horizons,
        })
    return {"out": out, "results": results}
