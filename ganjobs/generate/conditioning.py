"""What a scenario set starts from: the market's state at an as-of date, or the long run.

:func:`resolve_sampler` turns a model and the generation options into the object whose
``sample`` draws the set's blocks, and the ``conditioning`` record its manifest carries:

- a conditional model with prices: paths start from the state at ``as_of`` (default: the last
  price date), computed from prices up to and including that date only;
- a conditional model with ``unconditional``: each path starts from a state drawn from the
  model's training years (the model's long-run distribution);
- a long-run (unconditional) model: as before, with ``unconditional`` implied.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.model import condition


def parse_as_of(value: Any) -> pd.Timestamp | None:
    """``--as-of`` as a date (``None`` when not given); refuses anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):  # a date (or a midnight timestamp) from the Python API
        value = value.isoformat()[:10] if pd.Timestamp(value) == pd.Timestamp(
            value).normalize() else value.isoformat()
    ts = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):  # ISO only: 01/02/2008 is ambiguous
        try:
            ts = pd.Timestamp(str(value))
        except (ValueError, TypeError):
            ts = None
    if ts is None or pd.isna(ts) or ts.tz is not None or ts != ts.normalize():
        raise GanjobsError(f"--as-of {value!r}: give a date as YYYY-MM-DD")
    return ts


def resolve_sampler(gan: Any, prices: str | None, as_of: Any,
                    unconditional: bool) -> tuple[Any, dict[str, Any]]:
    """``(sampler, conditioning record)`` for the generation options (see module doc)."""
    when = parse_as_of(as_of)
    if not gan.conditional:
        if when is not None or (prices and not unconditional):
            raise GanjobsError(f"{gan.url}: this model draws long-run paths only (trained "
                               "without conditioning); drop --prices/--as-of, or train with "
                               "--preset daily")
        return gan, {"mode": "long-run", "model_conditional": False}
    if not prices:
        raise GanjobsError(f"{gan.url}: a conditional model needs --prices (the history its "
                           "paths start from)")
    from ganjobs.data.prices import load_market_data

    data = load_market_data(prices, gan.symbols)
    if unconditional:
        if when is not None:
            raise GanjobsError("--as-of and --unconditional exclude each other")
        return _long_run(gan, data)
    return _as_of(gan, data, when)


def _history(gan: Any, data: Any, upto: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised and log returns up to and including return ``upto``."""
    returns = np.asarray(data.returns[: upto + 1], dtype=np.float64)
    return gan.preprocessor.transform(returns), returns


def _as_of(gan: Any, data: Any, when: pd.Timestamp | None) -> tuple[Any, dict[str, Any]]:
    from ganjobs.model.conditional_sample import StateSampler

    dates = pd.DatetimeIndex(data.dates)
    ret_dates = dates[1:]  # return i ends on price date i + 1
    day = ret_dates[-1] if when is None else when
    upto = int(ret_dates.searchsorted(day, side="right")) - 1
    cc = gan.config.condition
    need = condition.first_origin(cc.past)
    if upto < need:
        raise GanjobsError(f"{data.source}: the state at {day.date()} needs at least "
                           f"{need + 2} prices up to that date, found {max(upto + 2, 0)}")
    x, returns = _history(gan, data, upto)
    st = condition.states(x, np.array([upto]), cc.past, cc.vol_decay)
    record = {
        "mode": "as-of",
        "as_of": str(ret_dates[upto].date()),
        "as_of_requested": None if when is None else str(when.date()),
        "history": {"location": data.source, "first_date": str(dates[0].date()),
                    "last_date": str(ret_dates[upto].date()), "returns": upto + 1,
                    "sha256": condition.history_sha256(ret_dates[: upto + 1], returns)},
        "state": {**condition.summary(returns, gan.symbols),
                  "ewma_vol_halflife": cc.vol_halflife,
                  "ewma_vol_relative": {s: float(st.sigma[0, j])
                                        for j, s in enumerate(gan.symbols)}},
    }
    return StateSampler(gan, st), record


def _long_run(gan: Any, data: Any) -> tuple[Any, dict[str, Any]]:
    from ganjobs.model.conditional_sample import StateSampler

    rec = gan.meta.get("data") or {}
    dates = pd.DatetimeIndex(data.dates)[1:]
    first, last = rec.get("first_date"), rec.get("last_date")
    if not first or not last:
        raise GanjobsError(f"{gan.url}: the model records no training dates to draw "
                           "long-run states from")
    inside = np.flatnonzero((dates > pd.Timestamp(first)) & (dates <= pd.Timestamp(last)))
    cc = gan.config.condition
    origins = inside[inside >= condition.first_origin(cc.past)]
    if len(origins) == 0:
        raise GanjobsError(f"{data.source}: no prices inside the model's training years "
                           f"({first} to {last}) to draw long-run states from")
    x, returns = _history(gan, data, int(origins[-1]))
    st = condition.states(x, origins, cc.past, cc.vol_decay)
    return StateSampler(gan, st), {
        "mode": "long-run", "model_conditional": True,
        "states": {"first_date": str(dates[origins[0]].date()),
                   "last_date": str(dates[origins[-1]].date()), "count": int(len(origins))},
        "history": {"location": data.source,
                    "sha256": condition.history_sha256(dates[: origins[-1] + 1], returns)},
    }
