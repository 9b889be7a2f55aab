"""Every metric for several synthetic tables against one real table and its split."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.tabular.evaluation.bars import method_bars
from ganjobs.tabular.evaluation.encode import Columns, canonical, single_thread, take
from ganjobs.tabular.evaluation.fidelity import FidelityReference, fidelity
from ganjobs.tabular.evaluation.privacy import PrivacyReference, privacy
from ganjobs.tabular.evaluation.utility import UtilityReference, utility
from ganjobs.tabular.split import TableSplit

COPULA = "gaussian_copula"


def evaluate_frames(real: pd.DataFrame, schema, split: TableSplit,
                    synthetic: Mapping[str, pd.DataFrame], *, seed: int = 0,
                    dp_epsilon: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Fidelity, utility, privacy and bars of every named synthetic table.

    Parameters
    ----------
    real : pandas.DataFrame
        The whole real table (coerced dtypes), in the row order ``split`` indexes.
    schema : TableSchema
        Columns and target.
    split : TableSplit
        Train / holdout / test rows of ``real`` (the split the models were trained with).
    synthetic : mapping of str to pandas.DataFrame
        Synthetic tables by method name (models, baselines), each with the schema's columns.
    seed : int
        Seed of the subsamples and classifiers.
    dp_epsilon : mapping of str to float, optional
        Privacy budget of the methods that are differentially private models (their
        utility bar is lower).

    Returns
    -------
    dict
        JSON-able: ``reference`` (TRTR scores, real holdout's fidelity), ``methods`` (one
        entry per synthetic table: fidelity, utility, privacy, bars, seconds) and ``notes``.
    """
    if not synthetic:
        raise GanjobsError("evaluation: no synthetic table to evaluate")
    with single_thread():  # also the distances' BLAS (see single_thread)
        return _evaluate(real, schema, split, synthetic, seed, dp_epsilon or {})


def _evaluate(real: pd.DataFrame, schema, split: TableSplit,
              synthetic: Mapping[str, pd.DataFrame], seed: int,
              dp_epsilon: Mapping[str, float]) -> dict[str, Any]:
    cols = canonical(real.reset_index(drop=True), schema, "real table")
    parts = {name: take(cols, getattr(split, name)) for name in ("train", "holdout", "test")}
    notes: list[str] = []
    refs = _references(parts, schema, seed, notes)
    result: dict[str, Any] = {
        "seed": int(seed),
        "rows": {"real": len(real), **{k: len(getattr(split, k)) for k in parts}},
        "split": split.record(),
        "target": schema.target,
        "bad_label": refs["utility"].bad if refs["utility"] else None,
        "reference": _reference_block(refs, parts),
        "methods": {},
        "notes": notes,
    }
    for name, frame in synthetic.items():
        result["methods"][name] = _method(refs, canonical(frame, schema, f"synthetic {name}"),
                                          seed, name)
    copula = result["methods"].get(COPULA)
    copula_score = copula["fidelity"]["score"] if copula else None
    if copula is None:
        notes.append("no Gaussian copula baseline: the fidelity bar is not assessed")
    for name, row in result["methods"].items():
        eps = dp_epsilon.get(name)
        row["dp_epsilon"] = eps
        row["bars"] = method_bars(row, copula_score, dp_epsilon=eps)
    return result


def _references(parts: dict[str, Columns], schema, seed: int, notes: list[str]
                ) -> dict[str, Any]:
    refs: dict[str, Any] = {
        "fidelity": FidelityReference.build(parts["train"], schema),
        "privacy": PrivacyReference.build(parts["train"], parts["holdout"], schema, seed=seed),
        "utility": None,
    }
    if schema.target is None:
        notes.append("no target column: utility (TRTR/TSTR) is not measured")
    else:
        refs["utility"] = UtilityReference.build(parts["train"], parts["test"], schema,
                                                 seed=seed)
    return refs


def _reference_block(refs: dict[str, Any], parts: dict[str, Columns]) -> dict[str, Any]:
    util = refs["utility"]
    return {
        "trtr": util.trtr if util else None,
        "bad_label": util.bad if util else None,
        "test_bad_rate": float(util.test_y.mean()) if util else None,
        "holdout_fidelity": _summary(fidelity(refs["fidelity"], parts["holdout"])),
    }


def _summary(fid: dict[str, Any]) -> dict[str, Any]:
    return {k: fid[k] for k in ("score", "column_score", "pair_score", "detection_auc")}


def _method(refs: dict[str, Any], synth: Columns, seed: int, name: str) -> dict[str, Any]:
    n = len(next(iter(synth.values())))
    if n == 0:
        raise GanjobsError(f"synthetic {name}: the table has no rows")
    start = time.perf_counter()
    row = {"rows": n, "fidelity": fidelity(refs["fidelity"], synth, seed=seed),
           "utility": utility(refs["utility"], synth, seed=seed) if refs["utility"] else None,
           "privacy": privacy(refs["privacy"], synth)}
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row
