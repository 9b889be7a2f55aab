"""Prefect artifacts of a credit run: a markdown summary with the headline metrics, and a link
to the evaluation report.

The metrics are ``metrics.json`` of the evaluation (``ganjobs.tabular.evaluation``): one entry
per method under ``methods`` (the loan book and each baseline) with its ``utility``,
``fidelity``, ``privacy`` and ``bars``. The headline keeps a few numbers of each family.
"""

from __future__ import annotations

from typing import Any

from flows.artifacts import _browsable, _code, artifact_key, markdown_table_generic

#: The loan book's name among the evaluated methods (the others are baselines).
OURS = "ganjobs"

#: Headline columns: (label, path in a method's metrics). Default-model utility (TSTR beside
#: TRTR), fidelity and detection, privacy against the real training rows.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("TSTR AUC (logistic)", "utility.logistic.tstr_auc"),
    ("TRTR AUC (logistic)", "utility.logistic.trtr_auc"),
    ("TSTR/TRTR (logistic)", "utility.logistic.auc_ratio"),
    ("TSTR AUC (boosting)", "utility.boosting.tstr_auc"),
    ("TRTR AUC (boosting)", "utility.boosting.trtr_auc"),
    ("TSTR/TRTR (boosting)", "utility.boosting.auc_ratio"),
    ("fidelity", "fidelity.score"),
    ("detection AUC", "fidelity.detection_auc"),
    ("share closer to train", "privacy.share_closer_to_train"),
    ("DCR ratio", "privacy.dcr_ratio"),
    ("MIA AUC", "privacy.mia_auc"),
    ("exact copies", "privacy.exact_copies"),
)


def _get(values: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values if isinstance(values, (int, float)) else None


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline of an evaluation: one row per method (the loan book first) with the
    :data:`HEADLINE` numbers, and the loan book's quality bars."""
    methods = metrics.get("methods") or {}
    order = [m for m in methods if m == OURS] + [m for m in methods if m != OURS]
    rows = [{"model": m, **{label: _get(methods[m], path) for label, path in HEADLINE}}
            for m in order]
    bars = [{k: b.get(k) for k in ("bar", "value", "threshold", "met")}
            for b in (methods.get(OURS) or {}).get("bars") or []]
    return {"rows": rows, "bars": bars}


def summary_markdown(summary: dict[str, Any]) -> str:
    """The run summary shown on the flow run's Artifacts tab."""
    status = ("published a new loan book" if summary["published"]
              else "run already published by an earlier identical run; nothing re-published")
    head = summary.get("headline") or {}
    bars = head.get("bars") or []
    dp = summary.get("dp")
    lines = [
        f"# Loan book {_code(summary['name'])} as of {summary['as_of']}",
        "",
        f"**Run {_code(summary['run_id'])}**: {status}.",
        "",
        f"- Loan book: {_code(summary['loan_book_url'])} ({summary.get('rows')} rows, target "
        f"{_code(summary.get('target'))})",
        f"- Evaluation report: {_code(summary['report_url'])}",
        f"- Metrics: {_code(summary['metrics_url'])}",
        f"- Model: {_code(summary['model_url'])}"
        + (f" (differential privacy, epsilon {dp.get('epsilon')})" if dp else ""),
        f"- LATEST: {_code(summary['latest_url'])} "
        f"({'updated' if summary.get('latest_updated') else 'unchanged'})",
        f"- Data: sha256 `{summary['data_sha256'][:16]}…`",
        f"- Code: {_code(summary['code_version'])}",
    ]
    if bars:
        met = sum(1 for b in bars if b.get("met") is True)
        lines.append(f"- Quality bars met: {met} of {len(bars)}")
    lines += ["", "## Headline metrics", "",
              "Default models trained on synthetic rows and scored on real test rows (TSTR) "
              "against the same models trained on real rows (TRTR); fidelity; privacy "
              "against the real training rows. The report explains each.", "",
              markdown_table_generic(head.get("rows") or [])]
    if bars:
        lines += ["", "## Quality bars", "", markdown_table_generic(bars)]
    return "\n".join(lines)


def publish_credit_artifacts(summary: dict[str, Any]) -> None:
    """Create the summary and report-link artifacts on the current flow run."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    name = summary["name"]
    create_markdown_artifact(summary_markdown(summary), key=artifact_key(name, "summary"),
                             description=f"Credit run {summary['run_id']}")
    create_link_artifact(_browsable(summary["report_url"]), link_text="evaluation report",
                         key=artifact_key(name, "report"),
                         description=f"Report of run {summary['run_id']}")
