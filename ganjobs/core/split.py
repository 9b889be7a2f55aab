"""The training/holdout split: decided once, at training, and read back from the record.

Training keeps the last ``holdout_fraction`` of the returns out (:func:`split_holdout`) and
records both windows' dates in the model folder's ``data`` block, which every scenario set's
manifest carries on. The evaluation and the stress test read that record back
(:func:`read_split`) and cut the same returns out of the prices they are given, so the
"real" side of every comparison is exactly what the model learnt from, and the holdout is
exactly what it never saw.

Return ``t`` of a price series runs from ``dates[t]`` to ``dates[t + 1]``: a return belongs
to the training window when both its dates lie inside ``[first_date, last_date]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ganjobs.errors import GanjobsError

if TYPE_CHECKING:
    from ganjobs.data.prices import MarketData

#: Holdout share assumed for a record without training dates (the training default).
DEFAULT_HOLDOUT_FRACTION = 0.1


def holdout_count(n: int, fraction: float) -> int:
    """Returns held out of ``n``: ``⌈fraction · n⌉`` (none for fraction 0)."""
    return math.ceil(fraction * n) if fraction > 0 else 0


@dataclass(frozen=True)
class TrainingSplit:
    """Training window and held-out tail of the returns, as decided at training.

    ``train`` holds returns ``0 .. n_train-1``, ending on ``dates[1] .. dates[n_train]``;
    the holdout holds the rest, ending on ``dates[n_train+1] .. dates[-1]``.
    """

    train: np.ndarray
    n_train: int
    n_holdout: int
    record: dict[str, Any]


def split_holdout(data: MarketData, holdout_fraction: float, min_train: int) -> TrainingSplit:
    """Keep the last ``holdout_fraction`` of returns out of training; record the dates.

    Parameters
    ----------
    data : MarketData
    holdout_fraction : float
        Share of the most recent returns held out, in ``[0, 1)``.
    min_train : int
        Fewest training returns accepted.

    Raises
    ------
    GanjobsError
        When fewer than ``min_train`` returns remain for training.
    """
    n = int(data.returns.shape[0])
    n_holdout = holdout_count(n, holdout_fraction)
    n_train = n - n_holdout
    if n_train < min_train:
        raise GanjobsError(
            f"{data.source}: the training window holds {n_train} returns ({n} in all, "
            f"{n_holdout} held out); need at least {min_train}")

    def day(i: int) -> str:
        return str(np.datetime_as_string(data.dates[i], unit="D"))

    record = dict(data.data_record())
    record.update({
        "input_first_date": record["first_date"],
        "input_last_date": record["last_date"],
        # The training window in prices: the first return starts on its first date.
        "first_date": day(0),
        "last_date": day(n_train),
        "n_train_returns": n_train,
        "holdout_fraction": holdout_fraction,
        "n_holdout_returns": n_holdout,
        # Returns ending on these dates were never seen in training.
        "holdout_first_date": day(n_train + 1) if n_holdout else None,
        "holdout_last_date": day(n) if n_holdout else None,
    })
    return TrainingSplit(train=data.returns[:n_train], n_train=n_train, n_holdout=n_holdout,
                         record=record)


def split_for_training(data: MarketData, data_config: Any) -> TrainingSplit:
    """The split a training run with ``data_config`` (the config's ``data`` section) makes.

    The training window must hold at least one training window of returns (and 3).
    """
    return split_holdout(data, data_config.holdout_fraction, max(data_config.window, 3))


@dataclass(frozen=True)
class RecordedSplit:
    """The recorded split applied to a price history.

    Attributes
    ----------
    train_mask, holdout_mask : ndarray of bool, shape (T,)
        Over the history's returns.
    source : {"manifest", "fallback"}
        Whether the dates came from the record or the default holdout share was assumed.
    note : str or None
        What a reader of the results should know (no holdout, dates assumed).
    """

    train_mask: np.ndarray
    holdout_mask: np.ndarray
    source: str
    note: str | None

    def span(self, dates: np.ndarray, which: str) -> dict[str, Any]:
        """First and last date and count of the ``"train"`` or ``"holdout"`` returns."""
        mask = self.train_mask if which == "train" else self.holdout_mask
        idx = np.flatnonzero(mask)
        if not len(idx):
            return {"first_date": None, "last_date": None, "n_returns": 0}
        d = pd.DatetimeIndex(dates)
        return {"first_date": str(d[idx[0]].date()), "last_date": str(d[idx[-1] + 1].date()),
                "n_returns": int(len(idx))}


def _date(value: Any, field: str) -> pd.Timestamp | None:
    if value in (None, ""):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise GanjobsError(f"data.{field} is not a date: {value!r}") from exc
    if pd.isna(ts):
        return None
    return ts.tz_localize(None) if ts.tzinfo else ts


def read_split(dates: np.ndarray, record: Mapping[str, Any] | None) -> RecordedSplit:
    """Apply the training window recorded in a ``data`` block to a price history.

    Parameters
    ----------
    dates : ndarray of datetime64, shape (T + 1,)
        Price dates of the history; its ``T`` returns are split.
    record : mapping or None
        A model folder's or manifest's ``data`` block (``first_date``, ``last_date``).
        Without both dates, the last :data:`DEFAULT_HOLDOUT_FRACTION` of the returns is
        taken as the holdout, and the note says the model may have seen it.

    Raises
    ------
    GanjobsError
        An unreadable date in the record.
    """
    record = record or {}
    first = _date(record.get("first_date"), "first_date")
    last = _date(record.get("last_date"), "last_date")
    d = pd.DatetimeIndex(dates)
    start, end = d[:-1], d[1:]
    if first is not None and last is not None:
        train = np.asarray((start >= first) & (end <= last))
        holdout = np.asarray(start >= last)
        note = None if holdout.any() else (
            f"no prices after the training window's last date {last.date()}: no holdout")
        return RecordedSplit(train, holdout, "manifest", note)
    n = len(start)
    cut = n - holdout_count(n, DEFAULT_HOLDOUT_FRACTION)
    train = np.arange(n) < cut
    pct = DEFAULT_HOLDOUT_FRACTION * 100
    note = (f"no training dates recorded: the first {100 - pct:.0f}% of the returns are "
            f"taken as the training window and the last {pct:.0f}% as the holdout; the model "
            f"may have seen the holdout")
    return RecordedSplit(train, ~train, "fallback", note)
