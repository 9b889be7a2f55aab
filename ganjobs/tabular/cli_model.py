"""Table commands of the ``ganjobs`` command line (registered on :data:`ganjobs.cli.app`):
``train-table`` and ``synth``."""

from __future__ import annotations

from typing import Annotated

import typer

from ganjobs.cli import app


@app.command("train-table")
def train_table_command(
    data: Annotated[str, typer.Option(help="Table URL: .parquet/.csv file or published folder")],
    out: Annotated[str, typer.Option(help="Model folder URL to write")],
    schema: Annotated[str | None, typer.Option(
        help="YAML schema file (default: inferred and printed)")] = None,
    target: Annotated[str | None, typer.Option(help="Target (good/bad label) column")] = None,
    preset: Annotated[str | None, typer.Option(help="Table preset: table, table-tiny")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps (overrides preset)")] = None,
    workers: Annotated[int | None, typer.Option(help="Ray Train workers (DDP world size)")] = None,
    seed: Annotated[int, typer.Option(help="Run seed")] = 0,
    dp_epsilon: Annotated[float | None, typer.Option(
        "--dp-epsilon", help="Train the critic with DP-SGD to this epsilon (delta 1/n)")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray address (else RAY_ADDRESS or local)")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Ray Train storage_path (checkpoints)")] = None,
    name: Annotated[str | None, typer.Option(help="Run name; the same name resumes")] = None,
) -> None:
    """Train the conditional table GAN on a table with Ray Train and write a model folder."""
    from ganjobs.tabular.train import train_table

    result = train_table(data, out, schema=schema, target=target, preset=preset, steps=steps,
                         workers=workers, seed=seed, dp_epsilon=dp_epsilon, address=address,
                         storage_path=storage, run_name=name)
    meta = result["meta"]
    rows = meta["data"]
    typer.echo(f"model written to {result['out']}: {rows['train_rows']:,} training rows of "
               f"{rows['rows']:,} (the rest held out for evaluation), step {result['steps']}")
    if meta.get("privacy"):
        p = meta["privacy"]
        typer.echo(f"differential privacy: epsilon {p['epsilon']:.3g}, delta {p['delta']:.3g} "
                   f"(noise multiplier {p['noise_multiplier']:.3g}, {p['critic_updates']} "
                   f"critic updates at sample rate {p['sample_rate']:.3g})")


@app.command("synth")
def synth_command(
    model: Annotated[str, typer.Option(help="Table model folder URL")],
    out: Annotated[str, typer.Option(help="Folder or s3:// prefix to write the table to")],
    n: Annotated[int, typer.Option("--n", help="Rows to generate")],
    seed: Annotated[int, typer.Option(help="Sampling seed")] = 0,
    where: Annotated[list[str] | None, typer.Option(
        metavar="COLUMN=VALUE",
        help="Ask every row for one category, e.g. --where Status=bad")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a published set")] = False,
) -> None:
    """Generate a synthetic table from a table model: Parquet parts, manifest, _SUCCESS."""
    from ganjobs.tabular.synth import parse_where, synth_table

    manifest = synth_table(model, out, n, seed=seed, where=parse_where(where),
                           overwrite=overwrite)
    typer.echo(f"wrote {manifest['rows']:,} rows in {len(manifest['parts'])} part(s) to {out}")
    if manifest.get("condition_agreement") is not None:
        typer.echo(f"condition {where[0]}: the generator produced it by itself in "
                   f"{manifest['condition_agreement']:.1%} of rows (set in all)")
