"""Table commands of the ``ganjobs`` command line (registered on :data:`ganjobs.cli.app`):
``evaluate-table``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ganjobs.cli import app

#: Summary columns: (header, path in a method row, format).
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("fidelity", "fidelity.score", ".3f"),
    ("detect AUC", "fidelity.detection_auc", ".3f"),
    ("TSTR/TRTR lr", "utility.logistic.auc_ratio", ".3f"),
    ("TSTR/TRTR gb", "utility.boosting.auc_ratio", ".3f"),
    ("closer", "privacy.share_closer_to_train", ".3f"),
    ("MIA AUC", "privacy.mia_auc", ".3f"),
    ("copies", "privacy.exact_copies", ",d"),
)


def _get(row: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        row = row.get(key) if isinstance(row, dict) else None
    return row


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """The methods x headline metrics table and the first method's bars, as text lines."""
    methods = metrics["methods"]
    width = max(len("method"), *(len(m) for m in methods))
    lines = ["  ".join([f"{'method':<{width}}", *(f"{h:>12}" for h, _, _ in _COLUMNS)])]
    for name, row in methods.items():
        cells = [f"{_cell(_get(row, p), f):>12}" for _, p, f in _COLUMNS]
        lines.append("  ".join([f"{name:<{width}}", *cells]))
    first = next(iter(methods))
    bars = methods[first]["bars"]
    met = sum(1 for b in bars if b["met"] is True)
    lines.append(f"quality bars of {first}: {met} of {len(bars)} met")
    for b in bars:
        mark = {True: "met", False: "NOT MET"}.get(b["met"], "n/a")
        value = "-" if b["value"] is None else f"{b['value']:.4g}"
        threshold = "-" if b["threshold"] is None else f"{b['threshold']:.4g}"
        lines.append(f"  {mark:<8}{b['bar']}: {value} (threshold {threshold})")
    return lines


@app.command("evaluate-table")
def evaluate_table_command(
    synthetic: Annotated[str, typer.Option(help="Published synthetic set URL (ganjobs synth)")],
    real: Annotated[str, typer.Option(help="The real table the model was trained on")],
    out: Annotated[str, typer.Option(help="Folder URL for metrics.json and report.html")],
    schema: Annotated[str | None, typer.Option(
        help="YAML schema file (default: the schema the synthetic set records)")] = None,
    target: Annotated[str | None, typer.Option(
        help="Target column (default: the recorded one)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the baselines and the metrics")] = 0,
    no_baselines: Annotated[bool, typer.Option(
        "--no-baselines", help="Skip the baselines (independent, copula, SMOTE, real train)")
    ] = False,
) -> None:
    """Fidelity, utility (TSTR vs TRTR) and privacy of a synthetic table against baselines."""
    from ganjobs.tabular.evaluation.command import evaluate_table

    result = evaluate_table(synthetic, real, out, schema=schema, target=target, seed=seed,
                            baselines=not no_baselines)
    for note in result["metrics"].get("notes", []):
        typer.echo(f"note: {note}")
    for line in summary_lines(result["metrics"]):
        typer.echo(line)
    typer.echo(f"metrics: {result['metrics_url']}\nreport:  {result['report_url']}")
