"""The statistics of a VaR/ES backtest of one model, target and horizon, as JSON-ready rows.

:func:`summarise` runs every test of ``docs/backtesting.md`` on the forecasts of one model
for one target and horizon and returns one row per coverage level (99% and 97.5%). The
tests themselves live in :mod:`ganjobs.backtest.coverage` (exceptions and their tests),
:mod:`ganjobs.backtest.scoring` (tick and FZ0 losses, Diebold–Mariano) and
:mod:`ganjobs.backtest.shortfall` (Acerbi–Szekely); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganjobs.backtest.coverage import (
    basel_zones,
    christoffersen_independence,
    conditional_coverage,
    hits,
    kupiec_pof,
    non_overlapping,
    tail_probability,
)
from ganjobs.backtest.scoring import diebold_mariano, fz0_loss, tick_loss
from ganjobs.backtest.shortfall import acerbi_szekely
from ganjobs.core.seeds import check_seed, stream

__all__ = [
    "acerbi_szekely", "basel_zones", "christoffersen_independence", "conditional_coverage",
    "diebold_mariano", "fz0_loss", "hits", "kupiec_pof", "non_overlapping", "summarise",
    "tick_loss",
]

#: Levels of a backtest row; the 99% row tests the VaR, the 97.5% row the VaR and the ES.
LEVELS = (0.99, 0.975)
ES_LEVEL = 0.975


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars made Python ones and NaN or infinities made ``None``."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _dm_p(loss: np.ndarray, ref_loss: np.ndarray | None, horizon: int) -> float | None:
    """Diebold–Mariano p-value of ``loss`` against the reference on rows where both exist."""
    if ref_loss is None:
        return None
    both = np.isfinite(loss) & np.isfinite(ref_loss)
    return diebold_mariano(loss[both], ref_loss[both], horizon)[1]


def _coverage(realized: np.ndarray, var: np.ndarray, mask: np.ndarray,
              horizon: int, level: float) -> dict[str, Any]:
    """Exception counts and the three coverage tests (non-overlapping rows when h > 1)."""
    rows = np.flatnonzero(mask)
    sample = non_overlapping(rows, horizon) if horizon > 1 else rows
    hit_all = hits(realized[rows], var[rows])
    hit_cov = hits(realized[sample], var[sample])
    n, x = int(rows.size), int(hit_all.sum())
    alpha = tail_probability(level)
    return {
        "level": level,
        "n": n,
        "exceptions": x,
        "expected": n * alpha,
        "exception_rate": x / n if n else None,
        "coverage_sample": "non-overlapping" if horizon > 1 else "all",
        "coverage_n": int(sample.size),
        "coverage_exceptions": int(hit_cov.sum()),
        "kupiec_p": kupiec_pof(hit_cov, level)[1],
        "independence_p": christoffersen_independence(hit_cov)[1],
        "cc_p": conditional_coverage(hit_cov, level)[1],
    }


def _level_row(level: float, days: np.ndarray, r: np.ndarray, fc: Mapping[str, np.ndarray],
               ref: Mapping[str, np.ndarray] | None, horizon: int,
               rng: np.random.Generator) -> dict[str, Any]:
    var = fc["var_99"] if level == 0.99 else fc["var_975"]
    mask = np.isfinite(r) & np.isfinite(var)
    row = _coverage(r, var, mask, horizon, level)
    row["zones"] = (basel_zones(days[mask], hits(r[mask], var[mask]))
                    if horizon == 1 and level == 0.99 else None)
    tick = np.where(mask, tick_loss(r, var, level), np.nan)
    row["tick_loss"] = _mean(tick)
    ref_var = None if ref is None else (ref["var_99"] if level == 0.99 else ref["var_975"])
    ref_tick = None if ref_var is None else tick_loss(r, ref_var, level)
    row["dm_tick_p"] = _dm_p(tick, ref_tick, horizon)
    if level == ES_LEVEL:
        row.update(_es_part(r, var, fc["es_975"], mask, ref, horizon, rng))
    return row


def _es_part(r: np.ndarray, var: np.ndarray, es: np.ndarray, mask: np.ndarray,
             ref: Mapping[str, np.ndarray] | None, horizon: int,
             rng: np.random.Generator) -> dict[str, Any]:
    """FZ0 loss, its Diebold–Mariano p-value and the Acerbi–Szekely test at 97.5%."""
    fz0 = np.where(mask, fz0_loss(r, var, es, ES_LEVEL), np.nan)
    ref_fz0 = None if ref is None else fz0_loss(r, ref["var_975"], ref["es_975"], ES_LEVEL)
    rows = np.flatnonzero(mask)
    sample = non_overlapping(rows, horizon) if horizon > 1 else rows
    return {
        "fz0_loss": _mean(fz0),
        "fz0_n": int(np.isfinite(fz0).sum()),
        "dm_fz0_p": _dm_p(fz0, ref_fz0, horizon),
        "es_test": acerbi_szekely(r[sample], var[sample], es[sample], ES_LEVEL, rng),
    }


def _column(name: str, values: Any, n: int) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size != n:
        raise ValueError(f"{name} has {a.size} values for {n} dates")
    return a


def summarise(dates: Sequence[Any] | np.ndarray, realized: Any, var_99: Any, var_975: Any,
              es_975: Any, horizon: int, reference: Mapping[str, Any] | None = None,
              seed: int = 0) -> list[dict[str, Any]]:
    """Backtest rows of one model, target and horizon: one dict per level (99%, 97.5%).

    Parameters
    ----------
    dates : sequence of dates, shape (n,)
        Forecast origins (``datetime.date``, ``datetime64[D]`` or ISO strings).
    realized : array_like, shape (n,)
        Realized h-day simple returns from each origin; NaN where not known yet. Rows with
        a NaN return or a NaN forecast are left out of that level and not counted.
    var_99, var_975, es_975 : array_like, shape (n,)
        Forecasts, positive losses.
    horizon : int
        h in observations. For h > 1 the coverage tests and the ES test use non-overlapping
        origins (every h-th, :func:`non_overlapping`); losses and their Diebold–Mariano
        tests use every origin, with a long-run variance over h − 1 lags.
    reference : mapping, optional
        ``{"var_99", "var_975", "es_975"}`` of the reference model on the same dates; when
        given, ``dm_tick_p`` and ``dm_fz0_p`` test equal accuracy against it.
    seed : int
        Seed of the simulated null of the ES test.

    Returns
    -------
    list of dict
        JSON-ready (Python scalars, ``None`` for undefined values): ``level``, ``n``,
        ``exceptions``, ``expected``, ``exception_rate``, ``coverage_sample``,
        ``coverage_n``, ``coverage_exceptions``, ``kupiec_p``, ``independence_p``,
        ``cc_p``, ``zones`` (99% and h = 1 only, else ``None``), ``tick_loss``,
        ``dm_tick_p``; at 97.5% also ``fz0_loss``, ``fz0_n``, ``dm_fz0_p`` and ``es_test``
        (``z2``, ``p``, ``reject_5pct``, ``n``).
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    days = np.asarray(dates, dtype="datetime64[D]").ravel()
    n = days.size
    r = _column("realized", realized, n)
    fc = {k: _column(k, v, n) for k, v in
          (("var_99", var_99), ("var_975", var_975), ("es_975", es_975))}
    ref = None if reference is None else {
        k: _column(f"reference {k}", reference[k], n) for k in ("var_99", "var_975", "es_975")}
    rng = stream(check_seed(seed), "backtest/acerbi-szekely")
    rows = [_level_row(level, days, r, fc, ref, int(horizon), rng) for level in LEVELS]
    return json_ready(rows)
