"""``ganjobs stress``: validate the inputs, stress every source, publish the results folder.

The P&L and measure conventions are in :mod:`ganjobs.stress.accumulator` and
:mod:`ganjobs.stress.measures`, the sources compared in :mod:`ganjobs.stress.sources`; the
folder's layout is described in docs/formats.md.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ganjobs.core.seeds import check_seed
from ganjobs.data.portfolio import Portfolio, parse_portfolio
from ganjobs.errors import GanjobsError
from ganjobs.io.publisher import Publisher, precheck_out
from ganjobs.io.storage import read_bytes, sha256_bytes, split_url
from ganjobs.stress.accumulator import StressResult
from ganjobs.stress.sources import (
    BASELINE_MAX,
    RealReturns,
    load_real_returns,
    resolve_baselines,
    run_baselines,
    stress_historical,
    stress_scenario_set,
)

FORMAT = "ganjobs.stress/1"

#: The rules behind the numbers, in words, recorded in ``stress.json``.
CONVENTIONS = {
    "pnl": "sum over symbols of notional * (exp(sum of log returns to h) - 1)",
    "var": "VaR_a = -q_{1-a}(P&L), q_p = ceil(n*p)-th smallest P&L; positive = loss",
    "es": "ES_a = -mean(P&L | P&L <= -VaR_a)",
    "breach": "P&L <= -loss_threshold",
    "reverse_stress": "mean cumulative return per step over scenarios breaching the "
                      "threshold at the longest horizon",
}


@dataclass
class _Inputs:
    """Everything validated before the first computation."""

    port: Portfolio
    port_bytes: bytes
    sset: Any
    horizons: list[int]
    seed: int
    real: RealReturns | None
    baselines: list[str]
    baselines_skipped: str | None


def _same_location(a: str, b: str) -> bool:
    try:
        return split_url(a) == split_url(b)
    except GanjobsError:
        return False


def _validate(scenarios: str, portfolio: str, out: str, prices: str | None, overwrite: bool,
              seed: int, baselines: list[str] | None) -> _Inputs:
    """Read and check every input, and the output location, before anything is computed."""
    from ganjobs.scenarios import open_scenarios

    seed = check_seed(seed)
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
    precheck_out(out, overwrite=overwrite)
    real = load_real_returns(prices, port.symbols, sset.manifest) if prices else None
    names, skipped = resolve_baselines(baselines) if real is not None else (
        [], "no --prices given (baselines are fitted on real returns)")
    return _Inputs(port, port_bytes, sset, horizons, seed, real, names, skipped)


def _compute(inp: _Inputs) -> tuple[StressResult, dict[str, Any], dict[str, np.ndarray]]:
    """The set's result, every source's JSON, and the longest-horizon P&L of the others."""
    res = stress_scenario_set(inp.sset, inp.port, inp.horizons)
    sources: dict[str, Any] = {"ganjobs": {"kind": "ganjobs", **res.to_dict()}}
    tails: dict[str, np.ndarray] = {}
    if inp.real is None:
        sources["historical"] = {"kind": "historical", "skipped": "no --prices given"}
        return res, sources, tails
    sources["historical"] = stress_historical(inp.real, inp.port, inp.horizons, tails)
    n_base = min(inp.sset.n_scenarios, BASELINE_MAX)
    sources.update(run_baselines(inp.baselines, inp.real, inp.port, inp.horizons, n_base,
                                 inp.seed, tails))
    return res, sources, tails


def _results(inp: _Inputs, portfolio: str, scenarios_location: str,
             sources: dict[str, Any]) -> dict[str, Any]:
    """The content of ``stress.json``."""
    port, m = inp.port, inp.sset.manifest
    return {
        "format": FORMAT,
        "portfolio": {
            "location": portfolio,
            "sha256": sha256_bytes(inp.port_bytes),
            **port.model_dump(),
            # "gross_notional" when the file has no base_value; notes then say so.
            "base_value_source": port.base_value_source,
            "notes": port.notes,
            "gross_notional": port.gross_notional,
            "loss_threshold": port.threshold,
            "loss_threshold_source": "file" if port.loss_threshold is not None
            else "default: 10% of gross notional",
        },
        "scenarios": {
            "location": scenarios_location,
            "n_scenarios": inp.sset.n_scenarios,
            "horizon": inp.sset.horizon,
            "seed": m.get("seed"),
            "model": m.get("model"),
            "data": m.get("data"),
        },
        "horizons": inp.horizons,
        "conventions": CONVENTIONS,
        "baselines_skipped": inp.baselines_skipped,
        "sources": sources,
    }


def _pnl_parquet(res: StressResult) -> bytes:
    """``pnl.parquet``: scenario id and one P&L column per horizon."""
    table = pa.table({"scenario": pa.array(np.arange(len(res.pnl), dtype=np.int64)),
                      **{f"pnl_h{h}": res.pnl[:, j] for j, h in enumerate(res.horizons)}})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


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
        URL of a published scenario set (docs/formats.md).
    portfolio : str
        URL of the portfolio YAML (see :mod:`ganjobs.data.portfolio`).
    out : str
        Folder URL to publish to.
    prices : str, optional
        Real prices (input layout, docs/formats.md) for the historical simulation and the
        baselines; without it only the scenario set is stressed.
    overwrite : bool
        Replace a folder already published at ``out``.
    seed : int
        Seed of the baseline generators, in ``[0, 2**63)``.
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
        set (or the prices) lack, a horizon longer than the set, a seed out of range, an
        output location the publisher would refuse (``out`` already published, a file, a
        folder holding other files).
    """
    from ganjobs.core.version import code_version
    from ganjobs.stress.report import render_plot

    inp = _validate(scenarios, portfolio, out, prices, overwrite, seed, baselines)
    res, sources, tails = _compute(inp)
    results = _results(inp, portfolio, scenarios_location or scenarios, sources)
    png = render_plot(results, res, sources, tails)
    body = json.dumps(results, indent=1, allow_nan=False).encode()
    with Publisher(out, overwrite=overwrite) as pub:
        pub.write_part("pnl.parquet", _pnl_parquet(res), rows=inp.sset.n_scenarios)
        pub.write_part("stress.json", body, rows=1)
        pub.write_part("stress.png", png, rows=1)
        pub.commit({
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "scenarios": scenarios,
            "portfolio": {"location": portfolio, "sha256": sha256_bytes(inp.port_bytes),
                          "base_value": inp.port.base_value,
                          "base_value_source": inp.port.base_value_source},
            "prices": inp.real.record if inp.real is not None else None,
            "horizons": inp.horizons,
        })
    return {"out": out, "results": results}
