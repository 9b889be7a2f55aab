"""How today's prices relate to the prices a model was trained on.

A model records the fingerprint of the prices it read (``data.sha256``, computed by
:func:`ganjobs.data.prices.fingerprint` on the long table of its symbols) and the last
common date of that input (``data.input_last_date``). :func:`prefix_since` restricts today's
prices to the same symbols and to dates up to that day and fingerprints them the same way:
the two fingerprints are equal exactly when the rows the model read are today's rows up to
that day, unchanged, none added or removed. It also counts the common dates after that day:
the model's age in business days of the data.

One case reads as a change although no past row changed: a model trained on prices where one
symbol already had rows after the last common date (a ragged end) fingerprinted those rows,
and today's prefix leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganjobs.data.prices import fingerprint, read_prices
from ganjobs.errors import DataError


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
    """

    upto: str
    sha256: str
    dates_after: int
    last_date: str


def prefix_since(url: str, symbols: list[str], upto: str) -> PrefixCheck:
    """Fingerprint of the prices of ``symbols`` up to ``upto`` and the dates after it.

    Parameters
    ----------
    url : str
        Prices URL (any layout of docs/formats.md).
    symbols : list of str
        The symbols the fingerprint covers, as the model recorded them.
    upto : str
        ISO date, e.g. a model's ``data.input_last_date``.

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
    return PrefixCheck(
        upto=str(day.date()),
        sha256=fingerprint(prices[prices["date"] <= day]),
        dates_after=int(np.sum(common > day)),
        last_date=str(last.date()) if not pd.isna(last) else "",
    )
