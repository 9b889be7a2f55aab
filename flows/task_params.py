"""The typed parameter object of each pipeline task.

A task's cache key is its parameter object without the fields that do not change its result
(:meth:`TaskParams.cache_identity`). Nothing here imports torch or ray.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

#: Fields several tasks take, described once.
PricesUrl = Annotated[str, Field(description="Prices URL")]
BaselineSeed = Annotated[int, Field(description="Seed of the baselines")]
StagedSetUrl = Annotated[str, Field(description="The staged set")]


class TaskParams(BaseModel):
    """Base of the task parameter objects: unknown fields refused."""

    model_config = ConfigDict(extra="forbid")

    #: Fields that do not change the task's result, left out of its cache key.
    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset()

    def cache_identity(self) -> dict[str, Any]:
        """The fields that determine the task's result, as JSON values."""
        return self.model_dump(mode="json", exclude=set(self.NOT_IN_KEY))


class IngestTask(TaskParams):
    """Read and validate the prices."""

    prices: PricesUrl
    symbols: list[str] | None = Field(None, description="Symbols to keep (default: all)")


class TrainTask(TaskParams):
    """Train a model into ``model_url``."""

    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({"address"})

    prices: PricesUrl
    model_url: str = Field(description="Model folder to write")
    symbols: list[str] = Field(description="Symbols to model, in column order")
    preset: str | None = Field(None, description="Config preset (default when unset)")
    steps: int | None = Field(None, description="Training steps (overrides the preset)")
    workers: int | None = Field(None, description="Ray Train workers")
    gpu: bool = Field(False, description="Train on GPUs")
    seed: int = Field(0, description="Run seed")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Config overrides by SECTION.FIELD")
    data_sha256: str = Field(description="Fingerprint of the prices (keys the cache)")
    code: str = Field(description="Code version (keys the cache)")
    run_name: str = Field(description="Ray Train run name; the same name resumes")
    address: str | None = Field(None, description="Ray address (does not change the model)")


class GenerateTask(TaskParams):
    """Sample the set into its staging location."""

    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({"address"})

    model: dict[str, Any] = Field(description="The train task's result")
    staging_url: str = Field(description="Where the staged set is published")
    n: int = Field(description="Number of scenarios")
    horizon: int = Field(description="Days per scenario")
    seed: int = Field(description="Sampling seed")
    run_name: str = Field("", description="Run name (names the Ray job)")
    address: str | None = Field(None, description="Ray address (does not change the set)")
    prices: str | None = Field(None, description="Prices a conditional model's paths start "
                                                 "from (none for a long-run model)")
    as_of: str | None = Field(None, description="Origin date (default: the last price date)")
    unconditional: bool = Field(False, description="Long-run paths of a conditional model")


class ModelChoiceTask(TaskParams):
    """Reuse the series' last model or train a new one (``flows.model_reuse``)."""

    prices: PricesUrl
    symbols: list[str] = Field(description="Today's symbols, in column order")
    pointer_url: str = Field(description="The series' LATEST_MODEL record")
    preset: str | None = Field(None, description="Config preset (default when unset)")
    steps: int | None = Field(None, description="Training steps (overrides the preset)")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Config overrides by SECTION.FIELD")
    workers: int | None = Field(None, description="Ray Train workers")
    gpu: bool = Field(False, description="Train on GPUs")
    seed: int = Field(0, description="Run seed")
    refit_every: int = Field(description="Retrain after this many business days")


class ModelPointerTask(TaskParams):
    """Move the series' ``LATEST_MODEL`` to a model this run trained."""

    pointer_url: str = Field(description="The series' LATEST_MODEL record")
    name: str = Field(description="Series name")
    model_url: str = Field(description="The model folder trained by this run")
    training: dict[str, Any] = Field(description="The model's training identity")
    run_id: str = Field(description="The run that trained it")
    as_of: str = Field(description="That run's as-of date")
    scenarios_url: str = Field(description="That run's published set")
    evaluation: dict[str, Any] = Field(description="That run's evaluation URLs")


class EvaluateTask(TaskParams):
    """Metrics and report of the staged set."""

    staged: dict[str, Any] = Field(description="The generate task's result (manifest)")
    staging_url: StagedSetUrl
    prices: PricesUrl
    eval_url: str = Field(description="Folder for metrics and report")
    seed: BaselineSeed
    max_paths: int = Field(description="Scenarios used by the evaluation")
    published_url: str | None = Field(None, description="Where readers will find the set")
    run_id: str | None = Field(None, description="The pipeline run the set belongs to")


class StressTask(TaskParams):
    """Stress test of a portfolio over the set."""

    set_manifest: dict[str, Any] = Field(description="Manifest of the set stressed")
    set_url: str = Field(description="The set stressed")
    portfolio: str = Field(description="Portfolio YAML")
    portfolio_sha256: str = Field(description="Fingerprint of the portfolio file")
    stress_url: str = Field(description="Folder for the stress results")
    prices: PricesUrl
    seed: BaselineSeed
    published_url: str | None = Field(None, description="Where readers will find the set")


class PublishTask(TaskParams):
    """Copy the staged set to its final place with the metrics."""

    staging_url: StagedSetUrl
    final_url: str = Field(description="The published set")
    extra: dict[str, Any] = Field(description="Manifest additions (metrics, pipeline record)")


class LatestTask(TaskParams):
    """Move a series' ``LATEST`` record."""

    latest_url: str = Field(description="The LATEST file")
    record: dict[str, Any] = Field(description="The record to write")
