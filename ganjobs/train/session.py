"""Where the training loop runs: inside a Ray Train worker, or standalone in one process.

The loop talks only to a :class:`Session`: rank, world size, device, model preparation,
collectives, reporting and checkpoints. :func:`open_session` picks the Ray one when the
process is a Ray Train worker and the local one otherwise, so the loop runs unchanged on a
GPU machine that has nothing but PyTorch (Ray is never imported there).
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: File holding the training state inside a checkpoint directory.
STATE_FILE = "state.pt"
#: What every line of the training log starts with.
LOG_PREFIX = "[ganjobs.train]"


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint state; ``weights_only`` so that loading runs no pickled code.

    Raises
    ------
    GanjobsError
        The file holds anything but tensors and plain containers (e.g. a crafted pickle that
        would run code): refused, never retried with the unsafe loader.
    """
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        from ganjobs.errors import GanjobsError

        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln),
                      lines[-1] if lines else type(exc).__name__)
        raise GanjobsError(f"{path}: checkpoint refused: it holds objects other than tensors "
                           f"and plain containers, which are never unpickled ({reason})"
                           ) from None


class Session:
    """Interface of the two sessions (see the module docstring)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device
    #: The driver's progress feed (:class:`~ganjobs.train.progress.ProgressFeed`), if any.
    feed: Any = None

    def prepare(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        """Report ``metrics``; rank 0 also persists ``state`` as a checkpoint when given."""
        raise NotImplementedError

    def restore(self) -> dict[str, Any] | None:
        """The state of the latest checkpoint of this run, if any."""
        raise NotImplementedError

    # Collectives: identity in one process.
    def all_gather(self, obj: Any) -> list[Any]:
        if self.world_size > 1:
            out: list[Any] = [None] * self.world_size
            torch.distributed.all_gather_object(out, obj)
            return out
        return [obj]

    def all_min(self, value: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            value = value.clone()
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MIN)
        return value

    def log(self, line: str) -> None:
        """A line for the user, from rank 0: to the driver's console through the progress
        feed when there is one, else to stderr."""
        if self.rank != 0:
            return
        if self.feed is not None:
            self.feed.log(line)
            return
        # write, not print: Ray Train patches print to log and tee, which shows lines twice
        sys.stderr.write(f"{LOG_PREFIX} {line}\n")
        sys.stderr.flush()

    @staticmethod
    def no_sync(model: nn.Module) -> AbstractContextManager[Any]:
        """Skip DDP's gradient all-reduce for a backward whose gradients are discarded."""
        return model.no_sync() if hasattr(model, "no_sync") else nullcontext()


class LocalSession(Session):
    """One process, no Ray: checkpoints go to ``checkpoint_dir`` when one is given."""

    def __init__(self, device: torch.device, checkpoint_dir: str | None = None) -> None:
        self.device = device
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.reports: list[dict[str, Any]] = []

    def prepare(self, model: nn.Module) -> nn.Module:
        return model.to(self.device)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        self.reports.append(dict(metrics))
        if state is not None and self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            # Write then rename: a crash mid-write never leaves a torn checkpoint behind.
            tmp = self.checkpoint_dir / (STATE_FILE + ".tmp")
            torch.save(state, tmp)
            os.replace(tmp, self.checkpoint_dir / STATE_FILE)

    def restore(self) -> dict[str, Any] | None:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / STATE_FILE).exists():
            return None
        return load_state(self.checkpoint_dir / STATE_FILE)


class RaySession(Session):
    """A Ray Train worker: DDP through ``prepare_model``, checkpoints through ``report``."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        self._train = ray.train
        self._torch = ray.train.torch
        ctx = ray.train.get_context()
        self.rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.device = ray.train.torch.get_device()

    def prepare(self, model: nn.Module) -> nn.Module:
        # One call per network: G and D are separate DDP modules with their own reducers.
        return self._torch.prepare_model(model)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        # Every rank calls report at the same steps (it is a barrier); only rank 0 uploads.
        if state is None or self.rank != 0:
            self._train.report(metrics, checkpoint=None)
            return
        with tempfile.TemporaryDirectory(prefix="ganjobs-ckpt-") as tmp:
            torch.save(state, os.path.join(tmp, STATE_FILE))
            checkpoint = self._train.Checkpoint.from_directory(tmp)
            self._train.report(metrics, checkpoint=checkpoint,
                               checkpoint_dir_name=f"checkpoint_{int(state['step']):09d}")

    def restore(self) -> dict[str, Any] | None:
        checkpoint = self._train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            return load_state(os.path.join(folder, STATE_FILE))


def in_ray_train_worker() -> bool:
    """True inside a function launched by a Ray Train trainer."""
    if "ray" not in sys.modules:
        return False  # Ray Train imports ray before it runs the loop; nothing to probe
    try:
        import ray.train

        ray.train.get_context()
    except (ImportError, RuntimeError):
        return False
    return True


def open_session(device: str | None, gpu: bool, checkpoint_dir: str | None,
                 feed: Any = None) -> Session:
    """The Ray session inside a Ray Train worker, else a local one on ``device``.

    Parameters
    ----------
    device : str or None
        Standalone only: explicit device; ``None`` means ``cuda`` when ``gpu`` else ``cpu``.
    gpu : bool
        Standalone only: want a GPU.
    checkpoint_dir : str or None
        Standalone only: folder for ``state.pt`` (resume from it when present).
    feed : ProgressFeed, optional
        Where rank 0's log lines go instead of stderr.
    """
    session = _open(device, gpu, checkpoint_dir)
    session.feed = feed
    return session


def _open(device: str | None, gpu: bool, checkpoint_dir: str | None) -> Session:
    if in_ray_train_worker():
        return RaySession()
    name = device or ("cuda" if gpu else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from ganjobs.errors import GanjobsError

        raise GanjobsError("a GPU was requested but torch sees no CUDA device")
    return LocalSession(dev, checkpoint_dir)
