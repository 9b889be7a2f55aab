"""How today's prices relate to the prices a model was trained on.

A model records the fingerprint of the prices it read (``data.sha256``, computed by
:func:`ganjobs.data.prices.fingerprint` on the long table of its symbols) and the last
common date of that input (``data.input_last_date``). :func:`prefix_since` restricts today's
prices to the same symbols and to dates up to that day and fingerprints them the same way:
the two fingerprints are equal exactly when the rows the model read are today's rows up to
that day, unchanged, none added or removed. It also counts the common dates after that day:
the model's age in business days of the data.

Symbols traded on different calendars end on different days: a model's input may hold rows
of some symbols after its last common date (a ragged end, e.g. the indices on 31 December
and crude oil last on the 28th), and its fingerprint covers them. When the cut at the last
common date does not match, :func:`prefix_since` therefore also tries, per symbol, cuts
after each of that symbol's rows in the :data:`TAIL_DAYS` calendar days that follow (at most
:data:`MAX_CUTS` combinations), and reports the cut that matches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ganjobs.data.prices import fingerprint, read_prices
from ganjobs.errors import DataError

#: Calendar days after the last common date in which a ragged end is looked for.
TAIL_DAYS = 7
#: Combinations of per-symbol cuts tried, at most.
MAX_CUTS = 256


@dataclass(frozen=True)
class PrefixCheck:
    """Today's prices seen from a day in the past.

    Attributes
    ----------
    upto : str
        The day (ISO date) the prefix ends on, inclusive.
    sha256 : str
        Fingerprint of today's rows of the symbols dated on or before ``upto``.
    dates_after : int
        Common dates of the symbols after ``upto`` (business days of data since then).
    last_date : str
        Today's last common date.
    tails : dict of str to str
        Symbols cut after ``upto`` to match the expected fingerprint (a ragged end), with
        the last date kept; empty when the cut at ``upto`` is used.
    """

    upto: str
    sha256: str
    dates_after: int
    last_date: str
    tails: dict[str, str] = field(default_factory=dict)


def prefix_since(url: str, symbols: list[str], upto: str,
                 expected: str | None = None) -> PrefixCheck:
    """Fingerprint of the prices of ``symbols`` up to ``upto`` and the dates after it.

    Parameters
    ----------
    url : str
        Prices URL (any layout of docs/formats.md).
    symbols : list of str
        The symbols the fingerprint covers, as the model recorded them.
    upto : str
        ISO date, e.g. a model's ``data.input_last_date``.
    expected : str, optional
        The fingerprint recorded at training (``data.sha256``); when given and the cut at
        ``upto`` differs, ragged ends are tried (module doc).

    Returns
    -------
    PrefixCheck

    Raises
    ------
    DataError
        Unreadable prices, or a symbol missing from them.
    """
    wanted = list(dict.fromkeys(symbols))
    # The same symbol naming as ganjobs.data.prices.load_market_data for a one-symbol file.
    prices = read_prices(url, wanted[0] if len(wanted) == 1 else None)
    missing = sorted(set(wanted) - set(prices["symbol"].unique()))
    if missing:
        raise DataError(f"{url}: unknown symbol(s) {', '.join(missing)}")
    prices = prices[prices["symbol"].isin(wanted)]
    day = pd.Timestamp(upto)
    common = (prices.pivot(index="date", columns="symbol", values="close")[wanted]
              .dropna(how="any").index)
    last = common.max()
    sha, tails = fingerprint(prices[prices["date"] <= day]), {}
    if expected is not None and sha != expected:
        found = _ragged_match(prices, wanted, day, expected)
        if found is not None:
            sha, tails = expected, found
    return PrefixCheck(
        upto=str(day.date()),
        sha256=sha,
        dates_after=int(np.sum(common > day)),
        last_date=str(last.date()) if not pd.isna(last) else "",
        tails=tails,
    )


def _ragged_match(prices: pd.DataFrame, symbols: list[str], day: pd.Timestamp,
                  expected: str) -> dict[str, str] | None:
    """Per-symbol cuts after ``day`` whose fingerprint is ``expected`` (None: none)."""
    window = (prices["date"] > day) & (prices["date"] <= day + pd.Timedelta(days=TAIL_DAYS))
    options = [[day, *sorted(prices.loc[window & (prices["symbol"] == s), "date"])]
               for s in symbols]
    if int(np.prod([len(o) for o in options])) > MAX_CUTS:
        return None
    cut_of = prices["symbol"].map(dict(zip(symbols, range(len(symbols)), strict=True)))
    for cuts in itertools.product(*options):
        if all(c == day for c in cuts):
            continue  # the plain cut, already compared
        limit = cut_of.map(dict(enumerate(cuts)))
        if fingerprint(prices[prices["date"] <= limit]) == expected:
            return {s: str(c.date()) for s, c in zip(symbols, cuts, strict=True) if c != day}
    return None
