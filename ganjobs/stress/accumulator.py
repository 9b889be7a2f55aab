"""Streaming P&L of scenario paths: exact P&L per scenario, running top-k, reverse-stress sums.

Conventions
-----------
* P&L is linear in the positions: a scenario's P&L at horizon ``h`` (days) is
  ``Σ_symbols notional · (exp(Σ_{t≤h} r_t) − 1)`` with ``r_t`` the scenario's log returns.
  No rebalancing, no funding, no FX: notionals are in the base currency.
* The P&L of every scenario is kept (``n × horizons`` float64), so VaR and ES are exact;
  everything else is running sums and a running top-k.
* Worst scenarios are ordered by P&L ascending; ties go to the smaller scenario id, so the
  result does not depend on how the scenarios are split into blocks.
* Reverse stress is computed at the longest horizon: the mean over breaching scenarios of
  each symbol's cumulative return ``exp(Σ_{t≤s} r_t) − 1`` at every step ``s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganjobs.data.portfolio import Portfolio
from ganjobs.errors import GanjobsError
from ganjobs.stress.measures import risk_measures

#: Scenarios converted to float64 at a time: bounds memory whatever the block size
#: (8192 × 252 steps × 3 symbols × 8 bytes ≈ 50 MB).
CHUNK = 8192


@dataclass
class TopK:
    """The ``k`` lowest P&L seen so far at one horizon, with their cumulative log paths."""

    k: int
    pnl: np.ndarray
    ids: np.ndarray
    cum: np.ndarray  # (m, steps, n_symbols) cumulative log returns

    def merge(self, pnl: np.ndarray, ids: np.ndarray, cum: np.ndarray) -> None:
        """Fold a block's P&L, ids and cumulative paths into the ``k`` lowest."""
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
    worst: list[TopK]
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
            TopK(worst_k, np.empty(0), np.empty(0, np.int64), np.empty((0, self.steps, k)))
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


def accumulator_for(port: Portfolio, n: int, horizons: list[int], source: str
                    ) -> StressAccumulator:
    """A :class:`StressAccumulator` of ``n`` scenarios for the positions of ``port``."""
    return StressAccumulator(
        n=n, symbols=port.symbols, notionals=[port.positions[s] for s in port.symbols],
        horizons=horizons, threshold=port.threshold, worst_k=port.worst_k,
        base_value=port.base_value, source=source,
    )
