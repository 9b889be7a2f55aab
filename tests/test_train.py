"""Training: config, standalone loop, Ray Train DDP, resume, model folder round trip.

Everything runs for real on the CPU: a local Ray cluster of 2 CPUs, gloo DDP, the bundled
market data, the ``tiny`` preset.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

from ganjobs.config import PRESETS, resolve_config
from ganjobs.errors import GanjobsError
from ganjobs.model.folder import load_model
from ganjobs.model.preprocess import Preprocessor
from ganjobs.train.command import train_model
from ganjobs.train.loop import train_loop_per_worker
from ganjobs.train.recovery import NonFiniteLossError
from ganjobs.train.weights import state_hash

os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")


@pytest.fixture(scope="module")
def train_data(sample_dir) -> np.ndarray:
    from ganjobs.data.prices import load_market_data

    returns = load_market_data(sample_dir).returns[:1500]
    return Preprocessor.fit(returns).transform(returns).astype(np.float32)


def _standalone(data: np.ndarray, _ckpt: str | None = None, **overrides) -> dict:
    cfg = resolve_config("tiny", **overrides)
    return train_loop_per_worker({"gan": cfg.model_dump(), "data": data, "threads": 1,
                                  "checkpoint_dir": _ckpt})


# --- configuration ---------------------------------------------------------------------------

def test_presets_resolve_and_overrides_apply():
    for name in PRESETS:
        cfg = resolve_config(name)
        # A long-run TCN's noise must reach half a year; a conditional one reads the past.
        assert (cfg.model.arch == "mlp" or cfg.condition.enabled
                or cfg.model.receptive_field >= 127)
    assert resolve_config(None) == resolve_config("default")
    cfg = resolve_config("tiny", steps=7, **{"loss.kind": "hinge"}, optim={"n_critic": 3})
    assert (cfg.train.steps, cfg.loss.kind, cfg.optim.n_critic) == (7, "hinge", 3)
    assert cfg.loss.gp_weight == 0.0  # resolved: the penalty belongs to wgan-gp by default
    assert resolve_config("tiny").loss.gp_weight == 10.0
    assert resolve_config("gpu").train.bf16 and resolve_config("gpu").train.gpu


@pytest.mark.parametrize("bad", [{"preset": "huge"}, {"steps": 0}, {"batch_size": -1},
                                 {"kind": "lsgan"}, {"no_such_field": 1}])
def test_bad_config_is_refused(bad):
    preset = bad.pop("preset", None)
    with pytest.raises(GanjobsError):
        resolve_config(preset, **bad)


def test_configs_recorded_before_a_field_existed_keep_its_old_behaviour():
    from ganjobs.config import config_from_dict

    tree = resolve_config("tiny", noise_halflives=[5.0]).model_dump()
    del tree["model"]["noise_halflives"]  # as in a model.json written before the field
    del tree["model"]["critic_horizons"]
    del tree["model"]["lag1_news"]
    del tree["preprocess"]["calibrate_body"]
    old = config_from_dict(tree)
    assert old.model.noise_halflives == [] and old.model.critic_horizons == []
    assert not old.model.lag1_news
    assert not old.preprocess.calibrate_body
    new = config_from_dict(resolve_config("tiny", noise_halflives=[5.0]).model_dump())
    assert new.model.noise_halflives == [5.0] and new.model.critic_horizons == [5, 20]
    assert new.preprocess.calibrate_body


# --- standalone loop (no Ray) ----------------------------------------------------------------

def test_standalone_runs_without_ray_and_is_deterministic(train_data):
    a = _standalone(train_data, steps=3, seed=11)
    b = _standalone(train_data, steps=3, seed=11)
    c = _standalone(train_data, steps=3, seed=12)
    assert a["step"] == 3 and a["metrics"]["steps_done"] == 3
    for key, tensor in a["generator"].items():
        assert torch.equal(tensor, b["generator"][key]), key
    assert a["metrics"]["g_hash"] == b["metrics"]["g_hash"] != c["metrics"]["g_hash"]
    assert np.isfinite(a["metrics"]["d_loss"]) and np.isfinite(a["metrics"]["g_loss"])


@pytest.mark.parametrize("overrides", [{"kind": "bce"}, {"kind": "hinge"},
                                       {"arch": "mlp", "kind": "bce", "noise_halflives": [],
                                        "critic_horizons": []},
                                       {"noise": "student_t", "n_critic": 1},
                                       {"g_head": "log_volatility",
                                        "noise_halflives": [4.0, 30.0]}])
def test_standalone_every_loss_and_arch(train_data, overrides):
    out = _standalone(train_data, steps=2, **overrides)
    assert out["step"] == 2 and np.isfinite(out["metrics"]["g_loss"])


def test_standalone_resume_continues_exactly(train_data, tmp_path):
    """4 steps, stop, resume to 8 == 8 steps in one go: weights, optimisers and RNG restored."""
    first = _standalone(train_data, steps=4, seed=3, _ckpt=str(tmp_path / "a"))
    resumed = _standalone(train_data, steps=8, seed=3, _ckpt=str(tmp_path / "a"))
    straight = _standalone(train_data, steps=8, seed=3)
    assert first["step"] == 4
    assert resumed["start_step"] == 4 and resumed["metrics"]["steps_done"] == 4
    assert resumed["metrics"]["g_hash"] == straight["metrics"]["g_hash"]


def test_non_finite_loss_stops_with_the_step(train_data):
    # Finite float32 data so large that the critic's scores overflow at once.
    huge = np.full_like(train_data, 3e38)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 1"):
        _standalone(huge, steps=3)


# --- argument validation (before any work) ---------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "nope"}, "unknown preset"),
    ({"steps": 0}, "--steps"),
    ({"steps": -3}, "--steps"),
    ({"workers": 0}, "--workers"),
    ({"symbols": ["SPX", "GOLD"]}, "unknown symbol"),
    ({"run_name": "../escape"}, "--name"),
])
def test_bad_arguments_are_refused(sample_dir, tmp_path, kwargs, match):
    out = tmp_path / "model"
    with pytest.raises(GanjobsError, match=match):
        train_model(sample_dir, str(out), storage_path=str(tmp_path / "rr"), **kwargs)
    assert not out.exists()


def test_load_model_refuses_non_model_folders(tmp_path):
    with pytest.raises(GanjobsError, match="not a model folder"):
        load_model(str(tmp_path))
    (tmp_path / "_SUCCESS").write_bytes(b"")
    with pytest.raises(GanjobsError, match="model.json"):
        load_model(str(tmp_path))


# --- under Ray Train -------------------------------------------------------------------------

@pytest.mark.slow
def test_two_workers_ddp_keep_identical_weights_and_publish(ray_cluster, sample_dir, tmp_path,
                                                            capfd):
    out = str(tmp_path / "model")
    res = train_model(sample_dir, out, preset="tiny", workers=2, seed=5,
                      storage_path=str(tmp_path / "rr"))
    metrics = res["metrics"]
    # The console: rank 0's milestones reached the driver (start, both checkpoints of the
    # tiny preset, the end), without Ray Train's per-report dumps or per-step worker lines.
    console = capfd.readouterr()
    text = console.out + console.err
    assert "Reporting training result" not in text
    assert "[ganjobs.train] training tcn/wgan-gp from step 0 to 4 on 2 worker(s)" in text
    steps = re.findall(r"\[ganjobs\.train\] step (\d+)/4 d_loss \S+ g_loss \S+ gp \S+ "
                       r"facts \S+ \S+ steps/s \d+ samples/s, checkpoint$", text, re.M)
    assert steps == ["2", "4"]
    assert len(re.findall(r"step \d+/4 d_loss", text)) == 2
    assert re.search(r"\[ganjobs\.train\] finished: step 4/4, 4 steps in [\d.]+ s", text)
    assert res["steps"] == 4 and metrics["world_size"] == 2
    # Each rank hashed its own generator at the last checkpoint; DDP keeps them equal.
    assert len(metrics["g_hashes"]) == 2 and metrics["ranks_in_sync"]
    assert len(set(metrics["g_hashes"])) == 1

    model = load_model(out)
    meta = model.meta
    assert model.symbols == ["NDX", "SPX", "WTI"] and meta["steps"] == 4
    assert meta["config"]["train"]["workers"] == 2 and meta["seed"] == 5
    # The published weights are the ones the ranks agreed on.
    g_model = model.generator()
    assert state_hash(g_model) == metrics["g_hashes"][0]
    data = meta["data"]
    assert data["sha256"] and data["location"] == sample_dir
    assert data["first_date"] == data["input_first_date"]
    assert data["last_date"] < data["holdout_first_date"] <= data["holdout_last_date"]
    assert data["holdout_last_date"] == data["input_last_date"]
    assert data["n_holdout_returns"] == int(np.ceil(0.1 * (data["n_train_returns"]
                                                            + data["n_holdout_returns"])))
    assert meta["preprocess"]["lambert_w"] and len(meta["preprocess"]["delta"]) == 3
    assert meta["code_version"] and meta["created_at"] and len(model.fingerprint) == 64
    # Both calibrations were fitted on the training returns, one body map per symbol.
    cal = meta["calibration"]
    assert cal["kind"] == "affine" and len(cal["body"]["target"]) == 3

    a = model.sample(5, 30, seed=9)
    b = load_model(out).sample(5, 30, seed=9)
    assert a.dtype == np.float32 and a.shape == (5, 30, 3)
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a))
    assert not np.array_equal(a, model.sample(5, 30, seed=10))
    # A path's first steps do not depend on how long it is (noise drawn up front per path
    # differs, so compare lengths under the same seed only for shape).
    assert model.sample(1024, 252, seed=1).shape == (1024, 252, 3)


@pytest.mark.slow
def test_same_run_name_resumes_from_last_checkpoint(ray_cluster, sample_dir, tmp_path):
    storage = str(tmp_path / "rr")
    first = train_model(sample_dir, str(tmp_path / "m1"), preset="tiny", steps=4,
                        storage_path=storage, run_name="resume-me")
    assert first["steps"] == 4 and first["start_step"] == 0
    again = train_model(sample_dir, str(tmp_path / "m2"), preset="tiny", steps=8,
                        storage_path=storage, run_name="resume-me")
    assert again["start_step"] == 4 and again["steps"] == 8
    assert load_model(str(tmp_path / "m2")).meta["training"]["start_step"] == 4
    # Running the finished command once more trains nothing and republishes the same model.
    third = train_model(sample_dir, str(tmp_path / "m3"), preset="tiny", steps=8,
                        storage_path=storage, run_name="resume-me")
    assert third["start_step"] == 8 and third["steps"] == 8
    assert load_model(str(tmp_path / "m3")).fingerprint == load_model(
        str(tmp_path / "m2")).fingerprint


@pytest.mark.slow
def test_training_on_a_wide_table_says_how_it_was_read(ray_cluster, sample_dir, tmp_path, capfd):
    from ganjobs.data.prices import read_prices

    long = read_prices(sample_dir)
    wide = long.pivot(index="date", columns="symbol", values="close").reset_index()
    wide.to_csv(tmp_path / "closes.csv", index=False)
    capfd.readouterr()
    train_model(str(tmp_path / "closes.csv"), str(tmp_path / "m"), symbols=["SPX", "WTI"],
                preset="tiny", steps=2)
    notes = [line for line in capfd.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "wide table" in notes[0]
    meta = load_model(str(tmp_path / "m")).meta
    assert list(meta["data"]["layouts"].values()) == ["wide"]


@pytest.mark.slow
def test_s3_model_and_checkpoints_through_a_fresh_local_cluster(sample_dir, s3_env):
    """The CLI path end to end: no cluster yet, so train_model starts one whose workers get
    the AWS settings; checkpoints and the model folder both live in (moto) S3."""
    import ray

    if ray.is_initialized():
        ray.shutdown()  # this test runs last: the module's cluster is no longer needed
    out = f"s3://{s3_env}/models/tiny"
    res = train_model(sample_dir, out, preset="tiny", steps=2)
    assert res["storage_path"] == f"s3://{s3_env}/models/_ray_results"
    assert not ray.is_initialized()  # the cluster it started is shut down again
    model = load_model(out)
    assert model.meta["steps"] == 2
    assert model.sample(3, 10, seed=0).shape == (3, 10, 3)
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL_S3"]})
    ckpts = fs.glob(f"{s3_env}/models/_ray_results/{res['run_name']}/checkpoint_*")
    assert ckpts, "no checkpoint written to S3 storage"
