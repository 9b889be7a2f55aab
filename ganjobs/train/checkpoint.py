"""The training state: what a checkpoint holds, how it is restored, and the in-memory
snapshot divergence recovery rolls back to.

A checkpoint (``state.pt``, written by rank 0 through the session) is a dict of tensors and
plain values, format :data:`CHECKPOINT_FORMAT`:

``format``, ``step``; ``generator``, ``critic`` (state dicts); ``opt_g``, ``opt_d`` (Adam
state dicts, learning rates included); ``rng`` (the sampling generator state of every rank,
keyed ``"0"``, ``"1"``, ...); ``world_size``; ``lr_g``, ``lr_d``; ``recoveries``, ``config``
and ``metrics`` (JSON strings: divergence recoveries so far, the task's configuration record,
the metrics reported with the checkpoint).

Resuming restores all of it, so a run stopped and resumed ends with the same weights as one
that never stopped (on the same number of workers; on another, the per-rank sampling streams
are re-derived from the run seed and the step).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import torch

from ganjobs.core.seeds import derive_seed
from ganjobs.errors import GanjobsError
from ganjobs.train.weights import unwrap

if TYPE_CHECKING:
    from ganjobs.train.task import GanTask
    from ganjobs.train.trainer import Trainer

CHECKPOINT_FORMAT = "ganjobs.checkpoint/1"
# Stream keys for seed derivation: one run seed, independent streams per purpose and rank.
INIT_STREAM, SAMPLE_STREAM = 0, 1


def cpu_copy(obj: Any) -> Any:
    """A deep copy with every tensor copied to the CPU (never aliasing live tensors)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


def check_restored(state: dict[str, Any], task: GanTask) -> None:
    """Refuse a checkpoint of another format, or of a run that trained something else."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise GanjobsError(f"checkpoint has format {state.get('format')!r}, "
                           f"expected {CHECKPOINT_FORMAT}")
    task.check_resume(json.loads(state["config"]))


def take_snapshot(trainer: Trainer) -> dict[str, Any]:
    """This rank's weights, optimiser states, sampling RNG and step, copied to the CPU."""
    return {
        "step": trainer.step,
        "generator": cpu_copy(unwrap(trainer.G).state_dict()),
        "critic": cpu_copy(unwrap(trainer.D).state_dict()),
        "opt_g": cpu_copy(trainer.opt_g.state_dict()),
        "opt_d": cpu_copy(trainer.opt_d.state_dict()),
        "rng": trainer.rng.get_state().cpu(),
    }


def restore_snapshot(trainer: Trainer, snap: dict[str, Any]) -> None:
    """Put a snapshot back: weights, optimisers (gradients cleared), RNG and step."""
    unwrap(trainer.G).load_state_dict(snap["generator"])
    unwrap(trainer.D).load_state_dict(snap["critic"])
    # Copies again: loading may alias the given tensors, and Adam updates them in place.
    trainer.opt_g.load_state_dict(cpu_copy(snap["opt_g"]))
    trainer.opt_d.load_state_dict(cpu_copy(snap["opt_d"]))
    trainer.opt_g.zero_grad(set_to_none=True)
    trainer.opt_d.zero_grad(set_to_none=True)
    trainer.rng.set_state(snap["rng"])
    trainer.step = int(snap["step"])


def state_dict(trainer: Trainer, snap: dict[str, Any],
               metrics: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint of ``snap`` (a snapshot of the current step); ``{}`` on ranks other
    than 0. Collective: every rank calls it (the RNG states of all ranks are gathered)."""
    session = trainer.session
    rngs = session.all_gather(trainer.rng.get_state())
    if session.rank != 0:
        return {}
    if snap["step"] != trainer.step:
        raise RuntimeError("Trainer.state_dict() needs a snapshot of the current step")
    return {
        "format": CHECKPOINT_FORMAT,
        "step": trainer.step,
        "generator": snap["generator"],
        "critic": snap["critic"],
        "opt_g": snap["opt_g"],
        "opt_d": snap["opt_d"],
        "rng": {str(r): s.cpu() for r, s in enumerate(rngs)},
        "world_size": session.world_size,
        "lr_g": trainer.lr_g,
        "lr_d": trainer.lr_d,
        "recoveries": json.dumps(trainer.recoveries),
        "config": json.dumps(trainer.task.config_record()),
        "metrics": json.dumps(metrics),
    }


def load_state_dict(trainer: Trainer, state: dict[str, Any]) -> None:
    """Continue from a checkpoint: optimisers, step, learning rates, recoveries, this
    rank's sampling RNG (weights are loaded before the networks are wrapped for DDP)."""
    session = trainer.session
    trainer.opt_g.load_state_dict(state["opt_g"])
    trainer.opt_d.load_state_dict(state["opt_d"])
    trainer.step = trainer.start_step = int(state["step"])
    # The optimiser states carry their learning rates; checkpoints also name them, and the
    # recoveries that lowered them.
    trainer.recoveries = json.loads(state.get("recoveries", "[]"))
    trainer.set_lrs(float(state.get("lr_g", trainer.opt_g.param_groups[0]["lr"])),
                    float(state.get("lr_d", trainer.opt_d.param_groups[0]["lr"])))
    if trainer.recoveries:
        n = len(trainer.recoveries)
        session.log(f"resuming after {n} divergence recover{'y' if n == 1 else 'ies'}: "
                    f"lr_g {trainer.lr_g:.3g} lr_d {trainer.lr_d:.3g}")
    rng = state.get("rng", {})
    key = str(session.rank)
    if int(state.get("world_size", -1)) == session.world_size and key in rng:
        trainer.rng.set_state(rng[key])
    else:
        # Another world size: the old per-rank streams do not map onto the new ranks.
        trainer.rng.manual_seed(derive_seed(trainer.train_cfg.seed, SAMPLE_STREAM,
                                            session.rank, trainer.step))
        session.log(f"resumed on {session.world_size} workers from a checkpoint of "
                    f"{state.get('world_size')}: sampling streams re-derived")
    session.log(f"resumed from checkpoint at step {trainer.step}")
