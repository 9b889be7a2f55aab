"""Fidelity: how closely a synthetic table follows the real train rows, column by column,
pair by pair, and as a whole (can a classifier tell them apart?).

Column score (1 = identical)
    continuous: ``(1 - KS) * (1 - |missing rate real - missing rate synthetic|)``, the
    Kolmogorov-Smirnov statistic taken on the non-missing values; categorical:
    ``1 - TV``, the total variation distance of the level shares, missing being a level.
Pair score (1 = identical)
    two continuous columns: ``1 - |rho_real - rho_synthetic| / 2`` with Spearman's rho on the
    rows where both are present; any other pair: ``1 - TV`` of the joint distribution of the
    two columns, a continuous column binned into the real train deciles (missing: a bin of its
    own). Pairs whose real correlation is undefined (a constant column) are skipped.
Fidelity score
    mean of (mean column score, mean pair score).
Detection AUC
    a gradient-boosting classifier told real train rows from synthetic rows (as many of each,
    at most :data:`DETECTION_ROWS`), 5-fold stratified cross-validation, mean fold AUC, on the
    tree features of :mod:`.encode` (target included): 0.5 = indistinguishable, 1 = always
    told apart.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ganjobs.tabular.evaluation.encode import (
    MISSING,
    Columns,
    TableEncoder,
    single_thread,
    take,
    text_codes,
)

#: At most this many rows of each side enter the detection classifier (time on 2 cores).
DETECTION_ROWS = 4000
_FOLDS = 5


@dataclass(frozen=True)
class FidelityReference:
    """What the fidelity metrics need from the real train rows, computed once."""

    train: Columns
    kinds: dict[str, str]
    edges: dict[str, np.ndarray]
    levels: dict[str, dict[str, int]]
    spearman: pd.DataFrame
    codes: dict[str, np.ndarray]
    widths: dict[str, int]
    encoder: TableEncoder

    @classmethod
    def build(cls, train: Columns, schema) -> FidelityReference:
        """Deciles, levels, Spearman matrix and bin codes of the real train columns."""
        kinds = {c.name: ("categorical" if c.kind == "categorical" else "continuous")
                 for c in schema.columns}
        edges, levels = {}, {}
        for name, kind in kinds.items():
            if kind == "continuous":
                v = train[name][~np.isnan(train[name])]
                edges[name] = np.unique(np.quantile(v, np.linspace(0.1, 0.9, 9)))
            else:
                seen = sorted({x for x in train[name] if x is not None})
                levels[name] = {level: i for i, level in enumerate([*seen, MISSING])}
        codes = _bin_codes(train, kinds, edges, levels)
        widths = {name: int(_width(name, kinds, edges, levels)) for name in kinds}
        cont = [n for n, k in kinds.items() if k == "continuous"]
        return cls(train, kinds, edges, levels, _spearman(train, cont), codes, widths,
                   TableEncoder.fit(train, schema))

    def bin_codes(self, cols: Columns) -> dict[str, np.ndarray]:
        """Each column as small integer codes (see :func:`_bin_codes`)."""
        return _bin_codes(cols, self.kinds, self.edges, self.levels)


def _width(name: str, kinds: dict[str, str], edges: dict, levels: dict) -> int:
    """Number of codes of a column: bins or levels, plus the missing or unseen code."""
    if kinds[name] == "continuous":
        return len(edges[name]) + 2
    return len(levels[name]) + 1


def _bin_codes(cols: Columns, kinds: dict[str, str], edges: dict[str, np.ndarray],
               levels: dict[str, dict[str, int]]) -> dict[str, np.ndarray]:
    """Decile bins of continuous columns (missing: the last bin), levels of categorical
    columns (missing: its level; unseen levels: the last code)."""
    codes = {}
    for name, kind in kinds.items():
        if kind == "continuous":
            x = cols[name]
            c = np.searchsorted(edges[name], x, side="right")
            codes[name] = np.where(np.isnan(x), len(edges[name]) + 1, c)
        else:
            c = text_codes(cols[name], levels[name])
            codes[name] = np.where(c < 0, len(levels[name]), c)
    return codes


def fidelity(ref: FidelityReference, synth: Columns, *, seed: int = 0,
             detection: bool = True) -> dict[str, Any]:
    """Column scores, pair scores, fidelity score and detection AUC of one synthetic table."""
    codes = ref.bin_codes(synth)
    columns = {name: _column_score(ref, name, synth, codes) for name in ref.kinds}
    pairs = _pair_scores(ref, synth, codes)
    col_mean = float(np.mean(list(columns.values())))
    pair_vals = [s for _, _, s in pairs]
    pair_mean = float(np.mean(pair_vals)) if pair_vals else None
    score = col_mean if pair_mean is None else (col_mean + pair_mean) / 2.0
    out: dict[str, Any] = {"score": score, "column_score": col_mean, "pair_score": pair_mean,
                           "columns": columns, "pairs": pairs}
    if detection:
        out["detection_auc"] = detection_auc(ref, synth, seed=seed)
    return out


def _column_score(ref: FidelityReference, name: str, synth: Columns,
                  codes: dict[str, np.ndarray]) -> float:
    if ref.kinds[name] == "categorical":
        return 1.0 - _tv(ref.codes[name], codes[name], ref.widths[name])
    r, s = ref.train[name], synth[name]
    miss_gap = abs(float(np.isnan(r).mean()) - float(np.isnan(s).mean()))
    return (1.0 - ks_statistic(r[~np.isnan(r)], s[~np.isnan(s)])) * (1.0 - miss_gap)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (1 when either sample is empty)."""
    if a.size == 0 or b.size == 0:
        return 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def _tv(a: np.ndarray, b: np.ndarray, width: int) -> float:
    """Total variation distance of the distributions of two code arrays."""
    pa = np.bincount(a, minlength=width) / max(a.size, 1)
    pb = np.bincount(b, minlength=width) / max(b.size, 1)
    return 0.5 * float(np.abs(pa - pb).sum())


def _pair_scores(ref: FidelityReference, synth: Columns,
                 codes: dict[str, np.ndarray]) -> list[list]:
    names = list(ref.kinds)
    cont = [n for n in names if ref.kinds[n] == "continuous"]
    synth_rho = _spearman(synth, cont)
    out = []
    for a, b in combinations(names, 2):
        if ref.kinds[a] == "continuous" and ref.kinds[b] == "continuous":
            rr = ref.spearman.loc[a, b]
            if not np.isfinite(rr):
                continue
            rs = synth_rho.loc[a, b]
            rs = 0.0 if not np.isfinite(rs) else rs
            out.append([a, b, 1.0 - abs(float(rr) - float(rs)) / 2.0])
            continue
        wb = ref.widths[b]
        joint_r = ref.codes[a] * wb + ref.codes[b]
        joint_s = codes[a] * wb + codes[b]
        out.append([a, b, 1.0 - _tv(joint_r, joint_s, ref.widths[a] * wb)])
    return out


def _spearman(cols: Columns, names: list[str]) -> pd.DataFrame:
    if not names:
        return pd.DataFrame()
    frame = pd.DataFrame({n: cols[n] for n in names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns: NaN, skipped
        return frame.corr(method="spearman", min_periods=3)


def detection_auc(ref: FidelityReference, synth: Columns, *, seed: int = 0) -> float | None:
    """Cross-validated AUC of a classifier telling real train rows from synthetic ones."""
    rng = np.random.default_rng([seed, 7])
    n_real = len(next(iter(ref.train.values())))
    n_synth = len(next(iter(synth.values())))
    n = min(n_real, n_synth, DETECTION_ROWS)
    if n < _FOLDS:
        return None
    real_x = ref.encoder.tree_features(take(ref.train, rng.choice(n_real, n, replace=False)))
    synth_x = ref.encoder.tree_features(take(synth, rng.choice(n_synth, n, replace=False)))
    x = np.vstack([real_x, synth_x])
    y = np.r_[np.zeros(n), np.ones(n)]
    aucs = []
    folds = StratifiedKFold(_FOLDS, shuffle=True, random_state=seed % 2**32)
    with single_thread():
        for fit_rows, test_rows in folds.split(x, y):
            model = HistGradientBoostingClassifier(
                random_state=seed % 2**32, categorical_features=ref.encoder.tree_categorical())
            model.fit(x[fit_rows], y[fit_rows])
            aucs.append(roc_auc_score(y[test_rows], model.predict_proba(x[test_rows])[:, 1]))
    return float(np.mean(aucs))
