"""The table model: conditional sampler, calibration and privacy accounting, then training on
a real local Ray cluster (2 workers, gloo DDP), generation, conditions, DP-SGD and the
commands' refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganjobs.cli import main
from ganjobs.tabular.calibration import apply_map, fit_map
from ganjobs.tabular.credit import write_sample_credit
from ganjobs.tabular.privacy import epsilon_spent, noise_for
from ganjobs.tabular.sampler import CondSampler

# --- units ---------------------------------------------------------------------------------


def _sampler(min_rows: int = 1) -> tuple[CondSampler, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.choice(3, 5000, p=[0.90, 0.09, 0.01])
    b = rng.choice(2, 5000, p=[0.5, 0.5])
    codes = np.stack([a, b], axis=1)
    counts = [np.bincount(a, minlength=3), np.bincount(b, minlength=2)]
    return CondSampler(counts, True, min_rows, torch.device("cpu"), codes=codes), codes


def test_training_by_sampling_draws_rows_that_hold_the_asked_category():
    sampler, codes = _sampler()
    rng = torch.Generator().manual_seed(0)
    cond, column, category, rows = sampler.draw_training(20_000, rng)
    assert cond.shape == (20_000, 5) and torch.all(cond.sum(1) == 1)
    col, cat, rows = column.numpy(), category.numpy(), rows.numpy()
    assert (codes[rows, col] == cat).all()
    # Log frequency: the 1% category is asked for far above its share of the rows.
    rare = ((col == 0) & (cat == 2)).sum() / (col == 0).sum()
    assert rare > 0.10
    # Generation draws the table's own frequencies.
    _, gcol, gcat = sampler.draw_generation(20_000, rng)
    share = ((gcol == 0) & (gcat == 2)).sum().item() / (gcol == 0).sum().item()
    assert share == pytest.approx(0.01, abs=0.005)


def test_rare_categories_are_never_asked_for():
    sampler, _ = _sampler(min_rows=100)
    rng = torch.Generator().manual_seed(1)
    _, column, category, _ = sampler.draw_training(20_000, rng)
    assert not ((column == 0) & (category == 2)).any()
    _, column, category = sampler.draw_generation(20_000, rng)
    assert not ((column == 0) & (category == 2)).any()
    with pytest.raises(Exception, match="cannot be asked for"):
        sampler.fixed(0, 2, 4)


def test_calibration_map_is_monotone_and_matches_the_real_marginal():
    rng = np.random.default_rng(2)
    generated = rng.normal(1.0, 0.5, 20_000)  # shifted and too narrow
    real = rng.normal(0.0, 1.0, 5_000)
    knots = fit_map(generated, real)
    mapped = apply_map(rng.normal(1.0, 0.5, 20_000), knots)
    assert np.all(np.diff(apply_map(np.sort(generated), knots)) >= 0)
    assert mapped.mean() == pytest.approx(0.0, abs=0.05)
    assert mapped.std() == pytest.approx(1.0, abs=0.05)


def test_noise_multiplier_spends_the_target_epsilon():
    sigma = noise_for(1.0, 1e-4, 0.05, 2000)
    assert epsilon_spent(sigma, 0.05, 2000, 1e-4) == pytest.approx(1.0, abs=0.02)
    # More updates than planned spend more.
    assert epsilon_spent(sigma, 0.05, 3000, 1e-4) > 1.05


# --- end to end on a real Ray cluster ------------------------------------------------------


@pytest.fixture(scope="module")
def credit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("credit")
    write_sample_credit(str(out))
    return out


@pytest.fixture(scope="module")
def model(ray_cluster, credit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "cd"
    rc = main(["train-table", "--data", str(credit / "credit_data.parquet"),
               "--schema", str(credit / "credit_data.schema.yaml"), "--out", str(out),
               "--preset", "table-tiny", "--steps", "20", "--workers", "2", "--seed", "3",
               "--storage", str(out.parent / "rr"), "--name", "table-test"])
    assert rc == 0
    return out


def _read_set(url: Path) -> pd.DataFrame:
    manifest = json.loads((url / "manifest.json").read_text())
    return pd.concat([pd.read_parquet(url / p["name"]) for p in manifest["parts"]],
                     ignore_index=True)


@pytest.mark.slow
def test_two_workers_train_and_record_the_run(model):
    meta = json.loads((model / "model.json").read_text())
    assert (model / "_SUCCESS").exists()
    assert meta["format"] == "ganjobs.table-model/1" and meta["step"] == 20
    assert meta["training"]["workers"] == 2 and meta["training"]["ranks_in_sync"] is True
    assert meta["privacy"] is None and meta["target"] == "Status"
    split = meta["split"]
    assert split["rows"]["train"] == meta["data"]["train_rows"] < meta["data"]["rows"]
    assert meta["calibration"], "continuous columns get a marginal calibration"


@pytest.mark.slow
def test_synth_is_deterministic_and_respects_the_schema(model, tmp_path):
    a, b, c = (tmp_path / n for n in ("a", "b", "c"))
    for out, seed in ((a, 1), (b, 1), (c, 2)):
        assert main(["synth", "--model", str(model), "--out", str(out), "--n", "3000",
                     "--seed", str(seed)]) == 0
    assert (a / "part-00000.parquet").read_bytes() == (b / "part-00000.parquet").read_bytes()
    assert (a / "part-00000.parquet").read_bytes() != (c / "part-00000.parquet").read_bytes()
    rows = _read_set(a)
    manifest = json.loads((a / "manifest.json").read_text())
    assert len(rows) == 3000 and manifest["format"] == "ganjobs.table/1"
    assert manifest["split"] == json.loads((model / "model.json").read_text())["split"]
    schema = manifest["schema"]
    for name, spec in schema["columns"].items():
        col = rows[name]
        if spec.get("type") == "integer":
            assert str(col.dtype) == "Int64"
        if spec.get("min") is not None:
            assert (col.dropna().astype(float) >= spec["min"]).all(), name
        if spec.get("max") is not None:
            assert (col.dropna().astype(float) <= spec["max"]).all(), name
    assert set(rows["Status"].unique()) <= {"good", "bad"}
    assert rows["Income"].isna().any(), "missing values are modelled, not dropped"


@pytest.mark.slow
def test_where_asks_every_row_for_a_category(model, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["synth", "--model", str(model), "--out", str(out), "--n", "500",
                 "--where", "Status=bad"]) == 0
    rows = _read_set(out)
    assert (rows["Status"] == "bad").all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["where"] == {"Status": "bad"}
    assert 0.0 <= manifest["condition_agreement"] <= 1.0
    assert "produced it by itself" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--where", "Nope=1"], "no column 'Nope'"),
    (["--where", "Income=3"], "conditions take a categorical column"),
    (["--where", "Status=meh"], "unknown value"),
    (["--where", "Status=bad", "--where", "Home=rent"], "one condition at most"),
    (["--n", "0"], "--n must be"),
])
def test_synth_refuses_bad_requests(model, tmp_path, capsys, args, message):
    out = tmp_path / "x"
    base = ["synth", "--model", str(model), "--out", str(out)]
    if "--n" not in args:
        base += ["--n", "10"]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_dp_training_records_the_accountants_epsilon(ray_cluster, credit, tmp_path):
    out = tmp_path / "dp"
    rc = main(["train-table", "--data", str(credit / "credit_data.parquet"),
               "--schema", str(credit / "credit_data.schema.yaml"), "--out", str(out),
               "--preset", "table-tiny", "--steps", "10", "--workers", "2",
               "--dp-epsilon", "1", "--storage", str(tmp_path / "rr")])
    assert rc == 0
    meta = json.loads((out / "model.json").read_text())
    p = meta["privacy"]
    assert p["epsilon"] == pytest.approx(1.0, abs=0.02) and p["target_epsilon"] == 1.0
    assert p["delta"] == pytest.approx(1.0 / meta["data"]["train_rows"])
    assert p["critic_updates"] == 10 and p["noise_multiplier"] > 0
    assert meta["config"]["loss"]["kind"] == "bce" and meta["config"]["model"]["pac"] == 1
    assert not meta["calibration"], "a private model is not calibrated on the real rows"
    assert main(["synth", "--model", str(out), "--out", str(tmp_path / "s"), "--n", "50"]) == 0
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["model"]["dp"] == {"epsilon": p["epsilon"], "delta": p["delta"]}


@pytest.mark.slow
def test_same_run_name_resumes(model, credit):
    from ganjobs.tabular.train import train_table

    again = train_table(str(credit / "credit_data.parquet"), str(model.parent / "more"),
                        schema=str(credit / "credit_data.schema.yaml"), preset="table-tiny",
                        steps=30, workers=2, seed=3, storage_path=str(model.parent / "rr"),
                        run_name="table-test")
    assert again["steps"] == 30 and again["meta"]["training"]["start_step"] == 20


@pytest.mark.parametrize("args, message", [
    (["--dp-epsilon", "-1"], "--dp-epsilon must be a positive number"),
    (["--preset", "nope"], "unknown table preset"),
    (["--steps", "0"], "train.steps"),
])
def test_train_table_refuses_bad_options(credit, tmp_path, capsys, args, message):
    out = tmp_path / "m"
    rc = main(["train-table", "--data", str(credit / "credit_data.parquet"), "--out", str(out),
               *args])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_train_table_needs_a_target(tmp_path, capsys):
    frame = pd.DataFrame({"amount": np.arange(100.0), "grade": ["a", "b"] * 50})
    frame.to_parquet(tmp_path / "t.parquet")
    rc = main(["train-table", "--data", str(tmp_path / "t.parquet"), "--out",
               str(tmp_path / "m"), "--preset", "table-tiny"])
    assert rc == 2
    assert "no target column" in capsys.readouterr().err
