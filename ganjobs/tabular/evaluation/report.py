"""The table evaluation's HTML page: one self-contained file for a risk team.

What was compared, the quality bars, every method x metric, the marginals of the columns that
say the most about the target, and the pair trends each method lost. Every string from the
data or the user goes through :func:`html.escape`; figures are base64 PNG.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import mutual_info_score

from ganjobs.evaluate.report import CSS, _e
from ganjobs.tabular.evaluation import figures
from ganjobs.tabular.evaluation.encode import Columns
from ganjobs.tabular.evaluation.fidelity import FidelityReference

PRIMARY = "ganjobs"
REFERENCE_ROW = "real_train"
_MARGINAL_COLUMNS = 6
_PLOTTED_METHODS = ("gaussian_copula", "smote")
_BEST = " class=\"best\""

#: (label, path in a method row, best: "max", "min", "half" (closest to 0.5), "one", or "")
METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("fidelity score", "fidelity.score", "max"),
    ("column score", "fidelity.column_score", "max"),
    ("pair score", "fidelity.pair_score", "max"),
    ("detection AUC", "fidelity.detection_auc", "half"),
    ("TSTR AUC (logistic)", "utility.logistic.tstr_auc", "max"),
    ("TSTR / TRTR (logistic)", "utility.logistic.auc_ratio", "max"),
    ("TSTR AUC (boosting)", "utility.boosting.tstr_auc", "max"),
    ("TSTR / TRTR (boosting)", "utility.boosting.auc_ratio", "max"),
    ("calibration gap excess (logistic)", "utility.logistic.calibration_gap_excess", "min"),
    ("ECE excess (logistic)", "utility.logistic.ece_excess", "min"),
    ("calibration gap excess (boosting)", "utility.boosting.calibration_gap_excess", "min"),
    ("ECE excess (boosting)", "utility.boosting.ece_excess", "min"),
    ("bad rate", "utility.synthetic_bad_rate", ""),
    ("share closer to train", "privacy.share_closer_to_train", "half"),
    ("DCR ratio", "privacy.dcr_ratio", "one"),
    ("exact copies", "privacy.exact_copies", "min"),
    ("near-copy share", "privacy.near_copy_share", "min"),
    ("membership-inference AUC", "privacy.mia_auc", "half"),
)

DEFINITIONS = (
    ("Fidelity score", "mean of the mean column score and the mean pair score, against the "
                       "real train rows (1 = identical)."),
    ("Column score", "continuous: (1 - Kolmogorov-Smirnov statistic) x (1 - missing-rate "
                     "difference); categorical: 1 - total variation of the level shares."),
    ("Pair score", "two continuous columns: 1 - |Spearman rho difference| / 2; otherwise "
                   "1 - total variation of the joint shares, continuous columns in real "
                   "deciles."),
    ("Detection AUC", "a gradient-boosting classifier telling real train rows from "
                      "synthetic ones (5-fold cross-validation): 0.5 = indistinguishable; "
                      "far below 0.5 = the synthetic rows are copies of real ones."),
    ("TSTR / TRTR", "default model trained on the synthetic (TSTR) or real train (TRTR) "
                    "rows, AUC on the same real test rows."),
    ("Calibration / ECE excess", "TSTR's minus TRTR's |mean PD - bad rate| and expected "
                                 "calibration error (10 bins at the deciles of the PD) on "
                                 "real test rows."),
    ("Share closer to train", "synthetic rows nearer to a train-sample row than to any "
                              "holdout row (train sampled to the holdout's size): 0.5 = no "
                              "leak."),
    ("DCR ratio", "median distance to the nearest train-sample row over that to the nearest "
                  "holdout row: 1 = no leak."),
    ("Exact / near copies", "synthetic rows equal to a train row in every column / nearer to "
                            "a train row than 99% of holdout rows are."),
    ("Membership-inference AUC", "real rows scored by closeness to the synthetic table, "
                                 "train rows against holdout rows: 0.5 = nothing learnt."),
)


def _get(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.3f}"


def _best(values: Mapping[str, Any], how: str) -> set[str]:
    ok = {m: float(v) for m, v in values.items()
          if isinstance(v, int | float) and np.isfinite(v) and m != REFERENCE_ROW}
    if not ok or not how:
        return set()
    score = {"max": lambda v: -v, "min": lambda v: v, "half": lambda v: abs(v - 0.5),
             "one": lambda v: abs(v - 1.0)}[how]
    low = min(score(v) for v in ok.values())
    return {m for m, v in ok.items() if np.isclose(score(v), low, rtol=1e-9, atol=1e-12)}


def metrics_table(metrics: Mapping[str, Any]) -> str:
    """Every method (columns) x metric (rows), best per row highlighted (real train aside)."""
    methods = list(metrics["methods"])
    ref = metrics["reference"]
    head = "".join(f"<th>{_e(m)}</th>" for m in methods)
    rows = []
    for label, path, how in METRIC_ROWS:
        values = {m: _get(metrics["methods"][m], path) for m in methods}
        if all(v is None for v in values.values()):
            continue
        best = _best(values, how)
        real = _reference_cell(ref, path)
        cells = [f"<th>{_e(label)}</th>", f"<td class=\"real\">{_e(real)}</td>"]
        cells += [f"<td{_BEST if m in best else ''}>{_e(_fmt(values[m]))}</td>"
                  for m in methods]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class=\"metrics\"><thead><tr><th>metric</th><th>real</th>" + head
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")


def _reference_cell(ref: Mapping[str, Any], path: str) -> str:
    """The real-data counterpart of a metric: TRTR scores, holdout-vs-train fidelity."""
    family, _, rest = path.partition(".")
    if family == "fidelity":
        return _fmt((ref.get("holdout_fidelity") or {}).get(rest))
    if family == "utility" and ref.get("trtr"):
        model, _, key = rest.partition(".")
        if key == "tstr_auc":
            return _fmt(ref["trtr"][model]["auc"])
        if rest == "synthetic_bad_rate":
            return _fmt(ref.get("test_bad_rate"))
    return ""


def bars_table(metrics: Mapping[str, Any]) -> str:
    """Bars (rows) x methods (columns): value, marked met / not met."""
    methods = list(metrics["methods"])
    first = metrics["methods"][methods[0]]["bars"]
    head = "".join(f"<th>{_e(m)}</th>" for m in methods)
    rows = []
    for i, bar in enumerate(first):
        cells = [f"<th>{_e(bar['bar'])}</th>"]
        for m in methods:
            b = metrics["methods"][m]["bars"][i]
            cls = {True: "ok", False: "bad"}.get(b["met"], "")
            mark = {True: "met", False: "not met"}.get(b["met"], "n/a")
            cells.append(f"<td class=\"{cls}\" title=\"threshold {_e(_fmt(b['threshold']))}\">"
                         f"{_e(_fmt(b['value']))} · {_e(mark)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class=\"bars\"><thead><tr><th>bar</th>" + head + "</tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table>")


def _verdict(metrics: Mapping[str, Any], primary: str) -> str:
    bars = metrics["methods"][primary]["bars"]
    met = sum(1 for b in bars if b["met"] is True)
    return (f"<p class=\"verdict\">{met} of {len(bars)} quality bars met by "
            f"<b>{_e(primary)}</b>.</p>")


def informative_columns(ref: FidelityReference, target: str | None, k: int) -> list[str]:
    """The ``k`` columns sharing the most information with the target (deciles for
    continuous columns); without a target the first ``k`` columns."""
    names = [n for n in ref.kinds if n != target]
    if target is None:
        return names[:k]
    mi = {n: mutual_info_score(ref.codes[target], ref.codes[n]) for n in names}
    return sorted(names, key=lambda n: -mi[n])[:k]


def render_report(metrics: Mapping[str, Any], schema, train: Columns,
                  synthetic: Mapping[str, Columns], context: Mapping[str, Any]) -> str:
    """The HTML page of an :func:`~.frames.evaluate_frames` result.

    Parameters
    ----------
    metrics : dict
        Result of ``evaluate_frames``.
    schema : TableSchema
        Columns and target.
    train : Columns
        The real train rows (canonical arrays).
    synthetic : mapping of str to Columns
        The evaluated tables by method name.
    context : dict
        ``synthetic`` and ``real`` locations, ``title``, and optional ``notes``.
    """
    methods = list(metrics["methods"])
    primary = PRIMARY if PRIMARY in methods else methods[0]
    ref = FidelityReference.build(train, schema)
    title = context.get("title") or "Synthetic table quality report"
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _subtitle(metrics, context, primary),
    ]
    notes = list(metrics.get("notes") or [])
    if notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul>")
    parts += ["<h2>Verdict</h2>", _verdict(metrics, primary), bars_table(metrics)]
    parts += ["<h2>Metrics</h2><p class=\"sub\">Best value per row highlighted (the real "
              "train rows themselves aside). Real column: TRTR scores and the real holdout "
              "rows' fidelity to train.</p>", metrics_table(metrics)]
    plotted = {m: synthetic[m] for m in (primary, *_PLOTTED_METHODS) if m in synthetic}
    cols = informative_columns(ref, schema.target, _MARGINAL_COLUMNS)
    shown = ([schema.target] if schema.target else []) + cols
    parts += ["<h2>Marginals</h2><p class=\"sub\">The target and the columns that share the "
              "most information with it.</p>", figures.marginals(shown, ref.kinds, train,
                                                                   plotted)]
    pairs = {m: metrics["methods"][m]["fidelity"]["pairs"] for m in plotted}
    if any(pairs.values()):
        parts += ["<h2>Pair trends</h2><p class=\"sub\">1 - pair score for every pair of "
                  "columns: 0 where the synthetic table keeps the real correlation or joint "
                  "shares, darker where it loses them.</p>",
                  figures.pair_heatmaps(list(ref.kinds), pairs)]
    parts.append("<h2>How to read this</h2><dl class=\"defs\">"
                 + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in DEFINITIONS)
                 + "</dl></body></html>")
    return "\n".join(parts)


def _subtitle(metrics: Mapping[str, Any], context: Mapping[str, Any], primary: str) -> str:
    rows = metrics["rows"]
    target = metrics.get("target")
    bad = metrics.get("bad_label")
    lines = [f"<b>{_e(primary)}</b>: {_e(_fmt(metrics['methods'][primary]['rows']))} rows"]
    if context.get("synthetic"):
        lines[0] += f" from <code>{_e(context['synthetic'])}</code>"
    real = f"real table {_e(_fmt(rows['real']))} rows"
    if context.get("real"):
        real += f" (<code>{_e(context['real'])}</code>)"
    real += (f", split train {_e(_fmt(rows['train']))} / holdout {_e(_fmt(rows['holdout']))}"
             f" / test {_e(_fmt(rows['test']))}")
    lines.append(real)
    if target:
        lines.append(f"target <b>{_e(target)}</b>, bad class <b>{_e(bad)}</b>")
    lines.append(f"seed {_e(metrics.get('seed'))}")
    return "<p class=\"sub\">" + " · ".join(lines) + "</p>"
