"""The one configuration tree of GAN training, its named presets and every default.

A model folder records the fully resolved tree (``GanConfig.model_dump()``), so a model can be
rebuilt and a run repeated from ``model.json`` alone. Nothing else in the package holds a
training default: other modules read them from here.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ganjobs.errors import GanjobsError

#: Receptive field the QuantGAN temporal blocks reach with kernel 2 and dilations 1..32.
QUANTGAN_RECEPTIVE_FIELD = 127


class _Section(BaseModel):
    # Unknown keys are refused so that a typo in an override never silently does nothing.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Which part of the history is learnt, and in which windows.

    Attributes
    ----------
    window : int
        Length (days) of the real windows the critic sees and of generated training paths.
    holdout_fraction : float
        Fraction of the most recent returns never used for training: they are kept for
        out-of-sample evaluation, and ``model.json`` records their dates.
    """

    window: int = Field(64, ge=2, le=4096)
    holdout_fraction: float = Field(0.1, ge=0.0, lt=0.9)


class ModelConfig(_Section):
    """Generator and critic architecture.

    Attributes
    ----------
    arch : {"tcn", "mlp"}
        ``tcn``: QuantGAN-style causal temporal convolutions, paths of any length.
        ``mlp``: the classic fully connected generator/discriminator baseline; it makes paths
        longer than ``window`` by joining independent windows.
    g_channels, d_channels : int
        Hidden channels of the generator and of the critic.
    blocks : int
        Temporal blocks; block ``i`` has dilation ``2**i``. Six blocks of two kernel-2
        convolutions reach the receptive field 127 of QuantGAN.
    mlp_hidden : int
        Width of the hidden layers of the MLP baseline.
    noise_dim : int
        Noise channels per time step (TCN) or noise size per window (MLP).
    noise : {"normal", "student_t"}
        Noise distribution. A Lipschitz generator fed Gaussian noise cannot make heavy tails
        on its own; ``student_t`` (with ``noise_df`` degrees of freedom) is the heavy-tailed
        option, the inverse Lambert-W preprocessing the other.
    noise_df : int
        Degrees of freedom of the Student-t noise (an integer so that it is drawn exactly as a
        ratio of normal draws from a seeded generator).
    noise_t_channels : int or None
        With ``student_t`` noise: how many of the ``noise_dim`` channels (the last ones) are
        Student-t, the others staying normal; ``None``: all of them. A mix lets the
        generator's shock layer give each symbol its own tail (heavy for crude oil, lighter
        for an equity index) by weighting the two kinds of channel, where all-t noise hands
        every symbol the same tail.
    negative_slope : float
        Slope of the LeakyReLU activations (cheap, unlike PReLU whose weight gradient is a
        full reduction).
    g_head : {"linear", "volatility", "log_volatility"}
        Read-out of the TCN generator: ``linear`` (QuantGAN), ``volatility``, where the
        features of past noise scale the current step's noise, or ``log_volatility``: a
        stochastic-volatility form ``mu + exp(s_t) * eps_t`` with a constant drift, so that
        Gaussian inputs give log-normal volatility and returns carry no spurious serial
        correlation (see :class:`~ganjobs.model.networks.TCNGenerator`).
    critic_abs : bool
        Feed the critic ``|r|`` next to ``r``: volatility clustering is a dependence of
        magnitudes, which the critic then sees in its first layer instead of having to
        build ``|r|`` out of piecewise-linear units first.
    noise_halflives : list of float
        Half-lives (days) of exponentially weighted moving averages of the noise channels
        that the TCN generator reads next to the noise itself (each a stationary AR(1) of
        unit variance; see :func:`~ganjobs.model.networks.draw_noise`). Market volatility stays
        persistent over months, far beyond a TCN's receptive field: with these channels the
        generator's volatility can depend on the sum of shocks of the last quarter or year,
        as in multi-component GARCH models, without a longer receptive field. Empty: plain
        noise (QuantGAN). Default 20, 80 and 320 days: a month, a quarter and more than a
        year (picked among three spacings of the same ratio, see the README's quality
        section).
    lag1_news : bool, optional
        Volatility head only: multiply each day's volatility by
        ``exp(b_k (|e_{t-1}| / s_k - sqrt(2/pi)))``, where ``e_{t-1}`` is the previous day's
        shock of symbol ``k`` (standard deviation ``s_k``) and ``b_k`` a learnt coefficient in
        (-1, 1) that starts at 0: EGARCH's news-impact term for one day. The |r|
        autocorrelation of equity indices is lower at lag 1 than at lag 2 (the bundled S&P 500
        training window: 0.054 vs 0.160 within yearly windows), which a volatility that depends on
        past shocks only through the TCN's smooth features does not reproduce. ``None``
        (default): on wherever the generator has the volatility head (TCN), off elsewhere;
        ``True`` with another generator is an error. On by default since the 3-seed bench of
        2026-12-05 (ACF |r| scores lower in all six configurations, see the README).
    critic_horizons : list of int
        Horizons (days) of trailing sums of returns that the TCN critic reads next to the
        daily returns (each sum divided by the square root of its horizon, and its absolute
        value when ``critic_abs``). Stress tests consume multi-day returns; with the sums
        in its first layer the critic compares their distribution directly instead of having
        to build them out of piecewise-linear units. Default 5 and 20 days (a week and a
        month, inside the 64-day window). Empty: the critic sees daily returns only.
    """

    arch: Literal["tcn", "mlp"] = "tcn"
    g_channels: int = Field(32, ge=1, le=4096)
    d_channels: int = Field(32, ge=1, le=4096)
    blocks: int = Field(6, ge=1, le=16)
    mlp_hidden: int = Field(256, ge=1, le=65536)
    noise_dim: int = Field(8, ge=1, le=1024)
    noise: Literal["normal", "student_t"] = "normal"
    noise_df: int = Field(5, ge=1, le=100)
    noise_t_channels: int | None = Field(None, ge=0, le=1024)
    negative_slope: float = Field(0.2, ge=0.0, lt=1.0)
    g_head: Literal["linear", "volatility", "log_volatility"] = "volatility"
    critic_abs: bool = True
    noise_halflives: list[float] = Field(default_factory=lambda: [20.0, 80.0, 320.0],
                                         max_length=8)
    critic_horizons: list[int] = Field(default_factory=lambda: [5, 20], max_length=8)
    lag1_news: bool | None = None

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
    """Adversarial objective.

    Attributes
    ----------
    kind : {"bce", "wgan-gp", "hinge"}
        ``bce``: cross-entropy GAN with the non-saturating generator loss; ``wgan-gp``:
        Wasserstein loss with gradient penalty; ``hinge``: hinge loss.
    gp_weight : float or None
        Weight of the gradient penalty on the critic. ``None`` resolves to 10 for ``wgan-gp``
        (Gulrajani et al.) and 0 (no penalty) for the others.
    facts_weight : float
        Weight of the stylized-facts penalty on the generator (see :mod:`ganjobs.model.stylized`):
        the squared distance between the ``|r|`` autocorrelation and leverage curves of
        generated paths of ``facts_length`` days and those of every such window of the
        training returns. The critic's windows are then the last ``data.window`` days of
        those paths. 0: off (the generator learns from the critic alone).
    facts_length : int
        Length (days) of the generated paths and real windows the curves are taken over: a
        year, the default horizon of a scenario set.
    facts_lags : int
        Lags ``1..facts_lags`` of the ``|r|`` autocorrelation (the leverage curve takes the
        first 20 of them at most).
    facts_lag1_weight : float
        Weight of the lag-1 term of the ``|r|`` autocorrelation in the penalty (the other
        lags weigh 1). Stock indices' ``|r|`` autocorrelation dips at lag 1 (S&P 500: 0.054
        at lag 1, 0.160 at lag 2 within yearly windows); one term of 50 barely moves the
        generator there. Default 1: the plain sum of squares that the evaluation scores.
    facts_vol_window : int
        With the penalty on, also compare the quantiles of the log standard deviation of
        every window of this many days (realized volatility) with the training data's
        (see :func:`ganjobs.model.stylized.vol_quantiles`); 0: not. Default 20 days, a month.
    facts_short_window : int
        With the penalty on, also compare the ``|r|`` autocorrelation at lags
        ``1..facts_short_lags`` within every window of this many days with the training
        data's (see :func:`ganjobs.model.stylized.short_acf`): day-to-day volatility dynamics, which
        the yearly curve mixes with slow swings. 0: not. Default 20 days, a month.
    facts_short_lags : int
        Lags of that curve (default 5).
    facts_short_weight : float
        Weight of its squared differences in the penalty (the other terms weigh 1; default
        10: at 1 its few terms barely move the generator, like the yearly curve's lag 1).
    facts_estimator : {"split", "square"}
        How a batch estimates the penalty: ``square`` squares the batch's deviation from the
        data's facts, ``split`` multiplies the deviations of its two halves, which leaves
        out the batch's sampling variance (see :func:`ganjobs.model.stylized.facts_penalty`).
    """

    kind: Literal["bce", "wgan-gp", "hinge"] = "wgan-gp"
    gp_weight: float | None = Field(None, ge=0.0)
    facts_weight: float = Field(10.0, ge=0.0, le=1e6)
    facts_length: int = Field(252, ge=3, le=4096)
    facts_lags: int = Field(50, ge=1, le=1024)
    facts_lag1_weight: float = Field(1.0, ge=0.0, le=1e4)
    facts_vol_window: int = Field(20, ge=0, le=4096)
    facts_short_window: int = Field(20, ge=0, le=4096)
    facts_short_lags: int = Field(5, ge=1, le=1024)
    facts_short_weight: float = Field(10.0, ge=0.0, le=1e6)
    facts_estimator: Literal["split", "square"] = "split"

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
    """Adam settings of both players and the update ratio.

    Attributes
    ----------
    lr_g, lr_d : float
        Learning rates of generator and critic (two time-scale update rule when different).
    beta1, beta2 : float
        Adam betas, shared by both optimisers.
    n_critic : int
        Critic updates per generator update; one training step is one generator update.
    """

    lr_g: float = Field(3e-4, gt=0.0, le=1.0)
    lr_d: float = Field(1e-3, gt=0.0, le=1.0)
    beta1: float = Field(0.5, ge=0.0, lt=1.0)
    beta2: float = Field(0.9, ge=0.0, lt=1.0)
    n_critic: int = Field(2, ge=1, le=100)


class PreprocessConfig(_Section):
    """Transforms fitted on the training returns and inverted on generated paths.

    Attributes
    ----------
    lambert_w : bool
        After per-symbol standardisation, apply Goerg's inverse Lambert-W transform (delta
        estimated by IGMM) to make heavy-tailed returns close to Gaussian, then standardise
        again. Standardisation itself always happens. Off by default: the default
        ``volatility`` generator head makes heavy tails itself, and stacking the Lambert-W
        tail on top of it produced absurd daily log returns (100-500%) in our runs on the
        bundled data; it is the heavy-tail lever for the QuantGAN ``linear`` head.
    calibrate : bool
        After training, fit one affine map that gives the generator's output the mean 0,
        variance 1 and cross-symbol correlation that the standardised training data have
        (moments of a fixed sample of the final generator's own paths; see
        :func:`ganjobs.model.folder.fit_calibration`). A GAN leaves small drift, scale and
        correlation errors that compound over multi-day horizons; the map removes them
        without rejecting or clipping any path. Recorded in ``model.json``.
    calibrate_body : bool
        With ``calibrate``, also map the body of each symbol's daily distribution (its
        central 90%) onto the training data's quantiles by a monotone piecewise-linear map;
        beyond it the tails follow ``body_tails``, and a shift keeps the mean (see
        :mod:`ganjobs.model.marginal`). An 800-step GAN leaves the body's width up to 10% off (it
        shapes the tails and the dynamics, where it earns its keep), and one-day distances
        and the discriminative score read the body first. What the map does not touch: the
        order of every value within its symbol, hence the paths' dependence over time and
        across symbols. No path is rejected or clipped. On by default; ``quantgan`` and
        ``mlp`` keep the published recipes without it.
    body_tails : {"moments", "variance"}
        The body map's tails. ``moments``: each side's excess beyond the outer knot is bent
        by ``c * d**p`` so that its mean and mean square are the training data's excess's
        (variance kept up to sampling); ``variance``: one scale for both sides that keeps the
        data's variance exactly, the generator's tail shape unchanged (models fitted before
        ``moments``; with it the S&P 500's and NASDAQ's 1-day VaR 99% were 7-8% over the
        market's in the quality bench, 2-4% with ``moments``).
    """

    lambert_w: bool = False
    calibrate: bool = True
    calibrate_body: bool = True
    body_tails: Literal["moments", "variance"] = "moments"


class TrainConfig(_Section):
    """Run length, batch, devices and bookkeeping.

    Attributes
    ----------
    steps : int
        Generator updates.
    batch_size : int
        Windows per worker per step; the global batch is ``batch_size * workers``.
    checkpoint_every : int
        Steps between checkpoints (the last step is always checkpointed).
    log_every : int
        Steps between progress lines and Ray Train metric reports.
    seed : int
        Run seed; every random stream (initial weights, window sampling, noise) derives from
        it and, where per worker, from the worker's rank.
    workers : int
        Ray Train workers (DDP world size).
    gpu : bool
        One GPU per worker with NCCL; otherwise CPU with gloo.
    bf16 : bool
        bfloat16 autocast of the forward passes on CUDA devices. Ignored on CPUs, where
        bfloat16 matrix products are emulated: the ``gpu`` preset's step took 4x longer
        with it on our 2-core machine.
    max_failures : int
        Worker-group failures Ray Train recovers from (restarting from the last checkpoint).
    explode_threshold : float
        The critic has exploded when the absolute value of its loss at some step exceeds
        this. Checked, like non-finite losses, at every log and checkpoint step. Healthy runs
        of the presets stay within a few hundred (order 1-30 with the default preset); a
        critic that runs away grows by orders of magnitude within a few steps.
    max_recoveries : int
        Divergences (a non-finite loss or an exploded critic) the loop recovers from in one
        run, counted across resumptions: each restores the last checkpointed state (every
        rank keeps a copy in memory) and multiplies both learning rates by
        ``recovery_lr_factor``. One more divergence stops the run with
        :class:`~ganjobs.train.loop.NonFiniteLossError`; 0 stops at the first.
    recovery_lr_factor : float
        Factor applied to ``lr_g`` and ``lr_d`` at each recovery. The lowered rates are kept
        in the checkpoints, so a resumed run continues with them.
    """

    steps: int = Field(800, ge=1, le=10_000_000)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    checkpoint_every: int = Field(200, ge=1)
    log_every: int = Field(50, ge=1)
    seed: int = Field(0, ge=0, lt=2**63)
    workers: int = Field(1, ge=1, le=1024)
    gpu: bool = False
    bf16: bool = False
    max_failures: int = Field(1, ge=-1)
    explode_threshold: float = Field(1e6, gt=0.0)
    max_recoveries: int = Field(3, ge=0, le=100)
    recovery_lr_factor: float = Field(0.5, gt=0.0, lt=1.0)


class GanConfig(_Section):
    """The whole training configuration: one section per concern."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


SECTIONS: tuple[str, ...] = tuple(GanConfig.model_fields)

#: Named presets as overrides of the defaults above. ``default`` is the defaults themselves:
#: sized so that a full run on the bundled 3 symbols takes about 3-4 minutes with 1 worker on
#: a 2-core CPU machine, Ray start included (the end-to-end demo must finish in 10 minutes
#: with evaluation).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # QuantGAN size on a GPU: wider model, full 127-day windows, large batches, bf16.
    "gpu": {
        "data": {"window": 127},
        "model": {"g_channels": 80, "d_channels": 80},
        "train": {"steps": 4000, "batch_size": 1024, "checkpoint_every": 1000,
                  "log_every": 200, "gpu": True, "bf16": True},
    },
    # Seconds on a CPU, for tests: same architecture family, tiny widths and windows; the
    # Lambert-W transform on, so that tests cover it end to end.
    "tiny": {
        "data": {"window": 16},
        "model": {"g_channels": 8, "d_channels": 8, "noise_dim": 2, "mlp_hidden": 16},
        "loss": {"facts_length": 32, "facts_lags": 8},
        "preprocess": {"lambert_w": True},
        "train": {"steps": 4, "batch_size": 8, "checkpoint_every": 2, "log_every": 1,
                  "max_failures": 0},
    },
    # The published QuantGAN recipe at the default's size: linear read-out, Lambert-W tails,
    # a critic of raw returns. A baseline for the quality work.
    "quantgan": {
        "model": {"g_head": "linear", "critic_abs": False, "noise_halflives": [],
                  "critic_horizons": []},
        "loss": {"facts_weight": 0.0},
        "preprocess": {"lambert_w": True, "calibrate_body": False},
    },
    # The classic GAN: fully connected generator and discriminator, cross-entropy loss.
    "mlp": {
        "model": {"arch": "mlp", "critic_abs": False, "noise_halflives": [],
                  "critic_horizons": []},
        "preprocess": {"calibrate_body": False},
        "loss": {"kind": "bce", "facts_weight": 0.0},
    },
}


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


FIELD_SECTIONS = _field_index()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Turn ``steps=5``, ``"train.steps"=5`` or ``train={"steps": 5}`` into a nested dict."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue  # "not given": callers pass their optional arguments straight through
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise GanjobsError(f"config override {key}= must be a mapping of fields")
            nested = _merge(nested, {key: value})
        elif "." in key:
            section, name = key.split(".", 1)
            if section not in SECTIONS:
                raise GanjobsError(f"unknown config section {section!r} in override {key!r}")
            nested = _merge(nested, {section: {name: value}})
        elif key in FIELD_SECTIONS:
            nested = _merge(nested, {FIELD_SECTIONS[key]: {key: value}})
        else:
            raise GanjobsError(f"unknown config field {key!r}")
    return nested


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" + (f" (got {err['input']!r})"
                                                  if "input" in err and not isinstance(
                                                      err["input"], dict) else ""))
    return "; ".join(parts)


def resolve_config(preset: str | None = None, **overrides: Any) -> GanConfig:
    """Build the configuration from a named preset and overrides.

    Parameters
    ----------
    preset : str or None
        A key of :data:`PRESETS`; ``None`` means ``"default"``.
    **overrides
        Field values by unique field name (``steps=100``), by dotted path
        (``**{"train.steps": 100}``) or by section (``train={"steps": 100}``). ``None`` values
        are ignored, so optional arguments can be passed through unchanged.

    Returns
    -------
    GanConfig

    Raises
    ------
    GanjobsError
        Unknown preset or field, or a value out of range.
    """
    name = "default" if preset is None else str(preset).strip()
    if name not in PRESETS:
        raise GanjobsError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    tree = _merge(PRESETS[name], _nest(overrides))
    try:
        return GanConfig.model_validate(tree)
    except ValidationError as exc:
        raise GanjobsError(f"invalid configuration: {_describe(exc)}") from None


#: Fields added after models were first published, with the value that reproduces what a
#: model recorded without them was trained with (defaults may differ).
_ADDED_FIELDS: dict[str, dict[str, Any]] = {"model": {"noise_halflives": [],
                                                       "critic_horizons": [],
                                                       "lag1_news": False},
                                             "preprocess": {"calibrate_body": False,
                                                            "body_tails": "variance"},
                                             "loss": {"facts_weight": 0.0,
                                                      "facts_vol_window": 0,
                                                      "facts_short_window": 0,
                                                      "facts_estimator": "square"}}


def config_from_dict(tree: dict[str, Any]) -> GanConfig:
    """Rebuild a configuration recorded in a model folder or shipped to a worker."""
    tree = copy.deepcopy(tree)
    for section, fields in _ADDED_FIELDS.items():
        if isinstance(tree.get(section), dict):
            for name, value in fields.items():
                tree[section].setdefault(name, copy.deepcopy(value))
    try:
        return GanConfig.model_validate(tree)
    except ValidationError as exc:
        raise GanjobsError(f"invalid configuration: {_describe(exc)}") from None
