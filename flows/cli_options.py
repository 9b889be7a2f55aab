"""Command-line options shared by the pipeline's entry points (demo and serve)."""

from __future__ import annotations

import argparse
from typing import Any


def add_overrides_option(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE``, repeatable: config overrides on top of the preset."""
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="config override on top of the preset, repeatable "
                             "(--set model.noise_halflives=[20,80,320])")


def parsed_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace
                     ) -> dict[str, Any]:
    """The ``--set`` items as dotted overrides; a bad item exits through ``parser.error``."""
    from ganjobs.config import OverrideError, parse_overrides  # pydantic and yaml only

    try:
        return parse_overrides(args.overrides)
    except OverrideError as exc:
        parser.error(str(exc))
        raise  # parser.error exits; this line is never reached
