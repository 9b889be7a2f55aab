"""Quality bars: the levels a synthetic table must reach, each with its value and threshold.

For one method (a row of the evaluation):

- TSTR AUC >= 0.97 x TRTR AUC, for the logistic and the boosting model (0.90 x for a
  differentially private model, the bar being set for epsilon = 1);
- fidelity score >= the Gaussian copula baseline's;
- share of synthetic rows closer to train than to holdout <= 0.55;
- membership-inference AUC <= 0.55;
- no exact copies of a train row.

A bar whose value cannot be computed (no target, no copula in the comparison) has
``met = None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UTILITY_FACTOR = 0.97
DP_UTILITY_FACTOR = 0.90
MAX_SHARE_CLOSER = 0.55
MAX_MIA_AUC = 0.55


def method_bars(row: Mapping[str, Any], copula_fidelity: float | None, *,
                dp_epsilon: float | None = None) -> list[dict[str, Any]]:
    """The bars of one method row of :func:`~.frames.evaluate_frames`.

    Parameters
    ----------
    row : mapping
        ``{"fidelity": ..., "utility": ... or None, "privacy": ...}`` of one method.
    copula_fidelity : float or None
        The Gaussian copula baseline's fidelity score (None: not in the comparison).
    dp_epsilon : float, optional
        Privacy budget when the method is a differentially private model.

    Returns
    -------
    list of dict
        ``{"bar", "metric", "value", "threshold", "met"}`` each.
    """
    bars = []
    factor = UTILITY_FACTOR if dp_epsilon is None else DP_UTILITY_FACTOR
    utility = row.get("utility") or {}
    for model in ("logistic", "boosting"):
        u = utility.get(model) or {}
        trtr = u.get("trtr_auc")
        label = f"TSTR AUC ({model}) >= {factor:.2f} x TRTR"
        if dp_epsilon is not None:
            label += f" (differentially private, epsilon {dp_epsilon:g})"
        bars.append(_bar(label, f"utility.{model}.tstr_auc", u.get("tstr_auc"),
                         None if trtr is None else factor * trtr, higher=True))
    bars.append(_bar("fidelity score >= Gaussian copula's", "fidelity.score",
                     row["fidelity"]["score"], copula_fidelity, higher=True))
    priv = row["privacy"]
    bars.append(_bar(f"share closer to train <= {MAX_SHARE_CLOSER}",
                     "privacy.share_closer_to_train", priv["share_closer_to_train"],
                     MAX_SHARE_CLOSER, higher=False))
    bars.append(_bar(f"membership-inference AUC <= {MAX_MIA_AUC}", "privacy.mia_auc",
                     priv["mia_auc"], MAX_MIA_AUC, higher=False))
    bars.append(_bar("no exact copies of a train row", "privacy.exact_copies",
                     priv["exact_copies"], 0, higher=False))
    return bars


def _bar(label: str, metric: str, value: float | None, threshold: float | None, *,
         higher: bool) -> dict[str, Any]:
    met = None
    if value is not None and threshold is not None:
        met = bool(value >= threshold) if higher else bool(value <= threshold)
    return {"bar": label, "metric": metric, "value": value, "threshold": threshold, "met": met}
