"""The configuration tree of GAN training: one pydantic section per concern, every default.

Each field carries a one-line description; why a default is what it is lives in
``docs/configuration.md``. Nothing else in the package holds a training default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Receptive field the QuantGAN temporal blocks reach with kernel 2 and dilations 1..32.
QUANTGAN_RECEPTIVE_FIELD = 127


class _Section(BaseModel):
    # Unknown keys are refused so that a typo in an override never silently does nothing.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Which part of the history is learnt, and in which windows."""

    window: int = Field(64, ge=2, le=4096, description=(
        "Length (days) of the real windows the critic sees and of generated training paths."))
    holdout_fraction: float = Field(0.1, ge=0.0, lt=0.9, description=(
        "Fraction of the most recent returns kept out of training for evaluation."))


class ModelConfig(_Section):
    """Generator and critic architecture."""

    arch: Literal["tcn", "mlp"] = Field("tcn", description=(
        "tcn: causal temporal convolutions (QuantGAN); mlp: fully connected baseline."))
    g_channels: int = Field(32, ge=1, le=4096, description="Hidden channels of the generator.")
    d_channels: int = Field(32, ge=1, le=4096, description="Hidden channels of the critic.")
    blocks: int = Field(6, ge=1, le=16, description=(
        "Temporal blocks; block i has dilation 2**i."))
    mlp_hidden: int = Field(256, ge=1, le=65536, description=(
        "Width of the hidden layers of the MLP baseline."))
    noise_dim: int = Field(8, ge=1, le=1024, description=(
        "Noise channels per time step (TCN) or noise size per window (MLP)."))
    noise: Literal["normal", "student_t"] = Field("normal", description=(
        "Distribution of the generator's input noise."))
    noise_df: int = Field(5, ge=1, le=100, description=(
        "Degrees of freedom of the Student-t noise."))
    noise_t_channels: int | None = Field(None, ge=0, le=1024, description=(
        "With student_t noise: how many of the last noise channels are Student-t (None: all)."))
    negative_slope: float = Field(0.2, ge=0.0, lt=1.0, description=(
        "Slope of the LeakyReLU activations."))
    g_head: Literal["linear", "volatility", "log_volatility"] = Field("volatility", description=(
        "Read-out of the TCN generator."))
    critic_abs: bool = Field(True, description="Feed the critic |r| next to r.")
    noise_halflives: list[float] = Field(
        default_factory=lambda: [20.0, 80.0, 320.0], max_length=8, description=(
            "Half-lives (days) of moving averages of the noise fed to the TCN generator."))
    critic_horizons: list[int] = Field(default_factory=lambda: [5, 20], max_length=8,
                                       description=(
        "Horizons (days) of trailing return sums the TCN critic reads next to daily returns."))
    lag1_news: bool | None = Field(None, description=(
        "Learnt news-impact term of the previous day's shock (None: on with the volatility "
        "head)."))

    @model_validator(mode="after")
    def _check_halflives(self) -> ModelConfig:
        if any(not (0.0 < h <= 1e5) for h in self.noise_halflives):
            raise ValueError("noise_halflives must be in (0, 100000] days")
        if self.noise_halflives and self.arch != "tcn":
            raise ValueError("noise_halflives needs arch 'tcn'")
        if any(not (2 <= h <= 4096) for h in self.critic_horizons):
            raise ValueError("critic_horizons must be in [2, 4096] days")
        supported = self.arch == "tcn" and self.g_head == "volatility"
        if self.lag1_news is None:
            # Through __dict__: validate_assignment would re-run this validator recursively.
            self.__dict__["lag1_news"] = supported
        elif self.lag1_news and not supported:
            raise ValueError("lag1_news needs arch 'tcn' and g_head 'volatility'")
        if self.critic_horizons and self.arch != "tcn":
            raise ValueError("critic_horizons needs arch 'tcn'")
        if self.noise_t_channels is not None:
            if self.noise != "student_t":
                raise ValueError("noise_t_channels needs noise 'student_t'")
            if self.noise_t_channels > self.noise_dim:
                raise ValueError(f"noise_t_channels ({self.noise_t_channels}) exceeds "
                                 f"noise_dim ({self.noise_dim})")
        return self

    @property
    def t_channels(self) -> int:
        """Noise channels drawn from the Student-t (the last ones of ``noise_dim``)."""
        if self.noise != "student_t":
            return 0
        return self.noise_dim if self.noise_t_channels is None else self.noise_t_channels

    @property
    def noise_channels(self) -> int:
        """Generator input channels: the noise and its moving averages."""
        return self.noise_dim * (1 + len(self.noise_halflives))

    @property
    def receptive_field(self) -> int:
        """Time steps one TCN output depends on: ``1 + 2 * sum(dilations)``."""
        return 1 + 2 * (2**self.blocks - 1)


class LossConfig(_Section):
    """Adversarial objective and the stylized-facts penalty on the generator."""

    kind: Literal["bce", "wgan-gp", "hinge"] = Field("wgan-gp", description=(
        "Adversarial loss."))
    gp_weight: float | None = Field(None, ge=0.0, description=(
        "Weight of the critic's gradient penalty (None: 10 for wgan-gp, else 0)."))
    facts_weight: float = Field(10.0, ge=0.0, le=1e6, description=(
        "Weight of the stylized-facts penalty on the generator (0: off)."))
    facts_length: int = Field(252, ge=3, le=4096, description=(
        "Length (days) of the paths and windows the penalty's curves are taken over."))
    facts_lags: int = Field(50, ge=1, le=1024, description=(
        "Lags 1..facts_lags of the |r| autocorrelation in the penalty."))
    facts_lag1_weight: float = Field(1.0, ge=0.0, le=1e4, description=(
        "Weight of the lag-1 term of the |r| autocorrelation (the other lags weigh 1)."))
    facts_vol_window: int = Field(20, ge=0, le=4096, description=(
        "Window (days) of the realized-volatility quantiles in the penalty (0: off)."))
    facts_short_window: int = Field(20, ge=0, le=4096, description=(
        "Window (days) of the short-window |r| autocorrelation in the penalty (0: off)."))
    facts_short_lags: int = Field(5, ge=1, le=1024, description=(
        "Lags of the short-window |r| autocorrelation."))
    facts_short_weight: float = Field(10.0, ge=0.0, le=1e6, description=(
        "Weight of the short-window |r| autocorrelation terms."))
    facts_estimator: Literal["split", "square"] = Field("split", description=(
        "How a batch estimates the penalty: split halves (unbiased) or the plain square."))

    @model_validator(mode="after")
    def _resolve_gp(self) -> LossConfig:
        if self.gp_weight is None:
            # Through __dict__: validate_assignment would re-run this validator recursively.
            self.__dict__["gp_weight"] = 10.0 if self.kind == "wgan-gp" else 0.0
        if self.facts_lags >= self.facts_length:
            raise ValueError(f"facts_lags ({self.facts_lags}) must be below facts_length "
                             f"({self.facts_length})")
        if self.facts_vol_window == 1 or self.facts_vol_window > self.facts_length:
            raise ValueError(f"facts_vol_window ({self.facts_vol_window}) must be 0 (off) or "
                             f"in [2, facts_length ({self.facts_length})]")
        if self.facts_short_window and not (
                self.facts_short_lags < self.facts_short_window <= self.facts_length):
            raise ValueError(f"facts_short_window ({self.facts_short_window}) must be 0 (off) "
                             f"or above facts_short_lags ({self.facts_short_lags}) and at most "
                             f"facts_length ({self.facts_length})")
        return self


class OptimConfig(_Section):
    """Adam settings of both players and the update ratio."""

    lr_g: float = Field(3e-4, gt=0.0, le=1.0, description="Learning rate of the generator.")
    lr_d: float = Field(1e-3, gt=0.0, le=1.0, description="Learning rate of the critic.")
    beta1: float = Field(0.5, ge=0.0, lt=1.0, description="Adam beta1 of both optimisers.")
    beta2: float = Field(0.9, ge=0.0, lt=1.0, description="Adam beta2 of both optimisers.")
    n_critic: int = Field(2, ge=1, le=100, description=(
        "Critic updates per generator update (one training step)."))


class PreprocessConfig(_Section):
    """Transforms fitted on the training returns and the output calibration."""

    lambert_w: bool = Field(False, description=(
        "Inverse Lambert-W transform of the standardised returns before training."))
    calibrate: bool = Field(True, description=(
        "Affine output map onto the training data's mean, variance and correlation."))
    calibrate_body: bool = Field(True, description=(
        "With calibrate: monotone map of each symbol's central 90% onto the data's quantiles."))
    body_tails: Literal["moments", "variance"] = Field("moments", description=(
        "Tails of the body map: match the excess's first two moments, or the variance only."))


class TrainConfig(_Section):
    """Run length, batch, devices and bookkeeping."""

    steps: int = Field(800, ge=1, le=10_000_000, description="Generator updates.")
    batch_size: int = Field(64, ge=1, le=1_000_000, description=(
        "Windows per worker per step (global batch: batch_size * workers)."))
    checkpoint_every: int = Field(200, ge=1, description=(
        "Steps between checkpoints (the last step is always checkpointed)."))
    log_every: int = Field(50, ge=1, description=(
        "Steps between progress lines and metric reports."))
    seed: int = Field(0, ge=0, lt=2**63, description="Run seed every random stream derives from.")
    workers: int = Field(1, ge=1, le=1024, description="Ray Train workers (DDP world size).")
    gpu: bool = Field(False, description="One GPU per worker with NCCL; otherwise CPU with gloo.")
    bf16: bool = Field(False, description=(
        "bfloat16 autocast of the forward passes on CUDA devices (ignored on CPUs)."))
    max_failures: int = Field(1, ge=-1, description=(
        "Worker-group failures Ray Train recovers from (-1: unlimited)."))
    explode_threshold: float = Field(1e6, gt=0.0, description=(
        "Absolute critic loss above which training has diverged."))
    max_recoveries: int = Field(3, ge=0, le=100, description=(
        "Divergences recovered from in one run by restoring the last checkpoint."))
    recovery_lr_factor: float = Field(0.5, gt=0.0, lt=1.0, description=(
        "Factor applied to both learning rates at each recovery."))


class ConditionConfig(_Section):
    """Conditional generation: paths that start from the market's state at an origin date."""

    enabled: bool = Field(False, description=(
        "Train a conditional generator that reads the observed past (off: long-run paths)."))
    past: int = Field(64, ge=8, le=1024, description=(
        "Days of observed returns before (and including) the origin the networks read."))
    vol_halflife: float = Field(11.2, gt=0.0, le=1000.0, description=(
        "Half-life (days) of the EWMA volatility that scales past and future returns."))
    context: int = Field(16, ge=1, le=1024, description=(
        "Size of the context vector the encoder reads from the past."))
    encoder_blocks: int = Field(6, ge=1, le=16, description=(
        "Temporal blocks of the encoder of the past (block i has dilation 2**i)."))

    @property
    def vol_decay(self) -> float:
        """The EWMA decay ``lambda`` of :attr:`vol_halflife`."""
        return 0.5 ** (1.0 / self.vol_halflife)


class GanConfig(_Section):
    """The whole training configuration: one section per concern."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    condition: ConditionConfig = Field(default_factory=ConditionConfig)

    @model_validator(mode="after")
    def _check_condition(self) -> GanConfig:
        if self.condition.enabled and self.model.arch != "tcn":
            raise ValueError("condition.enabled needs model.arch 'tcn'")
        return self


SECTIONS: tuple[str, ...] = tuple(GanConfig.model_fields)


def _field_index() -> dict[str, str]:
    """Map each field name to its section; names must be unique across sections."""
    index: dict[str, str] = {}
    for section in SECTIONS:
        model = GanConfig.model_fields[section].annotation
        for name in model.model_fields:  # type: ignore[union-attr]
            if name in index:
                raise RuntimeError(f"config field {name!r} is in {index[name]} and {section}")
            index[name] = section
    return index


#: Section of every field, by field name (names are unique across sections).
FIELD_SECTIONS: dict[str, str] = _field_index()

