"""Scenario sets: layout, determinism across shard counts, S3 round trip, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from ganjobs.cli import main
from ganjobs.errors import GanjobsError
from ganjobs.generate.command import generate_scenarios
from ganjobs.generate.parts import BLOCK, plan_parts, sample_range
from ganjobs.io.storage import join, read_bytes
from ganjobs.scenarios import FORMAT, open_scenarios


@pytest.fixture(scope="module")
def model_url(tmp_path_factory, sample_dir):
    """A real (tiny) model trained once by the training engine."""
    from ganjobs.train.command import train_model

    out = str(tmp_path_factory.mktemp("model") / "m")
    train_model(prices=sample_dir, out=out, symbols=["SPX", "WTI"], preset="tiny", workers=1,
                seed=3)
    return out


def test_layout_and_manifest(model_url, tmp_path):
    out = str(tmp_path / "set")
    m = generate_scenarios(model_url, out, n=1500, horizon=7, seed=11)
    assert m["format"] == FORMAT and m["symbols"] == ["SPX", "WTI"]
    assert (m["horizon"], m["n_scenarios"], m["return_kind"], m["seed"]) == (7, 1500, "log", 11)
    for key in ("created_at", "model", "data", "code_version", "parts", "tails", "filtering"):
        assert key in m
    assert m["model"]["location"] == model_url and len(m["model"]["fingerprint"]) == 64
    assert m["data"]["sha256"] and m["data"]["first_date"] and m["data"]["last_date"]
    assert m["filtering"]["rejected_paths"] == 0 and m["filtering"]["clipped_values"] == 0
    table = open_scenarios(out).to_table()
    assert table.column_names == ["scenario", "step", "SPX", "WTI"]
    assert str(table.schema.field("scenario").type) == "int64"
    assert str(table.schema.field("step").type) == "int32"
    assert str(table.schema.field("SPX").type) == "float"
    sc, st = table.column("scenario").to_numpy(), table.column("step").to_numpy()
    assert table.num_rows == 1500 * 7
    assert (sc == np.repeat(np.arange(1500), 7)).all()
    assert (st == np.tile(np.arange(1, 8), 1500)).all()
    spx = table.column("SPX").to_numpy()
    assert np.isfinite(spx).all()
    assert m["tails"]["SPX"]["min"] == pytest.approx(float(spx.min()))
    import hashlib

    for part in m["parts"]:
        body = read_bytes(join(out, part["name"]))
        assert hashlib.sha256(body).hexdigest() == part["sha256"]
        assert pq.read_metadata(__import__("io").BytesIO(body)).num_rows == part["rows"]


def test_same_seed_byte_identical_and_other_seed_differs(model_url, tmp_path):
    a = generate_scenarios(model_url, str(tmp_path / "a"), n=700, horizon=5, seed=1)
    b = generate_scenarios(model_url, str(tmp_path / "b"), n=700, horizon=5, seed=1)
    c = generate_scenarios(model_url, str(tmp_path / "c"), n=700, horizon=5, seed=2)
    assert [p["sha256"] for p in a["parts"]] == [p["sha256"] for p in b["parts"]]
    assert [p["sha256"] for p in a["parts"]] != [p["sha256"] for p in c["parts"]]


def test_result_independent_of_sharding(model_url):
    from ganjobs.model.folder import load_model

    gan = load_model(model_url)
    whole = sample_range(gan, 0, 3 * BLOCK, 6, seed=5)
    pieces = [sample_range(gan, lo, hi, 6, seed=5)
              for lo, hi in [(0, 100), (100, 1500), (1500, 3 * BLOCK)]]
    np.testing.assert_array_equal(whole, np.concatenate(pieces))
    assert [(p.start, p.stop) for p in plan_parts(40_000)] == [
        (0, 16384), (16384, 32768), (32768, 40000)]


def test_ray_tasks_match_in_process(model_url, tmp_path):
    n = 16384 + 500  # two parts
    local = generate_scenarios(model_url, str(tmp_path / "local"), n=n, horizon=4, seed=9,
                               workers=1)
    ray_set = generate_scenarios(model_url, str(tmp_path / "ray"), n=n, horizon=4, seed=9,
                                 workers=2)
    assert [p["sha256"] for p in local["parts"]] == [p["sha256"] for p in ray_set["parts"]]


def test_s3_round_trip(model_url, s3_env, tmp_path):
    url = f"s3://{s3_env}/sets/one"
    m = generate_scenarios(model_url, url, n=300, horizon=5, seed=4)
    local = generate_scenarios(model_url, str(tmp_path / "l"), n=300, horizon=5, seed=4)
    assert m["parts"] == local["parts"]
    s = open_scenarios(url)
    assert s.paths().shape == (300, 5, 2)


def test_overwrite_protection_and_incomplete_refused(model_url, tmp_path, capsys):
    out = str(tmp_path / "set")
    args = ["generate", "--model", model_url, "--out", out, "--n", "10", "--horizon", "3"]
    assert main(args) == 0
    before = json.loads((tmp_path / "set" / "manifest.json").read_text())["created_at"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--overwrite" in err and len(err.splitlines()) == 1
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["created_at"] == before
    assert main([*args, "--overwrite"]) == 0
    (tmp_path / "set" / "_SUCCESS").unlink()
    with pytest.raises(GanjobsError, match="_SUCCESS"):
        open_scenarios(out)


@pytest.mark.parametrize("extra,msg", [
    (["--n", "0", "--horizon", "5"], "--n must be a positive integer"),
    (["--n", "5", "--horizon", "-1"], "--horizon must be a positive integer"),
])
def test_bad_sizes_refused(model_url, tmp_path, capsys, extra, msg):
    out = tmp_path / "set"
    assert main(["generate", "--model", model_url, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and msg in err
    assert not out.exists()


def test_not_a_model_folder_refused(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    out = tmp_path / "set"
    code = main(["generate", "--model", str(tmp_path / "m"), "--out", str(out), "--n", "5",
                 "--horizon", "5"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert not out.exists()


def test_unwritable_target_refused(model_url, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["generate", "--model", model_url, "--out", str(blocker / "set"), "--n", "5",
                 "--horizon", "5"])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert blocker.read_text() == "x"


def test_symbol_subset_and_unknown_symbol(model_url, tmp_path, capsys):
    full = generate_scenarios(model_url, str(tmp_path / "full"), n=50, horizon=4, seed=2)
    sub = generate_scenarios(model_url, str(tmp_path / "sub"), n=50, horizon=4, seed=2,
                             symbols=["WTI"])
    assert sub["symbols"] == ["WTI"] and full["symbols"] == ["SPX", "WTI"]
    np.testing.assert_array_equal(open_scenarios(str(tmp_path / "sub")).paths()[..., 0],
                                  open_scenarios(str(tmp_path / "full")).paths()[..., 1])
    out = tmp_path / "bad"
    assert main(["generate", "--model", model_url, "--out", str(out), "--n", "5",
                 "--horizon", "5", "--symbols", "XYZ"]) == 2
    assert "unknown symbol" in capsys.readouterr().err
    assert not out.exists()


def test_generation_sigkilled_mid_write_publishes_nothing_and_rerun_completes(model_url,
                                                                               tmp_path):
    """A real ``ganjobs generate`` process is SIGKILLed after its first part lands: readers
    refuse the folder, and re-running the same command takes over the dead writer's lease and
    publishes the same bytes as an uninterrupted run."""
    out = tmp_path / "set"
    n_parts = 6
    args = ["generate", "--model", model_url, "--out", str(out), "--n",
            str(BLOCK * 16 * n_parts), "--horizon", "16", "--seed", "5", "--workers", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "ganjobs.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "part-00000.parquet").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "generation never started"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    left = sorted(p.name for p in out.iterdir())
    assert "_SUCCESS" not in left and "_LOCK" in left
    assert len([p for p in left if p.startswith("part-")]) < n_parts, "killed too late"
    with pytest.raises(GanjobsError, match="_SUCCESS"):
        open_scenarios(str(out))

    assert main(args) == 0
    reference = tmp_path / "reference"
    assert main([*args[:4], str(reference), *args[5:]]) == 0
    names = sorted(p.name for p in reference.glob("part-*.parquet"))
    assert sorted(p.name for p in out.glob("part-*.parquet")) == names
    assert len(names) == n_parts and not (out / "_LOCK").exists()
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes()


def test_long_run_model_refuses_a_market_state(model_url, sample_dir, tmp_path, capsys):
    """A model trained without conditioning cannot start from a date: said, not ignored."""
    out = tmp_path / "set"
    code = main(["generate", "--model", model_url, "--out", str(out), "--n", "5",
                 "--horizon", "2", "--prices", sample_dir, "--as-of", "2008-10-15"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "draws long-run paths only" in err and not out.exists()
    # --unconditional keeps the long-run behaviour and records it.
    m = generate_scenarios(model_url, str(out), n=5, horizon=2, seed=0, unconditional=True,
                           prices=sample_dir, progress=False)
    assert m["conditioning"] == {"mode": "long-run", "model_conditional": False}
