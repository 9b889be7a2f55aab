"""Divergence: running loss sums, the collective health check and the roll-back.

Every rank keeps a CPU copy of its last checkpointed state (weights, optimiser states,
sampling RNG, step; also taken at the start). When, at a log or checkpoint step, any rank saw
a non-finite loss or a critic loss beyond ``train.explode_threshold`` (decided collectively,
so every rank takes the same branch), every rank restores that copy, multiplies both
learning rates by ``train.recovery_lr_factor`` and trains on, at most
``train.max_recoveries`` times per run; the events go to the log, the reported metrics, the
checkpoints and the returned result.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from ganjobs.train.session import Session
from ganjobs.train.weights import state_hash

if TYPE_CHECKING:
    from ganjobs.config import TrainConfig
    from ganjobs.train.trainer import Trainer

_NO_BAD = 2**62
NON_FINITE, EXPLODED = "non-finite loss", "critic exploded"


class NonFiniteLossError(RuntimeError):
    """Training diverged beyond recovery: a loss became NaN or infinite, or the critic
    exploded, after ``train.max_recoveries`` recoveries (names the step and the count)."""


class Tracker:
    """Device-side running sums of the losses and the first non-finite and first exploded
    steps: no host sync per step.

    Parameters
    ----------
    device : torch.device
    explode_threshold : float
        The critic has exploded when ``|d_loss|`` exceeds this.
    terms : tuple of str
        The task's loss terms tracked after ``d_loss`` and ``g_loss``.
    """

    def __init__(self, device: torch.device, explode_threshold: float = math.inf,
                 terms: tuple[str, ...] = ("gp", "facts")) -> None:
        self.device = device
        self.threshold = float(explode_threshold)
        self.names = ("d_loss", "g_loss", *terms)
        self.reset()

    def reset(self) -> None:
        device = self.device
        self.sums = torch.zeros(len(self.names), device=device, dtype=torch.float64)
        self.count = 0
        # [first non-finite step, first exploded step]; losses (d, g) at each.
        self.bad_step = torch.full((2,), _NO_BAD, device=device, dtype=torch.int64)
        self.bad_vals = torch.zeros(2, 2, device=device)

    def add(self, step: int, ld: torch.Tensor, lg: torch.Tensor,
            *terms: torch.Tensor | None) -> None:
        """One step's ``d_loss``, ``g_loss`` and task terms (``None`` counts as 0)."""
        terms = terms + (None,) * (len(self.names) - 2 - len(terms))
        vals = torch.stack([ld.float(), lg.float(),
                            *(torch.zeros((), device=self.device) if t is None else t.float()
                              for t in terms)])
        finite = torch.isfinite(vals).all()
        exploded = finite & (vals[0].abs() > self.threshold)
        first = torch.stack([~finite, exploded]) & (self.bad_step == _NO_BAD)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_vals = torch.where(first[:, None], vals[:2], self.bad_vals)
        self.sums += vals.double()
        self.count += 1

    def means(self) -> dict[str, float]:
        """Means since the last call, by name; restarts the sums."""
        values = (self.sums / max(self.count, 1)).tolist()
        self.sums.zero_()
        self.count = 0
        return dict(zip(self.names, values, strict=True))


def check_health(session: Session, tracker: Tracker) -> dict[str, Any] | None:
    """The first divergence any rank saw since the last check, the same on every rank
    (one all-reduce; the details are gathered only when there is one), or None."""
    first = session.all_min(tracker.bad_step).tolist()
    if min(first) == _NO_BAD:
        return None
    kind = 0 if first[0] <= first[1] else 1  # a non-finite loss wins a tie
    step = int(first[kind])
    mine = (int(tracker.bad_step[kind].item()), tracker.bad_vals[kind].tolist())
    seen = session.all_gather(mine)
    rank = next(r for r, (s, _) in enumerate(seen) if s == step)
    # Non-finite values as "nan"/"inf"/"-inf": the events end up in JSON (model.json).
    ld, lg = (v if math.isfinite(v) else str(v) for v in seen[rank][1])
    return {"step": step, "reason": (NON_FINITE, EXPLODED)[kind], "d_loss": ld,
            "g_loss": lg, "rank": rank}


def describe(event: dict[str, Any], threshold: float) -> str:
    """One sentence for a divergence event."""
    def num(v: float | str) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    beyond = "" if event["reason"] == NON_FINITE else (
        f" beyond train.explode_threshold {threshold:g}")
    return (f"{event['reason']} at step {event['step']} (critic loss {num(event['d_loss'])}"
            f"{beyond}, generator loss {num(event['g_loss'])} on rank {event['rank']})")


def recover(tc: TrainConfig, trainer: Trainer, session: Session,
            event: dict[str, Any]) -> None:
    """Roll every rank back to its last snapshot with lower learning rates, or raise when
    ``max_recoveries`` are spent. Collective: every rank calls it with the same event."""
    tried = len(trainer.recoveries)
    if tried >= tc.max_recoveries:
        each = (f"; each restored the last checkpoint and multiplied the learning rates by "
                f"{tc.recovery_lr_factor:g}, to lr_g {trainer.lr_g:.3g} lr_d "
                f"{trainer.lr_d:.3g}" if tried else "")
        raise NonFiniteLossError(
            f"training diverged: {describe(event, tc.explode_threshold)}; gave up after "
            f"{tried} recover{'y' if tried == 1 else 'ies'} (train.max_recoveries="
            f"{tc.max_recoveries}{each}); lower the learning rates or change the loss")
    restored = trainer.roll_back(tc.recovery_lr_factor)
    hashes = session.all_gather(state_hash(trainer.G))
    record = {**event, "recovery": tried + 1, "restored_step": restored,
              "lr_g": trainer.lr_g, "lr_d": trainer.lr_d, "g_hash": hashes[0],
              "ranks_in_sync": len(set(hashes)) == 1}
    trainer.recoveries.append(record)
    session.log(f"recovery {tried + 1}/{tc.max_recoveries}: "
                f"{describe(event, tc.explode_threshold)}; restored step {restored}, "
                f"learning rates now lr_g {trainer.lr_g:.3g} lr_d {trainer.lr_d:.3g}")
