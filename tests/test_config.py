"""The configuration: presets read from their files, dotted overrides, the versioned tree
recorded in model.json (a real version-1 model folder loads and samples as it did), and
``ganjobs train --set``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ganjobs.config import (
    CONFIG_SCHEMA,
    FIELD_SECTIONS,
    PRESETS,
    SECTIONS,
    GanConfig,
    OverrideError,
    check_overrides,
    config_from_dict,
    migrate,
    parse_overrides,
    resolve_config,
)
from ganjobs.config.migrate import V2_ADDED_FIELDS, check_schema
from ganjobs.config.presets import _check, load_presets
from ganjobs.errors import GanjobsError

ROOT = Path(__file__).resolve().parents[1]
#: A model folder written by the code before the tree had a version (tiny preset, SPX and WTI,
#: seed 3): its model.json records none of the fields of version 2.
MODEL_V1 = Path(__file__).resolve().parent / "data" / "model_v1"

#: The presets as the code held them in a dict before they became files.
OLD_PRESETS = {
    "default": {},
    "gpu": {
        "data": {"window": 127},
        "model": {"g_channels": 80, "d_channels": 80},
        "train": {"steps": 4000, "batch_size": 1024, "checkpoint_every": 1000,
                  "log_every": 200, "gpu": True, "bf16": True},
    },
    "tiny": {
        "data": {"window": 16},
        "model": {"g_channels": 8, "d_channels": 8, "noise_dim": 2, "mlp_hidden": 16},
        "loss": {"facts_length": 32, "facts_lags": 8},
        "preprocess": {"lambert_w": True},
        "train": {"steps": 4, "batch_size": 8, "checkpoint_every": 2, "log_every": 1,
                  "max_failures": 0},
    },
    "quantgan": {
        "model": {"g_head": "linear", "critic_abs": False, "noise_halflives": [],
                  "critic_horizons": []},
        "loss": {"facts_weight": 0.0},
        "preprocess": {"lambert_w": True, "calibrate_body": False},
    },
    "mlp": {
        "model": {"arch": "mlp", "critic_abs": False, "noise_halflives": [],
                  "critic_horizons": []},
        "preprocess": {"calibrate_body": False},
        "loss": {"kind": "bce", "facts_weight": 0.0},
    },
}

#: The resolved default tree before the configuration was split into modules.
OLD_DEFAULTS = {
    "data": {"window": 64, "holdout_fraction": 0.1},
    "model": {"arch": "tcn", "g_channels": 32, "d_channels": 32, "blocks": 6,
              "mlp_hidden": 256, "noise_dim": 8, "noise": "normal", "noise_df": 5,
              "noise_t_channels": None, "negative_slope": 0.2, "g_head": "volatility",
              "critic_abs": True, "noise_halflives": [20.0, 80.0, 320.0],
              "critic_horizons": [5, 20], "lag1_news": True},
    "loss": {"kind": "wgan-gp", "gp_weight": 10.0, "facts_weight": 10.0, "facts_length": 252,
             "facts_lags": 50, "facts_lag1_weight": 1.0, "facts_vol_window": 20,
             "facts_short_window": 20, "facts_short_lags": 5, "facts_short_weight": 10.0,
             "facts_estimator": "split"},
    "optim": {"lr_g": 0.0003, "lr_d": 0.001, "beta1": 0.5, "beta2": 0.9, "n_critic": 2},
    "preprocess": {"lambert_w": False, "calibrate": True, "calibrate_body": True,
                   "body_tails": "moments"},
    "train": {"steps": 800, "batch_size": 64, "checkpoint_every": 200, "log_every": 50,
              "seed": 0, "workers": 1, "gpu": False, "bf16": False, "max_failures": 1,
              "explode_threshold": 1000000.0, "max_recoveries": 3, "recovery_lr_factor": 0.5},
}


# --- presets and defaults ---------------------------------------------------------------------

def test_presets_from_files_equal_the_former_dict_and_the_defaults_are_unchanged():
    assert {name: PRESETS[name] for name in OLD_PRESETS} == OLD_PRESETS
    assert set(PRESETS) - set(OLD_PRESETS) == {"daily", "tiny-daily"}  # conditional models
    assert list(PRESETS)[0] == "default"
    defaults = resolve_config().model_dump()
    # The conditional section came later, off by default: the long-run defaults are unchanged.
    assert defaults.pop("condition")["enabled"] is False
    assert defaults == OLD_DEFAULTS
    folder = ROOT / "ganjobs" / "config" / "presets"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(PRESETS)
    assert load_presets() == PRESETS
    for name in PRESETS:
        assert isinstance(resolve_config(name), GanConfig)


@pytest.mark.parametrize("tree, match", [([1], "not a mapping of config sections"),
                                         ({"modle": {}}, "unknown config section 'modle'"),
                                         ({"model": 3}, "section 'model' is not a mapping")])
def test_a_malformed_preset_file_is_refused(tree, match):
    with pytest.raises(GanjobsError, match=match):
        _check("mine", tree)


def test_every_field_has_a_one_line_description_and_a_section_in_the_docs():
    docs = (ROOT / "docs" / "configuration.md").read_text()
    for section in SECTIONS:
        assert f"## `{section}`" in docs, section
        model = GanConfig.model_fields[section].annotation
        for name, info in model.model_fields.items():
            assert info.description and "\n" not in info.description, f"{section}.{name}"
            assert len(info.description) <= 100, f"{section}.{name}"
            assert f"`{name}`" in docs, f"{section}.{name} is not in docs/configuration.md"


def test_an_installed_wheel_carries_the_preset_files(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "ganjobs",
                            "pyproject.toml", "README.md"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "wheel"), str(src)], check=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("ganjobs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"ganjobs/config/presets/{name}.yaml" for name in PRESETS} <= names


# --- overrides --------------------------------------------------------------------------------

def test_overrides_read_lists_numbers_booleans_and_text():
    over = parse_overrides([
        "model.noise_halflives=[20,80,320]", "train.steps=400", "optim.lr_g=1e-4",
        "model.critic_abs=false", "model.arch=tcn", "loss.facts_estimator='square'",
        "model.critic_horizons=[5, 10]", " data.window = 32 ", "train.steps=500",
    ])
    assert over == {"model.noise_halflives": [20, 80, 320], "train.steps": 500,
                    "optim.lr_g": 1e-4, "model.critic_abs": False, "model.arch": "tcn",
                    "loss.facts_estimator": "square", "model.critic_horizons": [5, 10],
                    "data.window": 32}
    cfg = resolve_config("tiny", **over)
    assert cfg.model.noise_halflives == [20.0, 80.0, 320.0] and cfg.train.steps == 500
    assert cfg.optim.lr_g == 1e-4 and not cfg.model.critic_abs
    assert cfg.loss.facts_estimator == "square" and cfg.data.window == 32
    assert cfg.model.g_channels == 8  # the rest of the preset stays


def test_a_dotted_null_sets_none_and_a_bare_none_is_not_given():
    over = parse_overrides(["loss.kind=hinge", "loss.gp_weight=null"])
    assert over["loss.gp_weight"] is None
    # None resolves gp_weight by the loss: 0 for hinge, where 5 would have stayed 5.
    assert resolve_config(**over).loss.gp_weight == 0.0
    assert resolve_config(**{"loss.gp_weight": 5.0}).loss.gp_weight == 5.0
    assert resolve_config("tiny", steps=None).train.steps == 4


@pytest.mark.parametrize("item, match", [
    ("lag1_news", "KEY=VALUE"), ("=true", "KEY=VALUE"), ("", "KEY=VALUE"),
    ("model.arch=", "KEY=VALUE"), ("steps=4", "did you mean train.steps"),
    ("modle.arch=tcn", "unknown config section 'modle'"),
    ("model.steps=4", "unknown config field 'model.steps'"),
    ("model=3", "must be SECTION.FIELD"),
])
def test_malformed_or_unknown_overrides_are_clear_errors(item, match):
    with pytest.raises(OverrideError, match=match) as info:
        parse_overrides([item])
    assert isinstance(info.value, GanjobsError) and isinstance(info.value, ValueError)


def test_bad_override_values_are_refused_when_resolved():
    with pytest.raises(GanjobsError, match=r"noise_halflives must be in \(0, 100000\]"):
        resolve_config(**parse_overrides(["model.noise_halflives=[0]"]))
    with pytest.raises(GanjobsError, match="train.steps"):
        resolve_config(**parse_overrides(["train.steps=many"]))


def test_check_overrides_checks_keys_and_copies_values():
    value = [1.0, 2.0]
    out = check_overrides({"model.noise_halflives": value})
    value.append(3.0)
    assert out == {"model.noise_halflives": [1.0, 2.0]}
    with pytest.raises(OverrideError, match="mapping"):
        check_overrides(["model.arch=tcn"])  # type: ignore[arg-type]
    with pytest.raises(OverrideError, match="string"):
        check_overrides({3: 1})
    assert set(FIELD_SECTIONS.values()) == set(SECTIONS)


# --- the versioned tree -----------------------------------------------------------------------

def _v1_meta() -> dict:
    return json.loads((MODEL_V1 / "model.json").read_text())


def test_a_real_version_1_tree_migrates_to_the_old_behaviour():
    meta = _v1_meta()
    assert "config_schema" not in meta
    tree = meta["config"]
    migrated = migrate(tree, 1)
    assert tree == _v1_meta()["config"]  # the recorded tree is not touched
    for section, fields in V2_ADDED_FIELDS.items():
        for name, value in fields.items():
            assert name not in tree[section], f"{section}.{name} was recorded already"
            assert migrated[section][name] == value
    cfg = config_from_dict(tree)
    assert cfg.model.noise_halflives == [] and cfg.model.critic_horizons == []
    assert cfg.model.lag1_news is False and cfg.loss.facts_weight == 0.0
    assert cfg.preprocess.calibrate_body is False and cfg.preprocess.body_tails == "variance"
    assert cfg.data.window == 16 and cfg.train.seed == 3  # what it recorded is kept
    # The same tree read as the current version would take today's defaults instead.
    assert config_from_dict(tree, schema=CONFIG_SCHEMA).model.noise_halflives == [20, 80, 320]
    assert migrate(migrated, CONFIG_SCHEMA) == migrated


def test_a_real_version_1_model_folder_loads_and_samples_as_before(tmp_path):
    from ganjobs.model.folder import load_model

    gan = load_model(str(MODEL_V1))
    assert gan.symbols == ["SPX", "WTI"] and gan.config.model.noise_halflives == []
    y = gan.sample(8, 20, 5)
    assert y.shape == (8, 20, 2) and y.dtype == np.float32
    # The first path's first days as the code that wrote the folder sampled them.
    before = np.array([[-0.00240935, -0.01454054], [-0.00280805, 0.03397606],
                       [-0.00668631, 0.00024564]], dtype=np.float32)
    np.testing.assert_allclose(y[0, :3], before, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("version, match", [(CONFIG_SCHEMA + 1, "newer"), (0, "positive"),
                                            ("2", "integer"), (True, "integer")])
def test_unknown_schema_versions_are_refused(version, match):
    with pytest.raises(GanjobsError, match=match):
        check_schema(version)


def test_a_model_folder_written_now_records_the_version_and_round_trips(tmp_path):
    import torch

    from ganjobs.model.folder import load_model, write_model_folder
    from ganjobs.model.networks import build_generator
    from ganjobs.model.preprocess import Preprocessor

    cfg = resolve_config("tiny", **parse_overrides(["model.noise_halflives=[3, 9]",
                                                    "preprocess.calibrate_body=false"]))
    torch.manual_seed(0)
    state = build_generator(cfg.model, 2, cfg.data.window).state_dict()
    pre = Preprocessor.fit(np.random.default_rng(0).normal(0, 0.01, (500, 2)), False)
    out = str(tmp_path / "model")
    meta = write_model_folder(out, cfg=cfg, generator_state=state, preprocessor=pre,
                              symbols=["A", "B"], data_record={}, step=1, metrics={},
                              training={}, created_at="2024-01-02T00:00:00+00:00")
    assert meta["config_schema"] == CONFIG_SCHEMA == 3
    recorded = json.loads((tmp_path / "model" / "model.json").read_text())
    assert recorded["config_schema"] == 3
    gan = load_model(out)
    assert gan.config == cfg
    assert gan.config.model.noise_halflives == [3.0, 9.0]
    assert not gan.config.preprocess.calibrate_body


# --- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize("item, match", [
    ("model.noise_halflives", "--set needs KEY=VALUE"),
    ("train.seed=4", "--set train.seed: use --seed"),
    ("model.window=3", "unknown config field 'model.window'"),
    ("model.noise_halflives=[0]", "invalid configuration: model: Value error, noise_halflives"),
])
def test_train_refuses_a_bad_set_with_one_error_line(item, match, tmp_path, sample_dir, capsys):
    from ganjobs.cli import main

    code = main(["train", "--prices", sample_dir, "--out", str(tmp_path / "m"), "--set", item])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and match in err
    assert err.count("\n") == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_train_set_reaches_the_model_json(tmp_path, sample_dir):
    from ganjobs.cli import main

    out = tmp_path / "m"
    code = main(["train", "--prices", sample_dir, "--out", str(out), "--symbols", "SPX",
                 "--preset", "tiny", "--steps", "2", "--storage", str(tmp_path / "ray"),
                 "--set", "model.noise_halflives=[3, 9]", "--set", "loss.facts_weight=0",
                 "--set", "model.g_channels=4"])
    assert code == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["config_schema"] == CONFIG_SCHEMA and meta["steps"] == 2
    assert meta["config"]["model"]["noise_halflives"] == [3.0, 9.0]
    assert meta["config"]["model"]["g_channels"] == 4
    assert meta["config"]["loss"]["facts_weight"] == 0.0
    assert meta["config"]["data"]["window"] == 16  # the tiny preset underneath
