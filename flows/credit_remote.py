"""Table training and synthesis as Ray Jobs, when the credit pipeline is given a Jobs API.

The same path as the scenario pipeline's (:mod:`flows.remote`): ``ganjobs train-table`` and
``ganjobs synth`` are submitted through :mod:`ganjobs.cluster.jobs` under submission ids
derived from the run name, so a retried task attaches to its job instead of starting a second
one; the outputs are read back from the storage the cluster shares. No torch here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.credit_tasks import SynthTask, TrainTableTask


def train_table_args(p: TrainTableTask) -> list[str]:
    """``ganjobs train-table`` arguments of one run."""
    args = ["train-table", "--data", p.data, "--out", p.model_url, "--seed", str(p.seed),
            "--name", p.run_name]
    for flag, value in (("--schema", p.schema_url), ("--target", p.target),
                        ("--preset", p.preset), ("--steps", p.steps),
                        ("--workers", p.workers), ("--dp-epsilon", p.dp_epsilon)):
        if value is not None:
            args += [flag, str(value)]
    return args


def synth_args(p: SynthTask) -> list[str]:
    """``ganjobs synth`` arguments; a folder an interrupted job left unfinished is replaced by
    the publisher itself, a published one is never submitted (the task reads it back)."""
    return ["synth", "--model", p.model_url, "--out", p.out, "--n", str(p.n),
            "--seed", str(p.seed)]


def read_model(model_url: str, job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The train task's result, read from a published model folder's ``model.json``."""
    from ganjobs.errors import StorageError
    from ganjobs.io.publisher import is_published
    from ganjobs.io.storage import join, read_json

    if not is_published(model_url):
        sid = job["submission_id"] if job else "the job"
        raise StorageError(f"{sid} succeeded but {model_url} holds no published model: is "
                           f"the output on storage the cluster shares?")
    return model_result(model_url, read_json(join(model_url, "model.json")), job)


def model_result(model_url: str, meta: dict[str, Any], job: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """What the flow keeps of a model: where it is, its steps, data, split (the loan book's
    default size is its training part) and privacy guarantee."""
    privacy = meta.get("privacy")
    dp = {"epsilon": privacy["epsilon"], "delta": privacy["delta"]} if privacy else None
    return {"out": model_url, "steps": meta.get("step"), "data": meta.get("data") or {},
            "split": meta["split"], "dp": dp, "job": job}


def read_loan_book(out: str, job: dict[str, Any] | None = None) -> dict[str, Any]:
    """The synth task's result: the manifest of the published loan book."""
    from ganjobs.errors import StorageError
    from ganjobs.io.publisher import is_published, read_manifest

    if not is_published(out):
        sid = job["submission_id"] if job else "the job"
        raise StorageError(f"{sid} succeeded but {out} holds no published loan book: is the "
                           f"output on storage the cluster shares?")
    return read_manifest(out)
