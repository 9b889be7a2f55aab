"""Table commands of the ``ganjobs`` command line (registered on :data:`ganjobs.cli.app`):
``sample-credit`` and ``validate-table``."""

from __future__ import annotations

from typing import Annotated

import typer

from ganjobs.cli import app


@app.command("sample-credit")
def sample_credit(
    out: Annotated[str, typer.Argument(help="Folder or s3:// prefix to write")],
) -> None:
    """Write the bundled real credit tables (lending_club, credit_data) with schema files."""
    from ganjobs.tabular.credit import CREDIT_TABLES, bundled_table, write_sample_credit

    written = write_sample_credit(out)
    for name, table in CREDIT_TABLES.items():
        frame = bundled_table(name)
        labels = frame[table.target]
        bad = float((labels == "bad").mean())
        typer.echo(f"{name}: {len(frame):,} rows x {frame.shape[1]} columns, target "
                   f"{table.target} ({bad:.1%} bad)")
    typer.echo(f"wrote {len(written)} files to {out}: "
               + ", ".join(url.rsplit("/", 1)[-1] for url in written))


@app.command("validate-table")
def validate_table(
    data: Annotated[str, typer.Argument(help="Table URL: .parquet/.csv file or published folder")],
    schema: Annotated[str | None, typer.Option(
        help="YAML schema file (default: inferred from the data)")] = None,
    target: Annotated[str | None, typer.Option(help="Target (label) column")] = None,
) -> None:
    """Check a table before training: print its (inferred) schema, one line per column."""
    from ganjobs.tabular.infer import describe_schema
    from ganjobs.tabular.validate import load_table

    loaded = load_table(data, schema, target)
    lines = describe_schema(loaded.schema, loaded.frame)
    origin = "inferred from the data" if schema is None else f"from {schema}"
    typer.echo(f"schema ({origin}):")
    for line in lines:
        typer.echo(f"  {line}")
    target_text = f"target {loaded.schema.target}" if loaded.schema.target else "no target"
    typer.echo(f"ok: {data}: {len(loaded.frame):,} rows x {loaded.frame.shape[1]} columns, "
               f"{target_text}; sha256 {loaded.sha256}")
