"""The sources a portfolio is stressed over, side by side in ``stress.json``'s ``sources``.

* ``ganjobs``: the scenario set, streamed part by part (:func:`stress_scenario_set`).
* ``historical``: every overlapping ``h``-day window of the real log returns (``--prices``)
  inside the set's training window (:func:`stress_historical`). The window is the one
  recorded at training in the manifest's ``data`` block, read back by
  :func:`ganjobs.core.split.read_split`, so history, the evaluation and the model all see
  the same returns. Each horizon uses all its ``T − h + 1`` windows.
* ``baseline:<name>``: ``min(N, 20000)`` paths of each baseline generator of
  :mod:`ganjobs.baselines`, fitted on the same real returns, each drawing from its own named
  seed stream (:func:`stress_baseline`). Baselines need real returns, so they run only when
  prices are given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ganjobs.core.seeds import stream
from ganjobs.core.split import read_split
from ganjobs.core.windows import sliding_windows
from ganjobs.data.portfolio import Portfolio
from ganjobs.errors import GanjobsError
from ganjobs.stress.accumulator import StressResult, accumulator_for

log = logging.getLogger(__name__)

#: Paths drawn from each baseline generator at most.
BASELINE_MAX = 20_000
#: Baseline paths simulated per call: the generators hold several (n, H, k) float64 arrays
#: while simulating, so batches keep the peak memory small. Part of the seeded result.
BASELINE_BATCH = 5_000


def stress_scenario_set(sset: Any, port: Portfolio, horizons: list[int]) -> StressResult:
    """Stream a scenario set part by part through a stress accumulator.

    Parameters
    ----------
    sset : ganjobs.scenarios.ScenarioSet
        An opened, published set holding every portfolio symbol.
    port : Portfolio
    horizons : list of int
        Sorted horizons, all ≤ the set's horizon.

    Raises
    ------
    GanjobsError
        A part that does not follow the scenario layout, or ids missing or repeated.
    """
    acc = accumulator_for(port, sset.n_scenarios, horizons, sset.url)
    try:
        for i, (ids, paths) in enumerate(sset.iter_paths(port.symbols)):
            acc.update(ids, paths)
            log.debug("stress: part %d, %d/%d scenarios", i, acc.count, acc.n)
    except (ValueError, KeyError, pa.ArrowException) as exc:
        # Rows not a multiple of the horizon, a missing column: see docs/formats.md.
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise GanjobsError(f"{sset.url}: malformed scenario part ({first})") from exc
    return acc.finalize()


@dataclass
class RealReturns:
    """Real log returns of the portfolio symbols over the set's training window."""

    returns: np.ndarray  # (T, k)
    dates: np.ndarray  # (T + 1,) close dates; return t ends on dates[t + 1]
    record: dict[str, Any]


def load_real_returns(prices: str, symbols: list[str], manifest: dict[str, Any]
                      ) -> RealReturns:
    """Load real prices and keep the training window the set's manifest records.

    Without training dates in the manifest, :func:`ganjobs.core.split.read_split`'s default
    applies (the first 90% of the returns); ``record["window_source"]`` and
    ``record["window_note"]`` say which.

    Raises
    ------
    GanjobsError
        Prices that do not follow the input layout (docs/formats.md), lack a portfolio
        symbol, or hold no return inside the training window; an unreadable recorded date.
    """
    from ganjobs.data.prices import load_market_data

    data = load_market_data(prices, symbols)
    block = manifest.get("data") if isinstance(manifest.get("data"), dict) else {}
    split = read_split(data.dates, block)
    idx = np.flatnonzero(split.train_mask)
    if not len(idx):
        raise GanjobsError(f"{prices}: no returns inside the scenario set's training window "
                           f"{block.get('first_date')}..{block.get('last_date')}")
    # A window of consecutive dates: returns lo..hi-1 end on dates lo+1..hi.
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    span = split.span(data.dates, "train")
    return RealReturns(
        returns=data.returns[lo:hi],
        dates=data.dates[lo:hi + 1],
        record={
            "location": prices,
            "sha256": data.fingerprint,
            "first_date": span["first_date"],
            "last_date": span["last_date"],
            "n_returns": span["n_returns"],
            "window_from_manifest": split.source == "manifest",
            "window_source": split.source,
            "window_note": split.note,
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
        windows = sliding_windows(real.returns, h)
        acc = accumulator_for(port, len(windows), [h], f"historical {h}-day windows")
        acc.update(np.arange(len(windows)), windows)
        res = acc.finalize()
        out["horizons"][str(h)] = {**res.measures(0), "worst": res.worst_records(0, labels)}
        if h == horizons[-1]:
            out["reverse_stress"] = res.reverse_stress()
            if tails is not None:
                tails["historical"] = res.pnl[:, 0]
    out.setdefault("reverse_stress", None)
    return out


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

    The paths are drawn from the seed stream named after the baseline
    (:func:`ganjobs.core.seeds.stream`), so adding a baseline never changes another's
    draws, in batches of :data:`BASELINE_BATCH` paths. When ``tails`` is given, the P&L at
    the longest horizon is stored in it under ``"baseline:<name>"``.
    """
    from ganjobs.baselines import simulate_baseline

    rng = stream(seed, name)
    acc = accumulator_for(port, n, horizons, f"baseline {name}")
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


def run_baselines(names: list[str], real: RealReturns, port: Portfolio, horizons: list[int],
                  n: int, seed: int, tails: dict[str, np.ndarray]) -> dict[str, Any]:
    """:func:`stress_baseline` for each name, keyed ``baseline:<name>``.

    A baseline that fails is recorded with its error instead of failing the stress test:
    every input was validated before, so e.g. too few real returns for a GARCH fit is a
    limit of that baseline, not bad input.
    """
    out: dict[str, Any] = {}
    for name in names:
        try:
            out[f"baseline:{name}"] = stress_baseline(name, real, port, horizons, n, seed,
                                                      tails)
        except Exception as exc:  # noqa: BLE001 - one failing baseline must not sink the report
            log.warning("baseline %s failed: %s", name, exc)
            out[f"baseline:{name}"] = {"kind": "baseline", "name": name,
                                       "error": f"{type(exc).__name__}: {exc}"}
    return out
