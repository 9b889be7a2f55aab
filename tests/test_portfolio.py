"""Portfolio files: base_value defaults to the gross notional, and says so."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ganjobs.data.portfolio import Portfolio, load_portfolio, parse_portfolio
from ganjobs.errors import GanjobsError
from ganjobs.scenarios import FORMAT
from ganjobs.stress.command import run_stress

BOOK = "name: book\npositions:\n  A: 600000\n  B: -300000\n  C: 100000\n"


def test_missing_base_value_is_the_gross_notional():
    port = parse_portfolio(BOOK)
    assert port.base_value == port.gross_notional == 1_000_000.0
    assert port.base_value_source == "gross_notional"
    assert port.notes == ["base_value not given: the gross notional 1,000,000.00 (sum of "
                          "|notional|) is used as the value of the book"]
    # what stress results copy from the portfolio holds the value in use
    assert port.model_dump()["base_value"] == 1_000_000.0
    assert port.threshold == pytest.approx(100_000.0)


def test_base_value_from_the_file_is_kept():
    port = parse_portfolio(BOOK + "base_value: 2.5e6\n")
    assert port.base_value == 2_500_000.0
    assert (port.base_value_source, port.notes) == ("file", [])
    # a file that states the gross notional is still "file"
    same = parse_portfolio(BOOK + "base_value: 1000000\n")
    assert same.base_value == parse_portfolio(BOOK).base_value
    assert same.base_value_source == "file"


def test_constructed_in_code_gets_the_same_default():
    port = Portfolio(name="n", positions={"X": -2.0, "Y": 0.5})
    assert (port.base_value, port.base_value_source) == (2.5, "gross_notional")
    assert Portfolio(name="n", base_value=3.0, positions={"X": 1.0}).base_value_source == "file"


@pytest.mark.parametrize("text, problem", [
    ("name: x\nbase_value: null\npositions: {A: 1}\n", "base_value: Input should be a valid "
                                                       "number"),
    ("name: x\nbase_value: 0\npositions: {A: 1}\n", "base_value"),
    ("name: x\nbase_value: '1e6'\npositions: {A: 1}\n", "base_value"),
    ("name: x\npositions: {A: 1.0e308, B: -1.0e308}\n",
     "base_value not given and the gross notional is not finite"),
    ("name: x\npositions: {A: 0, B: 0}\n", "all notionals are zero"),
    ("name: x\npositions: {A: 1}\nleverage: 2\n", "leverage: unknown key"),
    ("positions: {A: 1}\n", "name: required key missing"),
    ("name: x\n", "positions: required key missing"),
    ("- a\n", "must be a YAML mapping with name and positions"),
])
def test_refusals_without_base_value(text, problem):
    with pytest.raises(GanjobsError, match=r"^book\.yaml: .*" + re.escape(problem)):
        parse_portfolio(text, source="book.yaml")


def _write_set(root: Path, paths: np.ndarray, symbols: list[str]) -> str:
    """A published scenario set (docs/formats.md) holding ``paths`` (N, H, k)."""
    root.mkdir(parents=True)
    n, h, _ = paths.shape
    cols = {"scenario": np.repeat(np.arange(n, dtype=np.int64), h),
            "step": np.tile(np.arange(1, h + 1, dtype=np.int32), n)}
    cols.update({s: paths[:, :, j].astype(np.float32).ravel() for j, s in enumerate(symbols)})
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    (root / "part-00000.parquet").write_bytes(buf.getvalue())
    (root / "manifest.json").write_text(json.dumps({
        "format": FORMAT, "symbols": symbols, "horizon": h, "n_scenarios": n,
        "return_kind": "log", "seed": 0,
        "parts": [{"name": "part-00000.parquet", "rows": n * h, "sha256": "x"}]}))
    (root / "_SUCCESS").write_bytes(b"")
    return str(root)


def test_stress_without_base_value_equals_stating_the_gross_notional(tmp_path):
    paths = np.random.default_rng(3).normal(0, 0.01, size=(400, 5, 3))
    sset = _write_set(tmp_path / "set", paths, ["A", "B", "C"])
    (tmp_path / "default.yaml").write_text(BOOK)
    (tmp_path / "stated.yaml").write_text(BOOK + "base_value: 1000000\n")
    assert load_portfolio(str(tmp_path / "default.yaml")).base_value_source == "gross_notional"
    runs = {name: run_stress(sset, str(tmp_path / f"{name}.yaml"), str(tmp_path / name),
                             baselines=[])["results"] for name in ("default", "stated")}
    assert runs["default"]["portfolio"]["base_value"] == 1_000_000.0
    assert runs["default"]["sources"] == runs["stated"]["sources"]
    tail = runs["default"]["sources"]["ganjobs"]["horizons"]["5"]
    assert tail["var_pct"]["99"] == pytest.approx(tail["var"]["99"] / 1_000_000.0)


def test_cli_stress_says_the_base_value_was_defaulted(tmp_path, capsys):
    from ganjobs.cli import main

    paths = np.random.default_rng(4).normal(0, 0.01, size=(200, 5, 3))
    sset = _write_set(tmp_path / "set", paths, ["A", "B", "C"])
    (tmp_path / "book.yaml").write_text(BOOK)
    assert main(["stress", "--scenarios", sset, "--portfolio", str(tmp_path / "book.yaml"),
                 "--out", str(tmp_path / "out"), "--baselines", "none"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "gross notional" in notes[0]
