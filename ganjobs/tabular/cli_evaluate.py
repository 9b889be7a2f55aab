"""Table commands of the ``ganjobs`` command line (registered on :data:`ganjobs.cli.app`)."""

from __future__ import annotations
