"""The configuration tree of the table model: one pydantic section per concern, every default.

The engine's sections (``train``, ``optim``) are the market model's own classes, so the
same engine runs both; the others describe the tabular GAN. Presets are YAML files in
``ganjobs/tabular/presets/`` (``table.yaml`` is the default). Why a default is what it is:
docs/tables.md.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ganjobs.config.schema import OptimConfig, TrainConfig
from ganjobs.errors import GanjobsError

#: Version of the recorded tree (``model.json``'s ``config_schema``).
TABLE_CONFIG_SCHEMA = 1
DEFAULT_PRESET = "table"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TableDataConfig(_Section):
    """The fixed split of the real table: the model learns from the train part only."""

    holdout: float = Field(0.2, ge=0.0, lt=0.5, description=(
        "Share of rows kept out of training to measure privacy (distance to closest record)."))
    test: float = Field(0.2, ge=0.0, lt=0.5, description=(
        "Share of rows kept out of training to test PD models (train-on-synthetic, test-on-"
        "real)."))
    split_seed: int = Field(0, ge=0, lt=2**32, description=(
        "Seed of the stratified split; fixed across training seeds so they share one split."))


class TableModelConfig(_Section):
    """Column transforms and the networks."""

    max_modes: int = Field(10, ge=1, le=50, description=(
        "Most Gaussian-mixture modes per continuous column (mode-specific normalisation)."))
    mode_threshold: float = Field(0.005, ge=0.0, lt=1.0, description=(
        "Mixture weight below which a mode is dropped."))
    noise_dim: int = Field(128, ge=1, le=4096, description="Generator noise size per row.")
    g_hidden: list[int] = Field(default_factory=lambda: [256, 256], min_length=1,
                                max_length=6, description="Widths of the generator's residual "
                                                          "layers.")
    d_hidden: list[int] = Field(default_factory=lambda: [256, 256], min_length=1,
                                max_length=6, description="Widths of the critic's layers.")
    pac: int = Field(10, ge=1, le=64, description=(
        "Rows the critic judges together (PacGAN); 1 under differential privacy."))
    tau: float = Field(0.2, gt=0.0, le=10.0, description=(
        "Gumbel-softmax temperature of the categorical outputs."))
    cond_min_rows: int = Field(10, ge=1, le=1_000_000, description=(
        "Fewest training rows of a category that training and generation may condition on."))
    calibrate: bool = Field(True, description=(
        "Map each continuous column's generated marginal onto the training one after "
        "training (monotone; not under differential privacy)."))
    log_frequency: bool = Field(True, description=(
        "Training-by-sampling draws a column's categories by log frequency (rare ones more "
        "often), else by frequency."))


class TableLossConfig(_Section):
    """The adversarial objective."""

    kind: Literal["wgan-gp", "bce"] = Field("wgan-gp", description=(
        "wgan-gp, or bce (non-saturating; what differential privacy uses, see privacy)."))
    gp_weight: float = Field(10.0, ge=0.0, le=1e4, description=(
        "Weight of the gradient penalty (wgan-gp only)."))
    cond_weight: float = Field(1.0, ge=0.0, le=1e4, description=(
        "Weight of the generator's cross-entropy to the conditioned category."))


class PrivacyConfig(_Section):
    """Differentially private training of the critic (DP-SGD through opacus)."""

    epsilon: float | None = Field(None, gt=0.0, le=1e3, description=(
        "Target epsilon; None trains without differential privacy."))
    delta: float | None = Field(None, gt=0.0, lt=1.0, description=(
        "Target delta; None is 1/n for n training rows."))
    max_grad_norm: float = Field(1.0, gt=0.0, le=1e3, description=(
        "Per-sample gradient clipping norm of the critic."))


class TableOptimConfig(OptimConfig):
    """Adam settings of both players (CTGAN's: equal rates, one critic update a step)."""

    lr_g: float = Field(2e-4, gt=0.0, le=1.0, description="Learning rate of the generator.")
    lr_d: float = Field(2e-4, gt=0.0, le=1.0, description="Learning rate of the critic.")
    n_critic: int = Field(1, ge=1, le=100, description=(
        "Critic updates per generator update (one training step)."))


class TableTrainConfig(TrainConfig):
    """Run length, batch, devices and bookkeeping (batches of rows)."""

    steps: int = Field(6000, ge=1, le=10_000_000, description="Generator updates.")
    batch_size: int = Field(500, ge=1, le=1_000_000, description=(
        "Rows per worker per step (under DP: the expected Poisson sample per worker)."))
    checkpoint_every: int = Field(500, ge=1, description=(
        "Steps between checkpoints (the last step is always checkpointed)."))
    log_every: int = Field(100, ge=1, description=(
        "Steps between progress lines and metric reports."))


class TableConfig(_Section):
    """Every setting of one table-model run (``model.json`` records it whole)."""

    data: TableDataConfig = Field(default_factory=TableDataConfig)
    model: TableModelConfig = Field(default_factory=TableModelConfig)
    loss: TableLossConfig = Field(default_factory=TableLossConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    optim: TableOptimConfig = Field(default_factory=TableOptimConfig)
    train: TableTrainConfig = Field(default_factory=TableTrainConfig)

    @model_validator(mode="after")
    def _check_private(self) -> TableConfig:
        if self.privacy.epsilon is not None:
            # Per-sample clipping cannot take a gradient penalty (a gradient of per-sample
            # gradients), and a pack of rows would make one clipped "sample" hold several
            # people: under DP the critic judges single rows with the logistic loss.
            if self.loss.kind != "bce":
                raise ValueError("privacy.epsilon needs loss.kind 'bce': the gradient penalty "
                                 "does not work with per-sample clipping")
            if self.model.pac != 1:
                raise ValueError("privacy.epsilon needs model.pac 1: a pack would join "
                                 "several people in one clipped sample")
        if self.train.batch_size % self.model.pac:
            raise ValueError(f"train.batch_size ({self.train.batch_size}) must be a multiple "
                             f"of model.pac ({self.model.pac})")
        return self


def table_presets() -> list[str]:
    folder = resources.files("ganjobs.tabular") / "presets"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".yaml"))


def _preset_tree(name: str) -> dict[str, Any]:
    if name not in table_presets():
        raise GanjobsError(f"unknown table preset {name!r}; choose one of "
                           f"{', '.join(table_presets())}")
    text = (resources.files("ganjobs.tabular") / "presets" / f"{name}.yaml").read_text()
    return yaml.safe_load(text) or {}


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    section, _, field = key.partition(".")
    if not field:
        raise GanjobsError(f"config key {key!r} must be section.field")
    tree.setdefault(section, {})[field] = value


def resolve_table_config(preset: str | None = None, **overrides: Any) -> TableConfig:
    """The preset (default ``table``), then dotted ``overrides`` (``train.steps=500``)."""
    tree = _preset_tree(preset or DEFAULT_PRESET)
    for key, value in overrides.items():
        if value is not None:
            _set(tree, key, value)
    return table_config_from_dict(tree)


def table_config_from_dict(tree: dict[str, Any]) -> TableConfig:
    """Validate a (partial) tree; one ``GanjobsError`` line naming the field otherwise."""
    try:
        return TableConfig.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise GanjobsError(f"{where}: {err['msg']}") from None
