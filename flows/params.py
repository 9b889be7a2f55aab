"""Parameters of the scenario pipeline and the deterministic layout of a run's outputs.

Nothing here imports torch or ray: this module is loaded by the Prefect worker before any task
runs, and by deployments that only need the parameter schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ganjobs.core.version import code_version

__all__ = ["NAME_RE", "PipelineParams", "RunLayout", "absolute_url", "code_version",
           "latest_model_url", "output_identity", "run_id_for"]

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def absolute_url(url: str) -> str:
    """Local paths made absolute so that records (LATEST, manifests) stay valid elsewhere."""
    import os

    return url if "://" in url else os.path.abspath(os.path.expanduser(url))


def check_name(value: str) -> str:
    """A series name: what ``<root>/<name>/`` may hold."""
    if not NAME_RE.match(value):
        raise ValueError("name must be 1-63 of a-z, 0-9, '.', '_', '-' and start with a "
                         "letter or digit")
    return value


def check_url(value: str) -> str:
    """A location parameter, refused early when its scheme is unknown."""
    from ganjobs.io.storage import split_url  # fsspec only

    split_url(value)
    return value.rstrip("/") if "://" in value else value


class PipelineParams(BaseModel):
    """Everything one scheduled run needs; the deployment's parameters are exactly these."""

    model_config = ConfigDict(extra="forbid")

    prices: str = Field(description="Market prices URL (file, folder or s3:// prefix); layout "
                                    "in docs/formats.md")
    root: str = Field(description="Output root URL; sets land in <root>/<name>/<as-of>/<run-id>/")
    name: str = Field("ganjobs", description="Name of the scenario series (lowercase, no /)")
    symbols: list[str] | None = Field(None, description="Symbols to model (default: all)")
    preset: str | None = Field("daily", description="Training preset; the default 'daily' "
                               "trains a conditional model, whose sets start from the market's "
                               "state on the as-of date (unset: the library's long-run "
                               "default preset)")
    steps: int | None = Field(None, ge=1, description="Training steps (overrides the preset)")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Config overrides on top of the preset by "
        "SECTION.FIELD, e.g. {\"model.noise_halflives\": [20, 80, 320]}")
    workers: int | None = Field(None, ge=1, description="Ray Train workers")
    gpu: bool = Field(False, description="Train on GPUs")
    n: int = Field(5000, ge=1, description="Number of scenarios")
    horizon: int = Field(252, ge=1, description="Days per scenario")
    seed: int = Field(0, ge=0, description="Seed for training, sampling and baselines")
    portfolio: str | None = Field(None, description="Portfolio YAML for the stress test")
    as_of: dt.date | None = Field(None, description="As-of date (default: last price date)")
    ray_address: str | None = Field(None, description="Ray cluster (default: RAY_ADDRESS "
                                                      "or a local cluster)")
    eval_max_paths: int = Field(2000, ge=1, description="Scenarios used by the evaluation")
    refit_every: int = Field(21, ge=0, description="Retrain the series' model once this many "
                             "business days of prices follow its last input date (0: every "
                             "run); it is also retrained when its symbols, configuration or "
                             "past prices differ from today's")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("prices", "root")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = list(dict.fromkeys(s.strip() for s in value if s.strip()))
        if not out:
            raise ValueError("symbols is empty; leave it unset to use all symbols")
        return out

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ganjobs.config import check_overrides  # pydantic and yaml only

        out = check_overrides(value)
        for key, param in _OWN_PARAMETERS.items():
            if key in out:
                raise ValueError(f"overrides: set {key} with the parameter {param!r}")
        return out


#: Config fields that have a parameter of their own: an override of one would be overridden.
_OWN_PARAMETERS = {"train.steps": "steps", "train.workers": "workers", "train.gpu": "gpu",
                   "train.seed": "seed"}


def output_identity(params: PipelineParams, fingerprint: str, symbols: list[str],
                    version: str, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """What determines a set's content: data, the knobs that change the model or the paths,
    the model and the code. The Ray address, portfolio and output location do not belong
    here.

    ``model`` is the training identity of a reused model (``flows.model_reuse``); unset, the
    model is the one this run trains, so a run that reuses the model an identical earlier
    run trained maps to that run's folder.
    """
    from flows.model_reuse import training_identity

    return {
        "data_sha256": fingerprint,
        "symbols": list(symbols),
        "preset": params.preset or "default",  # unset means the default preset
        "steps": params.steps,
        "overrides": params.overrides,
        "workers": params.workers,  # the DDP world size changes the trained model
        "gpu": params.gpu,
        "n": params.n,
        "horizon": params.horizon,
        "seed": params.seed,
        "code_version": version,
        "model": model or training_identity(params, fingerprint, symbols, version),
    }


def run_id_for(identity: dict[str, Any]) -> str:
    """Deterministic run id: identical inputs map to the same folder."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return "r" + hashlib.sha256(blob).hexdigest()[:12]


def latest_model_url(root: str, name: str) -> str:
    """``<root>/<name>/LATEST_MODEL``: the series' model pointer, known before the run id."""
    from ganjobs.io.storage import join

    return join(root, name, "LATEST_MODEL")


@dataclass(frozen=True)
class RunLayout:
    """Locations of one run: ``<root>/<name>/<as-of>/<run-id>/{model,scenarios,...}``, and
    the series' pointers ``<root>/<name>/LATEST`` and ``<root>/<name>/LATEST_MODEL``."""

    root: str
    name: str
    as_of: str
    run_id: str

    def _join(self, *names: str) -> str:
        from ganjobs.io.storage import join

        return join(self.root, *names)

    @property
    def run(self) -> str:
        return self._join(self.name, self.as_of, self.run_id)

    @property
    def model(self) -> str:
        return self._join(self.name, self.as_of, self.run_id, "model")

    @property
    def staging(self) -> str:
        """Generated set before evaluation; the published copy carries the metrics."""
        return self._join(self.name, self.as_of, self.run_id, "_staging", "scenarios")

    @property
    def staging_root(self) -> str:
        return self._join(self.name, self.as_of, self.run_id, "_staging")

    @property
    def scenarios(self) -> str:
        return self._join(self.name, self.as_of, self.run_id, "scenarios")

    @property
    def evaluation(self) -> str:
        return self._join(self.name, self.as_of, self.run_id, "evaluation")

    @property
    def long_run(self) -> str:
        """Long-run paths of a conditional model trained by this run, for its evaluation."""
        return self._join(self.name, self.as_of, self.run_id, "long-run")

    def stress(self, portfolio_tag: str) -> str:
        return self._join(self.name, self.as_of, self.run_id, "stress", portfolio_tag)

    @property
    def latest(self) -> str:
        return self._join(self.name, "LATEST")

    @property
    def latest_model(self) -> str:
        """The series' model pointer (``flows.model_reuse``)."""
        return latest_model_url(self.root, self.name)

    @property
    def cache(self) -> str:
        """Prefect result/cache records, kept beside the outputs they describe."""
        return self._join("_prefect", "results")
