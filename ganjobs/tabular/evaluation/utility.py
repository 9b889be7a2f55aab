"""Utility: is a synthetic table as good as the real one for building a default (PD) model?

The label is the *bad* class: the least frequent target level of the real train rows (ties:
the first by name), against every other level; rows with a missing target are left out. Two
models on the encoding of :mod:`.encode` (target excluded):

``logistic``
    the model features standardised, :class:`~sklearn.linear_model.LogisticRegression`
    (``max_iter`` 2000);
``boosting``
    the tree features, :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with default
    parameters (categorical columns as native categorical splits).

TRTR trains on real train, TSTR on the synthetic table; both are scored on the same real test
rows: AUC, calibration gap ``|mean predicted PD - observed bad rate|`` and expected
calibration error (10 bins cut at the deciles of the predicted PD; the count-weighted mean
of ``|mean predicted PD - bad rate|`` per bin).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ganjobs.tabular.evaluation.encode import Columns, TableEncoder, single_thread

MODELS: tuple[str, ...] = ("logistic", "boosting")
_BINS = 10


def bad_label(train_target: np.ndarray) -> str:
    """The least frequent non-missing level (ties: first by name)."""
    counts = Counter(v for v in train_target if v is not None)
    return min(counts, key=lambda level: (counts[level], level))


@dataclass(frozen=True)
class UtilityReference:
    """Real test rows, the encoder and the bad label, and the TRTR scores."""

    encoder: TableEncoder
    target: str
    bad: str
    test_x: dict[str, np.ndarray]
    test_y: np.ndarray
    trtr: dict[str, dict[str, float | None]]

    @classmethod
    def build(cls, train: Columns, test: Columns, schema, *, seed: int = 0
              ) -> UtilityReference:
        """Fit the encoder on real train and score the models trained on it (TRTR)."""
        target = schema.target
        encoder = TableEncoder.fit(train, schema, exclude=(target,))
        bad = bad_label(train[target])
        test_x, test_y = _xy(encoder, test, target, bad)
        train_x, train_y = _xy(encoder, train, target, bad)
        trtr = {m: _scores(m, encoder, train_x, train_y, test_x, test_y, seed) for m in MODELS}
        return cls(encoder, target, bad, test_x, test_y, trtr)


def utility(ref: UtilityReference, synth: Columns, *, seed: int = 0) -> dict[str, Any]:
    """TSTR scores of one synthetic table beside TRTR, per model."""
    x, y = _xy(ref.encoder, synth, ref.target, ref.bad)
    out: dict[str, Any] = {}
    for m in MODELS:
        tstr = _scores(m, ref.encoder, x, y, ref.test_x, ref.test_y, seed)
        trtr = ref.trtr[m]
        out[m] = {
            "tstr_auc": tstr["auc"], "trtr_auc": trtr["auc"],
            "auc_ratio": _ratio(tstr["auc"], trtr["auc"]),
            "tstr_calibration_gap": tstr["calibration_gap"],
            "tstr_ece": tstr["ece"],
            "calibration_gap_excess": _diff(tstr["calibration_gap"], trtr["calibration_gap"]),
            "ece_excess": _diff(tstr["ece"], trtr["ece"]),
        }
    out["synthetic_bad_rate"] = float(y.mean()) if y.size else None
    return out


def _xy(encoder: TableEncoder, cols: Columns, target: str, bad: str
        ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features of each model and the 0/1 bad label, rows with a known target only."""
    labels = cols[target]
    known = np.array([v is not None for v in labels], dtype=bool)
    kept = {k: v[known] for k, v in cols.items()}
    x = {"logistic": encoder.features(kept), "boosting": encoder.tree_features(kept)}
    y = np.array([v == bad for v in labels[known]], dtype=np.int64)
    return x, y


def _model(name: str, encoder: TableEncoder, seed: int):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return HistGradientBoostingClassifier(random_state=seed % 2**32,
                                          categorical_features=encoder.tree_categorical())


def _scores(name: str, encoder: TableEncoder, x: dict[str, np.ndarray], y: np.ndarray,
            test_x: dict[str, np.ndarray], test_y: np.ndarray, seed: int
            ) -> dict[str, float | None]:
    """AUC, calibration gap and ECE on the test rows; None when a side lacks a class."""
    if len(np.unique(y)) < 2 or len(np.unique(test_y)) < 2:
        return {"auc": None, "calibration_gap": None, "ece": None}
    with single_thread():
        model = _model(name, encoder, seed).fit(x[name], y)
        pd_hat = model.predict_proba(test_x[name])[:, 1]
    return {"auc": float(roc_auc_score(test_y, pd_hat)),
            "calibration_gap": float(abs(pd_hat.mean() - test_y.mean())),
            "ece": expected_calibration_error(test_y, pd_hat)}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = _BINS) -> float:
    """Count-weighted mean ``|mean p - mean y|`` over bins of ``p`` cut at its quantiles
    (tied predictions share a bin, so a bin may hold more or fewer rows)."""
    edges = np.quantile(p, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    which = np.searchsorted(edges, p, side="right")
    total = 0.0
    for b in np.unique(which):
        rows = which == b
        total += rows.sum() * abs(float(p[rows].mean()) - float(y[rows].mean()))
    return total / len(p)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
