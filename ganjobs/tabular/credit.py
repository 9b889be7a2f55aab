"""The two real credit tables bundled with ganjobs, and their schema files.

``lending_club`` (Lending Club loans, 9,857 x 23, target ``Class``) and ``credit_data``
(consumer loan applications, 4,454 x 14, target ``Status``) come from the R package modeldata
(MIT licence); ``ganjobs/tabular/bundled/README.md`` says where and how they were made.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from ganjobs.errors import GanjobsError
from ganjobs.io.storage import join, sha256_bytes, split_url, write_bytes


@dataclass(frozen=True)
class CreditTable:
    """A bundled table: its Parquet file, target column, sha256 and schema file."""

    file: str
    target: str
    sha256: str
    schema_file: str


CREDIT_TABLES: dict[str, CreditTable] = {
    "lending_club": CreditTable(
        file="lending_club.parquet", target="Class",
        sha256="30082a6917a92186e5fde5777f93759f28696ff49b3983b50b3bb6fae22495dd",
        schema_file="lending_club.schema.yaml"),
    "credit_data": CreditTable(
        file="credit_data.parquet", target="Status",
        sha256="c56b63fa77bfc37a20915ee21e2d6a203a69fcb2d7c2ff57dc964cdc40cb50f2",
        schema_file="credit_data.schema.yaml"),
}


def _table(name: str) -> CreditTable:
    if name not in CREDIT_TABLES:
        raise GanjobsError(f"no bundled table {name!r} (choose {', '.join(CREDIT_TABLES)})")
    return CREDIT_TABLES[name]


def _bundled_file(file: str) -> bytes:
    return (resources.files("ganjobs.tabular") / "bundled" / file).read_bytes()


def bundled_bytes(name: str) -> bytes:
    """The Parquet bytes of bundled table ``name``, checked against the recorded sha256.

    Raises
    ------
    GanjobsError
        For an unknown name, or a file whose sha256 differs from the recorded one (a damaged
        or replaced installation).
    """
    table = _table(name)
    data = _bundled_file(table.file)
    digest = sha256_bytes(data)
    if digest != table.sha256:
        raise GanjobsError(f"bundled {table.file}: sha256 {digest} differs from the recorded "
                           f"{table.sha256}; reinstall ganjobs")
    return data


def bundled_table(name: str) -> pd.DataFrame:
    """Bundled table ``name`` (``lending_club`` or ``credit_data``) as stored.

    Raises
    ------
    GanjobsError
        See :func:`bundled_bytes`.
    """
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(bundled_bytes(name))).to_pandas()


def bundled_schema_text(name: str) -> str:
    """The YAML schema file of bundled table ``name``."""
    return _bundled_file(_table(name).schema_file).decode("utf-8")


def write_sample_credit(out: str) -> list[str]:
    """Write both bundled tables and their schema files into folder ``out`` (path or s3://).

    Writes ``<out>/<name>.parquet`` (the bundled bytes, so the recorded sha256 holds) and
    ``<out>/<name>.schema.yaml`` for each table; returns the URLs written.
    """
    split_url(out)  # refuse a bad location before any work
    payloads = {name: (bundled_bytes(name), bundled_schema_text(name).encode("utf-8"))
                for name in CREDIT_TABLES}  # all checked before the first write
    written = []
    for name, (table, schema) in payloads.items():
        for url, data in ((join(out, f"{name}.parquet"), table),
                          (join(out, f"{name}.schema.yaml"), schema)):
            write_bytes(url, data)
            written.append(url)
    return written
