"""The ``ganjobs`` command line.

Exit codes: 0 success; 2 bad input or usage (one ``error:`` line, no traceback); 1 otherwise.
Heavy imports (torch, ray) happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

try:  # typer >= 0.20 vendors click; older releases use click itself
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc

from ganjobs.errors import GanjobsError

app = typer.Typer(
    name="ganjobs",
    help="Train GANs on market prices and publish synthetic scenario sets for stress testing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _symbols(value: str | None) -> list[str] | None:
    if value is None:
        return None
    out = [s.strip() for s in value.split(",") if s.strip()]
    if not out:
        raise GanjobsError("--symbols is empty")
    return out


#: Config fields that ``train`` has an option for: the option sets them, not ``--set``.
_TRAIN_OPTIONS = {"train.steps": "--steps", "train.workers": "--workers", "train.gpu": "--gpu",
                  "train.seed": "--seed"}


def _overrides(items: list[str] | None) -> dict[str, Any]:
    from ganjobs.config import parse_overrides

    out = parse_overrides(items or [])
    for key, option in _TRAIN_OPTIONS.items():
        if key in out:
            raise GanjobsError(f"--set {key}: use {option}")
    return out


def _notes(notes: list[str]) -> None:
    """What a command assumed or chose for the user (a layout, a default), one line each."""
    for note in notes:
        typer.echo(f"note: {note}")


@app.command("sample-data")
def sample_data(
    out: Annotated[str, typer.Argument(help="Folder or s3:// prefix to write")],
) -> None:
    """Write the bundled real daily prices (S&P 500, NASDAQ, WTI) in the input layout."""
    from ganjobs.data.prices import load_market_data
    from ganjobs.data.sample import write_sample_data

    files = write_sample_data(out)
    data = load_market_data(out)
    typer.echo(f"wrote {len(files)} files to {out}: symbols {', '.join(data.symbols)}, "
               f"{len(data.dates)} common dates {data.first_date}..{data.last_date}")


@app.command()
def validate(
    prices: Annotated[str, typer.Argument(help="Prices URL (file, folder or s3:// prefix)")],
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols")] = None,
) -> None:
    """Check prices against the input layout; print symbols, common dates and fingerprint."""
    from ganjobs.data.prices import load_market_data

    data = load_market_data(prices, _symbols(symbols))
    typer.echo(f"ok: {prices}: symbols {', '.join(data.symbols)}; {len(data.dates)} common "
               f"dates {data.first_date}..{data.last_date}; sha256 {data.fingerprint}")
    _notes(data.notes)


@app.command()
def train(
    prices: Annotated[str, typer.Option(help="Prices URL (file, folder or s3:// prefix)")],
    out: Annotated[str, typer.Option(help="Model folder URL to write")],
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols")] = None,
    preset: Annotated[str | None, typer.Option(help="Config preset (default, gpu, ...)")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps (overrides preset)")] = None,
    workers: Annotated[int | None, typer.Option(help="Ray Train workers (DDP world size)")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="Train on GPUs (NCCL)")] = False,
    seed: Annotated[int, typer.Option(help="Run seed")] = 0,
    address: Annotated[str | None, typer.Option(
        help="Ray address (else RAY_ADDRESS or local)")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Ray Train storage_path (checkpoints)")] = None,
    name: Annotated[str | None, typer.Option(help="Run name; the same name resumes")] = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Config override on top of the preset, repeatable: --set model.noise_halflives="
             "[20,80,320] (see docs/configuration.md)")] = None,
) -> None:
    """Train a GAN with Ray Train and write a model folder."""
    from ganjobs.train.command import train_model

    result = train_model(
        prices=prices, out=out, symbols=_symbols(symbols), preset=preset, steps=steps,
        workers=workers, gpu=gpu, seed=seed, address=address, storage_path=storage,
        run_name=name, overrides=_overrides(overrides),
    )
    typer.echo(f"model written to {result['out']}")


@app.command()
def generate(
    model: Annotated[str, typer.Option(help="Model folder URL")],
    out: Annotated[str, typer.Option(help="Scenario set URL to write")],
    n: Annotated[int, typer.Option("--n", help="Number of scenarios")],
    horizon: Annotated[int, typer.Option(help="Steps per scenario (days)")],
    seed: Annotated[int, typer.Option(help="Sampling seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a published set")] = False,
    workers: Annotated[int | None, typer.Option(
        help="Parallel Ray tasks (default: by size)")] = None,
    symbols: Annotated[str | None, typer.Option(help="Publish only these symbols")] = None,
    prices: Annotated[str | None, typer.Option(
        help="Prices the market state is read from (conditional models)")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Paths start from the state at this date (default: last price date)")
    ] = None,
    unconditional: Annotated[bool, typer.Option(
        "--unconditional", help="Long-run paths instead of paths from today's state")] = False,
) -> None:
    """Sample a scenario set from a model and publish it (layout: docs/formats.md)."""
    from ganjobs.generate.command import generate_scenarios

    manifest = generate_scenarios(model=model, out=out, n=n, horizon=horizon, seed=seed,
                                  overwrite=overwrite, workers=workers, symbols=_symbols(symbols),
                                  prices=prices, as_of=as_of, unconditional=unconditional)
    cond = manifest.get("conditioning") or {}
    start = (f" from the state as of {cond['as_of']}" if cond.get("mode") == "as-of"
             else " (long-run)")
    typer.echo(f"scenario set written to {out}: {manifest['n_scenarios']} x "
               f"{manifest['horizon']} x {len(manifest['symbols'])}{start}")


@app.command()
def evaluate(
    scenarios: Annotated[str, typer.Option(help="Scenario set URL")],
    prices: Annotated[str, typer.Option(help="Prices URL")],
    out: Annotated[str, typer.Option(help="Folder URL for metrics.json and report.html")],
    seed: Annotated[int, typer.Option(help="Seed for the baselines")] = 0,
) -> None:
    """Metrics (JSON) and an HTML report against baselines."""
    from ganjobs.evaluate.command import evaluate_scenarios

    result = evaluate_scenarios(scenarios=scenarios, prices=prices, out=out, seed=seed)
    typer.echo(f"metrics: {result['metrics_url']}\nreport:  {result['report_url']}")


@app.command()
def stress(
    scenarios: Annotated[str, typer.Option(help="Scenario set URL")],
    portfolio: Annotated[str, typer.Option(help="Portfolio YAML file (path or URL)")],
    out: Annotated[str, typer.Option(help="Folder URL for stress.json, P&L and plots")],
    prices: Annotated[str | None, typer.Option(
        help="Prices URL for historical simulation and baselines")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace published results")
                         ] = False,
    seed: Annotated[int, typer.Option(help="Seed for the baseline generators")] = 0,
    baselines: Annotated[str | None, typer.Option(
        help="Comma-separated baselines to compare with, or 'none' (default: all)")] = None,
) -> None:
    """Portfolio P&L, VaR and ES over a scenario set, beside history and baselines."""
    from ganjobs.stress.command import run_stress

    chosen = None
    if baselines is not None:
        chosen = [b.strip() for b in baselines.split(",") if b.strip()]
        if not chosen:
            raise GanjobsError("--baselines is empty; use 'none' to skip the baselines")
        if chosen == ["none"]:
            chosen = []
    result = run_stress(scenarios=scenarios, portfolio=portfolio, out=out, prices=prices,
                        overwrite=overwrite, seed=seed, baselines=chosen)
    res = result["results"]
    _notes(res["portfolio"].get("notes", []))
    h = str(res["horizons"][-1])
    gan = res["sources"]["ganjobs"]["horizons"][h]
    typer.echo(f"{res['portfolio']['name']}: {h}-day VaR 99% {gan['var']['99']:,.2f}, "
               f"ES 97.5% {gan['es']['97.5']:,.2f} over {gan['n']:,} scenarios")
    typer.echo(f"stress results written to {result['out']}")


@app.command()
def backtest(
    prices: Annotated[str, typer.Option(help="Prices URL (file, folder or s3:// prefix)")],
    out: Annotated[str, typer.Option(help="Folder URL for forecasts, backtest.json, report")],
    start: Annotated[str, typer.Option(
        help="First forecast date (models train on the days before)")],
    end: Annotated[str | None, typer.Option(
        help="Last forecast date (default: last price date)")] = None,
    refit_every: Annotated[str, typer.Option(
        "--refit-every", help="Refit every N business days (expanding window), or 'never'")
    ] = "250",
    n: Annotated[int, typer.Option("--n", help="Paths per forecast date")] = 2000,
    horizons: Annotated[str, typer.Option(help="Comma-separated horizons in days")] = "1,10",
    portfolio: Annotated[str | None, typer.Option(help="Portfolio YAML: one more target")] = None,
    preset: Annotated[str, typer.Option(help="Training preset of ganjobs' model")] = "daily",
    steps: Annotated[int | None, typer.Option(help="Training steps (overrides the preset)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of training and sampling")] = 0,
    models: Annotated[str | None, typer.Option(
        help="Comma-separated rows (default: ganjobs, ganjobs-unconditional, fhs, garch-t, "
             "hs-250, hs-500)")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace a published backtest")] = False,
) -> None:
    """Out-of-sample VaR/ES backtest of ganjobs against FHS, GARCH and historical simulation."""
    from ganjobs.backtest.command import run_backtest

    every = None if refit_every.strip().lower() == "never" else _int(refit_every, "--refit-every")
    hs = tuple(_int(h, "--horizons") for h in horizons.split(",") if h.strip())
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    summary = run_backtest(prices=prices, out=out, start=start, end=end, refit_every=every,
                           n=n, horizons=hs, portfolio=portfolio, preset=preset, steps=steps,
                           seed=seed, models=chosen, overwrite=overwrite)
    for row in summary["results"]:
        if row["horizon"] == summary["horizons"][0] and row["level"] == 0.99:
            typer.echo(f"{row['target']:>10} {row['model']:<22} exceptions "
                       f"{row['exceptions']}/{row['expected']:.1f}  kupiec p "
                       f"{_p(row['kupiec_p'])}  cc p {_p(row['cc_p'])}")
    typer.echo(f"backtest written to {out} (report.html)")


def _int(text: str, flag: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise GanjobsError(f"{flag}: {text!r} is not an integer") from None


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(
        help="Command to run on the cluster: train, generate, train-table or synth")],
    name: Annotated[str, typer.Option(help="Run name; resubmitting it attaches, never duplicates")],
    address: Annotated[str | None, typer.Option(help="Jobs API, e.g. http://head:8265")] = None,
    gpus: Annotated[float, typer.Option(help="GPUs for the job's driver")] = 0,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once submitted")] = False,
) -> None:
    """Submit `ganjobs KIND ARGS...` to a Ray cluster through the Jobs API and stream its logs."""
    from ganjobs.cluster.jobs import check_kind, run_remote
    from ganjobs.cluster.jobs import submit as submit_job

    check_kind(kind)
    args = [kind, *ctx.args]
    if no_wait:
        ref = submit_job(kind, name, args, address=address, num_gpus=gpus or None)
    else:
        ref = run_remote(kind, name, args, address=address, num_gpus=gpus or None)
    typer.echo(f"job {ref.submission_id}: {'attached' if ref.reused else 'submitted'}")


# The table commands (sample-credit, train-table, synth, evaluate-table) register themselves
# on ``app``; each module imports only typer at its top, so --help stays fast.
from ganjobs.tabular import cli_data, cli_evaluate, cli_model  # noqa: E402, F401


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: maps failures onto the exit codes above."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        app(args=argv, prog_name="ganjobs", standalone_mode=False)
    except GanjobsError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except click_exc.NoArgsIsHelpError:
        return 0
    except click_exc.UsageError as exc:
        print(f"error: {_one_line(exc.format_message())}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, not a traceback
        if os.environ.get("GANJOBS_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
