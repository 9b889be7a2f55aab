"""Parameters of the credit pipeline and the deterministic layout of a run's outputs.

Nothing here imports torch or ray: the Prefect worker loads this module before any task runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.params import check_name, check_url

__all__ = ["CreditLayout", "CreditParams", "credit_identity", "credit_run_id", "today_utc"]

#: Format tags of the records this pipeline writes (docs/table-pipeline.md).
RUN_FORMAT = "ganjobs.table-run/1"
LATEST_FORMAT = "ganjobs.latest-table/1"


def today_utc() -> dt.date:
    """The default as-of date: today in UTC, whatever the worker's time zone."""
    return dt.datetime.now(dt.UTC).date()


class CreditParams(BaseModel):
    """Everything one credit run needs; a deployment's parameters are exactly these."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="The real table: Parquet or CSV file, or a published folder "
                                  "of Parquet parts (local path or s3://)")
    root: str = Field(description="Output root URL; runs land in <root>/<name>/<as-of>/<run-id>/")
    name: str = Field("credit", description="Name of the loan-book series (lowercase, no /)")
    schema_url: str | None = Field(None, description="Schema YAML of the table (default: "
                                                     "inferred from the data)")
    target: str | None = Field(None, description="The good/bad label column (default: the "
                                                 "schema's target)")
    as_of: dt.date | None = Field(None, description="As-of date of the run (default: today, UTC)")
    preset: str = Field("table", description="Training preset of the table GAN")
    steps: int | None = Field(None, ge=1, description="Training steps (overrides the preset)")
    workers: int | None = Field(None, ge=1, description="Ray Train workers")
    seed: int = Field(0, ge=0, description="Seed of training, sampling and evaluation (the "
                                           "train/holdout/test split's is the preset's)")
    dp_epsilon: float | None = Field(None, gt=0, description="Train with differential privacy "
                                                             "at this epsilon (default: off)")
    rows: int | None = Field(None, ge=1, description="Rows of the synthetic loan book (default: "
                                                     "the size of the training part)")
    ray_address: str | None = Field(None, description="Ray cluster, or a Ray Jobs API "
                                                      "(http://head:8265) to run training and "
                                                      "synthesis as jobs (default: RAY_ADDRESS "
                                                      "or a local cluster)")
    overwrite: bool = Field(False, description="Recompute a run already published under the "
                                               "same run id instead of keeping it")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("data", "root", "schema_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("target", "preset")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave it unset for the default")
        return value


def credit_identity(params: CreditParams, table: dict[str, Any], version: str
                    ) -> dict[str, Any]:
    """What determines a run's outputs: the data (its sha256), the schema as resolved (given
    or inferred), the knobs that change the model or the loan book, and the code.

    Locations, the as-of date, the Ray address and ``overwrite`` do not belong here. The
    number of workers does: the DDP world size changes the trained model.
    """
    return {
        "data_sha256": table["sha256"],
        "schema": table["schema"],
        "target": table["target"],
        "preset": params.preset,
        "steps": params.steps,
        "workers": params.workers,
        "seed": params.seed,
        "dp_epsilon": params.dp_epsilon,
        "rows": params.rows,  # None: the training part's size, itself set by data and seed
        "code_version": version,
    }


def credit_run_id(identity: dict[str, Any]) -> str:
    """Deterministic run id: identical inputs map to the same folder."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return "t" + hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class CreditLayout:
    """Locations of one run, ``<root>/<name>/<as-of>/<run-id>/{model,loan-book,evaluation}``
    and its ``run.json``, and the series' pointer ``<root>/<name>/LATEST``."""

    root: str
    name: str
    as_of: str
    run_id: str

    def _join(self, *names: str) -> str:
        from ganjobs.io.storage import join

        return join(self.root, self.name, *names)

    @property
    def run(self) -> str:
        return self._join(self.as_of, self.run_id)

    @property
    def model(self) -> str:
        return self._join(self.as_of, self.run_id, "model")

    @property
    def loan_book(self) -> str:
        return self._join(self.as_of, self.run_id, "loan-book")

    @property
    def evaluation(self) -> str:
        return self._join(self.as_of, self.run_id, "evaluation")

    @property
    def record(self) -> str:
        """The run record, written once every output is complete: the run's commit point."""
        return self._join(self.as_of, self.run_id, "run.json")

    @property
    def latest(self) -> str:
        return self._join("LATEST")
