"""Daily operation: reuse the series' last model while it still fits today's data.

A series keeps a pointer to its latest model, ``<root>/<name>/LATEST_MODEL`` (a JSON record,
``ganjobs.latest-model/1``), moved only after the run that trained the model published its
set. Each run compares that model with today's inputs (:func:`decide`) and reuses it when
all of these hold, else trains a new one:

- same symbols and the same resolved configuration (preset, overrides, steps, workers,
  GPU and seed resolve to the tree ``model.json`` records);
- trained on a prefix of today's prices: today's rows up to the model's last input date
  fingerprint to the ``data.sha256`` it recorded (:mod:`ganjobs.data.prefix`), so no past
  price was corrected, added or removed since;
- younger than ``refit_every`` business days: fewer than that many price dates follow the
  model's last input date.

The decision and its reason in words go into the run's manifest (``pipeline.model``), its
summary and its Prefect artifact. Nothing here imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.params import PipelineParams
    from flows.task_params import ModelChoiceTask

POINTER_FORMAT = "ganjobs.latest-model/1"
#: Differing configuration fields named in a reason, at most.
MAX_FIELDS = 4


def training_identity(params: PipelineParams, fingerprint: str, symbols: list[str],
                      version: str) -> dict[str, Any]:
    """What determines a model trained by this run: its data, the training knobs and the
    code. A reused model carries the identity recorded when it was trained."""
    return {
        "data_sha256": fingerprint,
        "symbols": list(symbols),
        "preset": params.preset or "default",  # unset means the library's default preset
        "steps": params.steps,
        "overrides": params.overrides,
        "workers": params.workers,  # the DDP world size changes the trained model
        "gpu": params.gpu,
        "seed": params.seed,
        "code_version": version,
    }


def resolved_config(params: PipelineParams | ModelChoiceTask) -> dict[str, Any]:
    """The configuration tree training would resolve for these parameters, as JSON values.

    The parameters with an option of their own win over the preset and the overrides, as in
    ``ganjobs train`` (``ganjobs.train.command.resolve_run_config``, which needs torch).

    Raises
    ------
    GanjobsError
        Unknown preset or field, or a value out of range.
    """
    from ganjobs.config import resolve_config

    given = {"train.steps": params.steps, "train.workers": params.workers,
             "train.seed": params.seed, "train.gpu": True if params.gpu else None}
    given = {k: v for k, v in given.items() if v is not None}
    return resolve_config(params.preset, **{**params.overrides, **given}).model_dump(mode="json")


def recorded_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The configuration a ``model.json`` records, migrated to the current schema."""
    from ganjobs.config import config_from_dict

    return config_from_dict(meta["config"], schema=meta.get("config_schema", 1)
                            ).model_dump(mode="json")


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two configuration trees."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def _days(n: int) -> str:
    return f"{n} business day{'' if n == 1 else 's'}"


def decide(*, pointer: dict[str, Any] | None, meta: dict[str, Any] | None,
           config: dict[str, Any], symbols: list[str], prefix: Any,
           refit_every: int) -> dict[str, Any]:
    """Reuse the pointed-at model or train a new one, and say why.

    Parameters
    ----------
    pointer : dict or None
        The ``LATEST_MODEL`` record; ``None`` when the series has none.
    meta : dict or None
        That model's ``model.json``; ``None`` when its folder holds no published model.
    config : dict
        Today's resolved configuration (:func:`resolved_config`).
    symbols : list of str
        Today's symbols, in column order.
    prefix : ganjobs.data.prefix.PrefixCheck or None
        Today's prices up to the model's last input date; ``None`` when not computed
        (no model to compare with, or other symbols).
    refit_every : int
        Retrain when at least this many price dates follow the model's last input date.

    Returns
    -------
    dict
        ``action`` (``"reuse"`` or ``"train"``), ``reason`` (one line in words), and, when a
        model was compared, ``model_url``, ``input_last_date`` and ``age_business_days``.
    """
    base = {"refit_every": refit_every, "model_url": None, "input_last_date": None,
            "age_business_days": None}
    if pointer is None:
        return {**base, "action": "train", "reason": "trained: no earlier model of this series"}
    url = pointer.get("model")
    if meta is None:
        return {**base, "action": "train",
                "reason": f"retrained: the last model {url} is not published"}
    data = meta.get("data") or {}
    upto = data.get("input_last_date") or data.get("last_date")
    base.update(model_url=url, input_last_date=upto)
    why: list[str] = []
    if list(meta.get("symbols") or []) != list(symbols):
        why.append(f"symbols changed ({','.join(meta.get('symbols') or [])} -> "
                   f"{','.join(symbols)})")
    else:
        fields = config_differences(recorded_config(meta), config)
        if fields:
            more = len(fields) - MAX_FIELDS
            why.append("configuration changed (" + ", ".join(fields[:MAX_FIELDS])
                       + (f" and {more} more" if more > 0 else "") + ")")
    if prefix is not None:
        base["age_business_days"] = prefix.dates_after
        if prefix.last_date < str(upto):
            why.append(f"today's prices end on {prefix.last_date}, before the model's "
                       f"last input date {upto}")
        elif prefix.sha256 != data.get("sha256"):
            why.append(f"prices up to {upto} changed since the model was trained")
        if prefix.dates_after >= refit_every:
            why.append(f"{_days(prefix.dates_after)} old, refit every {refit_every}")
    if why:
        return {**base, "action": "train", "reason": "retrained: " + "; ".join(why)}
    return {**base, "action": "reuse",
            "reason": f"reused model {url} trained to {upto}, {_days(prefix.dates_after)} old "
                      f"(refit every {refit_every})"}


def model_record(decision: dict[str, Any], model_url: str) -> dict[str, Any]:
    """The ``pipeline.model`` block of a set's manifest: which model, and why that one."""
    record = {"decision": decision["action"], "reason": decision["reason"],
              "location": model_url, "refit_every": decision["refit_every"]}
    if decision["action"] == "reuse":
        trained_by = decision.get("trained_by") or {}
        record.update(input_last_date=decision["input_last_date"],
                      age_business_days=decision["age_business_days"],
                      trained_by_run=trained_by.get("run_id"),
                      trained_as_of=trained_by.get("as_of"))
    else:
        record["replaces"] = decision.get("model_url")
    return record


def pointer_record(*, name: str, model_url: str, meta: dict[str, Any],
                   training: dict[str, Any], run_id: str, as_of: str, scenarios_url: str,
                   evaluation: dict[str, Any]) -> dict[str, Any]:
    """The ``LATEST_MODEL`` record of a model trained and published by run ``run_id``."""
    import datetime as dt

    data = meta.get("data") or {}
    return {
        "format": POINTER_FORMAT,
        "name": name,
        "model": model_url,
        "fingerprint": (meta.get("weights") or {}).get("sha256"),
        "symbols": list(meta.get("symbols") or []),
        "input_last_date": data.get("input_last_date") or data.get("last_date"),
        "data_sha256": data.get("sha256"),
        "training": training,
        "run_id": run_id,
        "as_of": as_of,
        "scenarios": scenarios_url,
        "evaluation": {"metrics_url": evaluation.get("metrics_url"),
                       "report_url": evaluation.get("report_url")},
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
