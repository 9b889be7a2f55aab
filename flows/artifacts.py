"""Prefect artifacts of a pipeline run: summary (markdown), metric table, link to the report.

The metric structure belongs to ``ganjobs.evaluate.command``; the table is built generically from it
(one row per generator, one column per scalar metric) so new metrics appear without changes
here.
"""

from __future__ import annotations

import math
import re
from typing import Any

OURS = "ganjobs"
# Depth to which nested metric groups are flattened into ``group.metric`` columns.
MAX_DEPTH = 3
MAX_COLUMNS = 40


def _code(value: object) -> str:
    """``value`` as one Markdown code span that nothing in it can close or break (names and
    paths come from users)."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def artifact_key(name: str, suffix: str) -> str:
    """Artifact keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{name}-{suffix}".lower()).strip("-")


def _find_models(metrics: Any, depth: int = 0) -> dict[str, dict[str, Any]] | None:
    """The mapping ``generator -> its metrics``: the first dict that has a ``ganjobs`` key
    holding a dict, searched breadth-first."""
    if not isinstance(metrics, dict) or depth > MAX_DEPTH:
        return None
    if isinstance(metrics.get(OURS), dict):
        return {k: v for k, v in metrics.items() if isinstance(v, dict)}
    for value in metrics.values():
        found = _find_models(value, depth + 1)
        if found:
            return found
    return None


def _flatten(values: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = value
        elif isinstance(value, (int, float)):
            out[name] = value
        elif isinstance(value, str) and len(value) <= 40:
            out[name] = value
        elif isinstance(value, dict) and depth < MAX_DEPTH:
            out.update(_flatten(value, f"{name}.", depth + 1))
    return out


# Sections of a generator's metrics that summarise it (means over symbols, joint metrics);
# when present, only they make the table, since per-symbol detail would swamp it.
SUMMARY_SECTIONS = {"summary": "", "joint": "joint."}


def _model_columns(values: dict[str, Any]) -> dict[str, Any]:
    sections = {k: p for k, p in SUMMARY_SECTIONS.items() if isinstance(values.get(k), dict)}
    if not sections:
        return _flatten(values)
    out: dict[str, Any] = {}
    for key, prefix in sections.items():
        out.update(_flatten(values[key], prefix))
    return out


def metric_rows(metrics: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per generator (``ganjobs`` first), columns = union of flattened scalars."""
    models = _find_models(metrics or {})
    if not models:
        return []
    flat = {name: _model_columns(values) for name, values in models.items()}
    columns: list[str] = []
    for values in flat.values():
        for col in values:
            if col not in columns:
                columns.append(col)
    columns = columns[:MAX_COLUMNS]
    order = [OURS] + [m for m in flat if m != OURS]
    return [{"model": m, **{c: flat[m].get(c) for c in columns}} for m in order]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no metrics_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [f"**{_fmt(row[c])}**" if c == "model" and row[c] == OURS else _fmt(row[c])
                 for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The run summary shown on the flow run's Artifacts tab."""
    status = ("published a new scenario set" if summary["published"]
              else "set already published by an earlier identical run; nothing re-published")
    lines = [
        f"# Scenario set {_code(summary['name'])} as of {summary['as_of']}",
        "",
        f"**Run {_code(summary['run_id'])}**: {status}.",
        "",
        f"- Scenario set: {_code(summary['scenarios_url'])} "
        f"({summary.get('n_scenarios')} scenarios × {summary.get('horizon')} days, "
        f"symbols {', '.join(summary.get('symbols') or [])})",
        f"- Evaluation report: {_code(summary.get('report_url'))}",
        f"- Metrics: {_code(summary.get('metrics_url'))}",
        f"- Model: {_code(summary.get('model_url'))}",
        f"- Model decision: {_code(summary.get('model_reason'))}",
        f"- LATEST: {_code(summary['latest_url'])} "
        f"({'updated' if summary.get('latest_updated') else 'unchanged'})",
        f"- Data: sha256 `{summary.get('data_sha256', '')[:16]}…`, "
        f"{summary.get('first_date')} .. {summary.get('last_date')}",
        f"- Code: {_code(summary.get('code_version'))}",
    ]
    if summary.get("conditioning") == "as-of":
        lines.insert(3, f"Paths start from the market's state on {summary.get('state_as_of')}.")
        lines.insert(4, "")
    if summary.get("evaluation_note"):
        lines.append(f"- Evaluation: {summary['evaluation_note']}")
    if summary.get("stress_url"):
        lines.append(f"- Stress test: {_code(summary['stress_url'])}")
    bars = [b for b in (summary.get("bars") or []) if isinstance(b, dict)]
    if bars:
        met = sum(1 for b in bars if b.get("met") is True)
        lines.append(f"- Quality bars met: {met} of {len(bars)}")
    lines += ["", "## Metrics vs baselines", "",
              "Means over symbols, then joint metrics; lower is better unless the report "
              "says otherwise.", "", markdown_table(rows)]
    if bars:
        lines += ["", "## Quality bars", "", markdown_table_generic(
            [{k: b.get(k) for k in ("bar", "scope", "value", "threshold", "met")}
             for b in bars])]
    return "\n".join(lines)


def publish_artifacts(summary: dict[str, Any], metrics: dict[str, Any] | None) -> None:
    """Create the three artifacts on the current flow run."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    name = summary["name"]
    rows = metric_rows(metrics)
    create_markdown_artifact(summary_markdown(summary, rows), key=artifact_key(name, "summary"),
                             description=f"Scenario run {summary['run_id']}")
    # A table artifact needs at least one row; an empty metric set still records the run.
    create_table_artifact(rows or [{"model": OURS}], key=artifact_key(name, "metrics"),
                          description="Evaluation metrics of the set and the baselines")
    if summary.get("report_url"):
        create_link_artifact(_browsable(summary["report_url"]), link_text="evaluation report",
                             key=artifact_key(name, "report"),
                             description=f"Report of run {summary['run_id']}")


def _browsable(url: str) -> str:
    """Local paths as ``file://`` links so the UI renders them as links."""
    return url if "://" in url else "file://" + url


def stress_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (source, horizon): VaR/ES at every level and the exceedance probability.

    ``results`` is the content of ``stress.json`` (``ganjobs.stress.command.run_stress``); sources
    that were skipped or failed are listed with their reason.
    """
    rows: list[dict[str, Any]] = []
    for source, body in (results.get("sources") or {}).items():
        horizons = body.get("horizons") if isinstance(body, dict) else None
        if not horizons:
            reason = (body or {}).get("skipped") or (body or {}).get("error") or "no results"
            rows.append({"source": source, "horizon": None, "note": str(reason)[:80]})
            continue
        for h, m in horizons.items():
            row: dict[str, Any] = {"source": source, "horizon": int(h)}
            row.update({f"VaR {k}%": v for k, v in (m.get("var") or {}).items()})
            row.update({f"ES {k}%": v for k, v in (m.get("es") or {}).items()})
            row["P(loss > threshold)"] = m.get("prob_loss_beyond_threshold")
            rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return [{c: row.get(c) for c in columns} for row in rows]


def stress_summary(results: dict[str, Any]) -> dict[str, Any]:
    """What the flow keeps of a stress run (the full paths stay in ``stress.json``)."""
    port = results.get("portfolio") or {}
    return {"portfolio": {k: port.get(k) for k in ("name", "base_value", "location",
                                                   "sha256", "loss_threshold")},
            "horizons": results.get("horizons"), "rows": stress_rows(results)}


def publish_stress_artifact(name: str, stress: dict[str, Any]) -> None:
    """Markdown artifact of the stress test: risk measures per source and horizon."""
    from prefect.artifacts import create_markdown_artifact

    summary = stress["summary"]
    port = summary["portfolio"]
    text = "\n".join([
        f"# Stress test: portfolio {_code(port.get('name'))}",
        "",
        f"- Results: {_code(stress['out'])} (stress.json, pnl.parquet, stress.png)",
        f"- Base value {port.get('base_value')}, loss threshold {port.get('loss_threshold')}",
        "- Amounts in the base currency; VaR and ES are positive losses.",
        "",
        markdown_table_generic(summary["rows"]),
    ])
    create_markdown_artifact(text, key=artifact_key(name, "stress"),
                             description=f"Stress test of {port.get('name')}")


def markdown_table_generic(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no results_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


#: Backtest rows shown in the artifact, at most; backtest.json and the report hold them all.
MAX_BACKTEST_ROWS = 60


def backtest_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scalar fields of ``backtest.json``'s result rows (nested tests left out)."""
    rows = [{k: v for k, v in row.items() if v is None or isinstance(v, (str, int, float))}
            for row in results[:MAX_BACKTEST_ROWS] if isinstance(row, dict)]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return [{c: row.get(c) for c in columns[:MAX_COLUMNS]} for row in rows]


def publish_backtest_artifacts(summary: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Markdown summary of a backtest run and a link to its report."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    name = summary["name"]
    status = ("published new results" if summary["published"]
              else "results already published by an earlier identical run")
    shown = backtest_rows(results)
    text = "\n".join([
        f"# Backtest {_code(name)} as of {summary['as_of']}",
        "",
        f"**Run {_code(summary['run_id'])}**: {status}.",
        "",
        f"- Results: {_code(summary['backtest_url'])} (backtest.json, forecasts.parquet)",
        f"- Report: {_code(summary['report_url'])}",
        f"- Origins: {summary.get('origins')} from {summary.get('start')} to "
        f"{summary.get('end')}; models {', '.join(summary.get('models') or [])}",
        "",
        f"## Results ({len(shown)} of {len(results)} rows)" if results else "## Results",
        "",
        markdown_table_generic(shown),
    ])
    create_markdown_artifact(text, key=artifact_key(name, "backtest"),
                             description=f"Backtest run {summary['run_id']}")
    create_link_artifact(_browsable(summary["report_url"]), link_text="backtest report",
                         key=artifact_key(name, "backtest-report"),
                         description=f"Report of backtest run {summary['run_id']}")
