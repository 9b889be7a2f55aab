"""Privacy: does a synthetic table sit closer to the rows the model learnt from than to real
rows it never saw?

Distances are Euclidean on the distance features of :mod:`.encode` (every column, target
included). The train rows are subsampled (seeded, without replacement) to the holdout's size,
so that a model that learnt nothing about individual rows puts each synthetic row closer to
the train sample or to the holdout with even odds.

``share_closer_to_train``
    share of synthetic rows whose nearest train-sample row is strictly closer than their
    nearest holdout row (ties count half): 0.5 = no leak. A copy of the train sample scores 1;
    a copy of all train rows scores ``0.5 + f / 2`` with ``f`` = holdout rows / train rows.
``dcr_ratio``
    median distance to the nearest train-sample row over the median distance to the nearest
    holdout row (1 = no leak, below 1 = closer to train).
``exact_copies``
    synthetic rows equal to some real train row (all train rows) in every column.
``near_copies``
    synthetic rows whose distance to the nearest train row (all train rows) is below the 1st
    percentile of the holdout rows' distances to their nearest train row.
``mia_auc``
    membership inference by distance: a real row's score is minus its distance to the nearest
    synthetic row; AUC of that score for train-sample rows (members) against holdout rows
    (non-members). 0.5 = nothing learnt about membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from ganjobs.tabular.evaluation.encode import Columns, TableEncoder

NEAR_PERCENTILE = 1.0
# Brute-force distances come from the dot-product identity and are off by rounding (about
# 1e-8 here, features being of order 1): closer than this counts as equal.
_TOL = 1e-6


@dataclass(frozen=True)
class PrivacyReference:
    """Distance features of the real rows and the indexes built on them, computed once."""

    encoder: TableEncoder
    names: tuple[str, ...]
    train_index: NearestNeighbors
    sample_index: NearestNeighbors
    holdout_index: NearestNeighbors
    members: np.ndarray
    non_members: np.ndarray
    near_threshold: float
    train_rows: frozenset[int]

    @classmethod
    def build(cls, train: Columns, holdout: Columns, schema, *, seed: int = 0
              ) -> PrivacyReference:
        """Encode, subsample train to the holdout's size and index both."""
        encoder = TableEncoder.fit(train, schema)
        tx, hx = encoder.distances(train), encoder.distances(holdout)
        rng = np.random.default_rng([seed, 11])
        size = min(len(hx), len(tx))
        sample = tx[np.sort(rng.choice(len(tx), size, replace=False))]
        train_index = _index(tx)
        hold_to_train = _nearest(train_index, hx)
        return cls(encoder, tuple(schema.names), train_index, _index(sample), _index(hx),
                   sample, hx, float(np.percentile(hold_to_train, NEAR_PERCENTILE)),
                   frozenset(row_hashes(train, schema.names).tolist()))


def _index(x: np.ndarray) -> NearestNeighbors:
    return NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x)


def _nearest(index: NearestNeighbors, x: np.ndarray) -> np.ndarray:
    """Distance of each row of ``x`` to its nearest indexed row (rounding noise set to 0)."""
    d = index.kneighbors(x, 1)[0][:, 0]
    return np.where(d < _TOL, 0.0, d)


def privacy(ref: PrivacyReference, synth: Columns) -> dict[str, Any]:
    """Privacy metrics of one synthetic table (see the module doc)."""
    sx = ref.encoder.distances(synth)
    n = len(sx)
    d_sample = _nearest(ref.sample_index, sx)
    d_hold = _nearest(ref.holdout_index, sx)
    d_train = _nearest(ref.train_index, sx)
    tie = np.abs(d_sample - d_hold) < _TOL
    closer = float(np.mean((d_sample < d_hold) & ~tie) + 0.5 * np.mean(tie))
    med_hold = float(np.median(d_hold))
    exact = int(sum(h in ref.train_rows for h in row_hashes(synth, ref.names).tolist()))
    near = int(np.sum(d_train < ref.near_threshold))
    return {
        "share_closer_to_train": closer,
        "dcr_train_median": float(np.median(d_sample)),
        "dcr_holdout_median": med_hold,
        "dcr_ratio": float(np.median(d_sample)) / med_hold if med_hold > 0 else None,
        "exact_copies": exact, "exact_copy_share": exact / n,
        "near_copies": near, "near_copy_share": near / n,
        "near_threshold": ref.near_threshold,
        "mia_auc": membership_auc(ref, sx),
    }


def membership_auc(ref: PrivacyReference, synth_x: np.ndarray) -> float:
    """AUC of minus the distance to the nearest synthetic row, members against non-members."""
    index = _index(synth_x)
    d_in, d_out = _nearest(index, ref.members), _nearest(index, ref.non_members)
    y = np.r_[np.ones(len(d_in)), np.zeros(len(d_out))]
    return float(roc_auc_score(y, -np.r_[d_in, d_out]))


def row_hashes(cols: Columns, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """One 64-bit hash per row over the canonical values of ``names`` (equal rows, equal
    hashes; missing values equal each other)."""
    frame = pd.DataFrame({n: _hashable(cols[n]) for n in names})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _hashable(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array(["\x00" if v is None else "s" + v for v in values], dtype=object)
    return np.where(np.isnan(values), np.nan, values + 0.0)  # -0.0 == 0.0
