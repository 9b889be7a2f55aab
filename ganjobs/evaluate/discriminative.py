"""The discriminative score: can a classifier tell real windows from a model's windows?

Window features, the grouped cross-validated classifier, and the score a classifier that can
only guess gets (:func:`chance_level`). The definition is in
:mod:`ganjobs.evaluate.definitions` (``discriminative``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ganjobs.core.seeds import stream
from ganjobs.evaluate.definitions import CV_FOLDS

#: Random stream of the fold assignment and the classifier.
FOLDS_STREAM = "discriminative-folds"


def sample_path_windows(paths: np.ndarray, length: int, m: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``m`` windows ``(m, length, k)`` drawn at random paths and offsets, and their path ids."""
    n, h, _ = paths.shape
    idx = rng.integers(0, n, size=m)
    off = rng.integers(0, h - length + 1, size=m)
    return paths[idx[:, None], off[:, None] + np.arange(length)], idx


def window_features(w: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Classifier features of windows ``(m, L, k)``: the scaled window plus summaries."""
    z = np.asarray(w, dtype=np.float64) / sigma
    m, length, k = z.shape
    a = np.abs(z)

    def lag1(v: np.ndarray) -> np.ndarray:
        v = v - v.mean(axis=1, keepdims=True)
        den = (v**2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num((v[:, :-1] * v[:, 1:]).sum(axis=1) / den)

    feats = [z.reshape(m, -1), z.mean(axis=1), z.std(axis=1), z.min(axis=1), z.max(axis=1),
             a.mean(axis=1), lag1(z), lag1(a)]
    if k > 1:
        zc = z - z.mean(axis=1, keepdims=True)
        sd = np.sqrt((zc**2).sum(axis=1))
        for i in range(k):
            for j in range(i + 1, k):
                with np.errstate(invalid="ignore", divide="ignore"):
                    c = (zc[:, :, i] * zc[:, :, j]).sum(axis=1) / (sd[:, i] * sd[:, j])
                feats.append(np.nan_to_num(c)[:, None])
    return np.concatenate(feats, axis=1)


def _group_folds(groups: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of each sample: whole groups are dealt round-robin in random order."""
    uniq, inv = np.unique(groups, return_inverse=True)
    order = rng.permutation(len(uniq))
    return (order % folds)[inv]


def discriminative_score(real_w: np.ndarray, real_groups: np.ndarray, syn_w: np.ndarray,
                         syn_groups: np.ndarray, sigma: np.ndarray, seed: int = 0) -> float:
    """|cross-validated accuracy − 0.5| of a classifier telling real from synthetic windows.

    Parameters
    ----------
    real_w, syn_w : ndarray, shape (m, L, k)
        Real and synthetic windows; the caller balances the classes.
    real_groups, syn_groups : ndarray of int, shape (m,)
        Correlated windows (overlapping real windows of one block, windows of one synthetic
        path) share a group and therefore a fold, so the classifier cannot score by
        recognising a neighbour of a training sample.
    sigma : ndarray, shape (k,)
        Real daily σ per symbol (feature scaling).
    seed : int
        Seed of the fold assignment and the classifier.

    Returns
    -------
    float
        |accuracy − 0.5|, accuracy pooled over all out-of-fold predictions (0.5 is chance
        for balanced classes even when folds are not).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from threadpoolctl import threadpool_limits

    x = np.concatenate([window_features(real_w, sigma), window_features(syn_w, sigma)])
    y = np.r_[np.zeros(len(real_w), dtype=int), np.ones(len(syn_w), dtype=int)]
    folds = min(CV_FOLDS, len(np.unique(real_groups)), len(np.unique(syn_groups)))
    if folds < 2:
        return float("nan")
    rng = stream(seed, FOLDS_STREAM)
    test_fold = np.r_[_group_folds(real_groups, folds, rng), _group_folds(syn_groups, folds, rng)]
    # From the stream, not the seed itself: scikit-learn takes seeds below 2**32 only.
    clf = HistGradientBoostingClassifier(max_iter=50, learning_rate=0.1, max_leaf_nodes=15,
                                         early_stopping=False,
                                         random_state=int(rng.integers(2**31)))
    # One thread: OpenMP spinning on a busy shared machine costs far more than it gains here.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        pred = cross_val_predict(clf, x, y, cv=PredefinedSplit(test_fold))
    return abs(float(np.mean(pred == y)) - 0.5)


def chance_level(predictions: int) -> float:
    """Expected discriminative score of a classifier that can only guess.

    With ``predictions`` independent guesses on balanced classes the accuracy is
    Binomial(n, ½) / n, and E|accuracy − ½| ≈ ½·√(2 / (π n)). Overlapping windows grouped
    into folds are not independent, so the real chance level is higher (``make bench-null``
    measures it).
    """
    if predictions < 1:
        raise ValueError(f"predictions must be at least 1, got {predictions}")
    return 0.5 * math.sqrt(2.0 / (math.pi * predictions))
