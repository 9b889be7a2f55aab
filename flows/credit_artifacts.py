"""Prefect artifacts of a credit run: a markdown summary with the headline metrics, and a link
to the evaluation report.

The metric structure belongs to ``ganjobs.tabular.evaluation``; the headline is picked from it
generically (the rows of every method, ganjobs first, restricted to the utility, fidelity and
privacy families below), so metrics renamed or added there need no change here.
"""

from __future__ import annotations

import re
from typing import Any

from flows.artifacts import (
    _browsable,
    _code,
    artifact_key,
    markdown_table_generic,
    metric_rows,
)

#: Column names (lower case) that make the headline: default-model utility (TSTR against
#: TRTR), fidelity and detection, privacy (distance to closest record, membership inference,
#: copies).
HEADLINE = re.compile(r"tstr|trtr|fidelity|detection|closer|dcr|mia|membership|cop(y|ies)")
MAX_HEADLINE_COLUMNS = 12


def _bars(metrics: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The first list of bars (dicts with a ``met`` key) found in the metrics."""
    if depth > 4:
        return []
    values = metrics.values() if isinstance(metrics, dict) else (
        metrics if isinstance(metrics, list) else [])
    if isinstance(metrics, list) and metrics and all(
            isinstance(b, dict) and "met" in b for b in metrics):
        return metrics
    for value in values:
        found = _bars(value, depth + 1)
        if found:
            return found
    return []


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline of an evaluation: one row per method with its utility, fidelity and
    privacy numbers, and the quality bars (name, value, threshold, met)."""
    rows = metric_rows(metrics)
    columns = [c for c in (rows[0] if rows else {}) if c != "model" and HEADLINE.search(c.lower())]
    columns = columns[:MAX_HEADLINE_COLUMNS]
    bars = [{k: b.get(k) for k in ("bar", "name", "method", "value", "threshold", "met")
             if k in b} for b in _bars(metrics)]
    return {"rows": [{"model": r["model"], **{c: r.get(c) for c in columns}} for r in rows],
            "bars": bars}


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
