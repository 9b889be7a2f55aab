"""The conditional baselines by name.

``fhs``
    Filtered historical simulation with GJR-GARCH(1,1)-t volatility
    (:mod:`ganjobs.forecast.fhs`).
``garch-t``
    GARCH(1,1) with Student-t innovations and a Gaussian copula
    (:mod:`ganjobs.forecast.garch`).
``hs-250``, ``hs-500``
    Historical simulation over the last 250 / 500 daily returns
    (:mod:`ganjobs.forecast.historical`); any ``hs-W`` with an integer ``W`` is accepted.
"""

from __future__ import annotations

import re
from typing import Any

from ganjobs.errors import GanjobsError
from ganjobs.forecast.base import Forecaster
from ganjobs.forecast.fhs import FilteredHistoricalSimulation
from ganjobs.forecast.garch import GarchT
from ganjobs.forecast.historical import HistoricalSimulation

__all__ = ["CONDITIONAL_BASELINES", "Forecaster", "make_forecaster"]

CONDITIONAL_BASELINES: tuple[str, ...] = ("fhs", "garch-t", "hs-250", "hs-500")


def make_forecaster(name: str, **options: Any) -> Forecaster:
    """A new, unfitted forecaster.

    Parameters
    ----------
    name : str
        One of :data:`CONDITIONAL_BASELINES`, or ``hs-W`` for another window ``W``.
    **options
        None is accepted yet; any given is refused rather than ignored.

    Returns
    -------
    Forecaster

    Raises
    ------
    GanjobsError
        An unknown name or option.
    """
    if options:
        raise GanjobsError(f"forecaster {name!r} takes no options, got "
                           f"{', '.join(sorted(options))}")
    if name == "fhs":
        return FilteredHistoricalSimulation()
    if name == "garch-t":
        return GarchT()
    match = re.fullmatch(r"hs-([1-9][0-9]*)", name)
    if match:
        return HistoricalSimulation(int(match.group(1)))
    raise GanjobsError(f"unknown conditional baseline {name!r}; choose from "
                       f"{', '.join(CONDITIONAL_BASELINES)} (or hs-W for a W-day window)")
