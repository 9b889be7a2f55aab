"""Train / holdout / test split of a real table, shared by training and evaluation.

The model learns from the *train* rows only. The *holdout* rows are real rows the model never
saw: privacy metrics compare a synthetic row's distance to train with its distance to holdout.
The *test* rows score the default (PD) models trained on real or synthetic data.

The split is stratified on the target (each part keeps the class shares of the table) and is a
pure function of the table, the target and the seed: training records it in the synthetic
set's manifest and evaluation recomputes it from the real table and compares the hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ganjobs.errors import GanjobsError

PARTS: tuple[str, ...] = ("train", "holdout", "test")
# Stands for a missing target value when stratifying (a missing label is a class of its own).
_MISSING = "\x00missing"


@dataclass(frozen=True)
class TableSplit:
    """Sorted positional row indices (``int64``) of the three parts of one table.

    Attributes
    ----------
    train, holdout, test : numpy.ndarray
        Positions into the frame that was split (``frame.iloc[split.train]``).
    seed : int
        Seed of the split.
    holdout_fraction, test_fraction : float
        Requested shares of the holdout and test parts.
    target : str or None
        The column the split is stratified on.
    table_sha256 : str
        Hash of the frame's content (column names, values in order); evaluation refuses a real
        table whose content differs from the one the model was trained on.
    """

    train: np.ndarray
    holdout: np.ndarray
    test: np.ndarray
    seed: int
    holdout_fraction: float
    test_fraction: float
    target: str | None
    table_sha256: str

    @property
    def sha256(self) -> str:
        """Hash of the three index lists (in part order)."""
        h = hashlib.sha256()
        for name in PARTS:
            h.update(name.encode() + b":")
            h.update(np.ascontiguousarray(getattr(self, name), dtype="<i8").tobytes())
        return h.hexdigest()

    def record(self) -> dict[str, Any]:
        """JSON-able description stored in a synthetic set's manifest under ``"split"``."""
        train_fraction = round(1.0 - self.holdout_fraction - self.test_fraction, 10)
        return {
            "seed": int(self.seed),
            "fractions": {"train": train_fraction, "holdout": self.holdout_fraction,
                          "test": self.test_fraction},
            "rows": {name: len(getattr(self, name)) for name in PARTS},
            "stratified_by": self.target,
            "sha256": self.sha256,
            "table_sha256": self.table_sha256,
        }


def split_table(frame: pd.DataFrame, target: str | None, *, seed: int = 0,
                holdout: float = 0.2, test: float = 0.2) -> TableSplit:
    """Split ``frame`` into train, holdout and test rows, stratified on ``target``.

    Two calls of :func:`sklearn.model_selection.train_test_split` with ``random_state=seed``:
    first the test rows are set aside, then the holdout rows from the rest.

    Parameters
    ----------
    frame : pandas.DataFrame
        The real table (coerced dtypes).
    target : str or None
        Categorical column to stratify on (missing values form a class of their own);
        ``None`` for a plain random split.
    seed : int
        Seed of the split.
    holdout, test : float
        Shares of the rows in the holdout and test parts; the rest is train.

    Returns
    -------
    TableSplit

    Raises
    ------
    GanjobsError
        Bad fractions, an unknown target column, or a table too small to split (some class
        has too few rows to appear in every part).
    """
    _check_fractions(holdout, test)
    n = len(frame)
    labels = _labels(frame, target)
    positions = np.arange(n, dtype=np.int64)
    try:
        rest, test_idx = train_test_split(positions, test_size=test, random_state=seed,
                                          stratify=labels)
        rest_labels = None if labels is None else labels[rest]
        train_idx, holdout_idx = train_test_split(
            rest, test_size=holdout / (1.0 - test), random_state=seed, stratify=rest_labels)
    except ValueError as exc:
        where = f"column {target}" if target else "the table"
        raise GanjobsError(
            f"cannot split {n} rows into train/holdout/test stratified on {where}: {exc}"
        ) from exc
    return TableSplit(train=np.sort(train_idx), holdout=np.sort(holdout_idx),
                      test=np.sort(test_idx), seed=int(seed), holdout_fraction=float(holdout),
                      test_fraction=float(test), target=target,
                      table_sha256=table_sha256(frame))


def split_from_record(frame: pd.DataFrame, record: dict[str, Any], *,
                      source: str = "real table") -> TableSplit:
    """Recompute the split described by ``record`` and check that it is the same one.

    Parameters
    ----------
    frame : pandas.DataFrame
        The real table (coerced dtypes, same schema as at training).
    record : dict
        A :meth:`TableSplit.record` (from a synthetic set's manifest).
    source : str
        Name of the real table in error messages.

    Raises
    ------
    GanjobsError
        When the recomputed split or the table content differ from the record: the real
        table is not the one the model was trained on.
    """
    try:
        fractions = record["fractions"]
        split = split_table(frame, record.get("stratified_by"), seed=int(record["seed"]),
                            holdout=float(fractions["holdout"]), test=float(fractions["test"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise GanjobsError(f"{source}: the recorded split is incomplete ({exc!r})") from exc
    same_rows = split.sha256 == record.get("sha256")
    same_content = record.get("table_sha256") in (None, split.table_sha256)
    if not (same_rows and same_content):
        rows = record.get("rows", {})
        raise GanjobsError(
            f"{source}: the real table is not the one the model was trained on (split hash "
            f"differs; recorded {sum(rows.values()) if rows else '?'} rows, found {len(frame)})"
        )
    return split


def table_sha256(frame: pd.DataFrame) -> str:
    """Hash of a coerced frame's column names and values, independent of the pandas version.

    Floats are hashed as little-endian float64 with every NaN alike, dates as int64
    nanoseconds, everything else as UTF-8 text with a marker for missing values.
    """
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        h.update(b"\x1ecol:" + str(name).encode() + b"\x1f")
        h.update(_column_bytes(col))
    return h.hexdigest()


def _column_bytes(col: pd.Series) -> bytes:
    if pd.api.types.is_datetime64_any_dtype(col):
        values = col.to_numpy(dtype="datetime64[ns]").astype("<i8")
        return b"d" + values.tobytes()
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        values = np.where(np.isnan(values), np.nan, values).astype("<f8")
        return b"f" + values.tobytes()
    texts = ["\x00" if _isna(v) else str(v) for v in col.tolist()]
    return b"s" + "\x1f".join(texts).encode("utf-8", "surrogatepass")


def _isna(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _labels(frame: pd.DataFrame, target: str | None) -> np.ndarray | None:
    if target is None:
        return None
    if target not in frame.columns:
        raise GanjobsError(f"split: target column {target} is not in the table")
    return np.array([_MISSING if _isna(v) else str(v) for v in frame[target].tolist()],
                    dtype=object)


def _check_fractions(holdout: float, test: float) -> None:
    if not (0.0 < holdout < 1.0 and 0.0 < test < 1.0 and holdout + test < 1.0):
        raise GanjobsError(
            f"split: holdout ({holdout}) and test ({test}) must be shares in (0, 1) that leave "
            "rows for training (holdout + test < 1)"
        )
