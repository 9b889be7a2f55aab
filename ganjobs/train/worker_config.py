"""What every training worker is given: :class:`WorkerConfig`.

It crosses Ray's process boundary (pickled with the training function's config), so it holds
plain values, a NumPy array, a pydantic configuration, a picklable task factory and, under
Ray, the driver's progress feed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganjobs.config import GanConfig, config_from_dict
from ganjobs.errors import GanjobsError
from ganjobs.train.task import TaskFactory

#: Key under which the launcher hands a :class:`WorkerConfig` to Ray Train: Ray records the
#: training function's config as a mapping, so the typed config travels inside one.
RAY_CONFIG_KEY = "worker"


@dataclass(frozen=True, eq=False)  # eq: the data array has no truth value
class WorkerConfig:
    """One run's settings as a worker sees them.

    Attributes
    ----------
    gan : GanConfig or TableConfig
        The resolved configuration; the engine reads its ``train`` and ``optim`` sections,
        the task the rest.
    task : callable
        :data:`~ganjobs.train.task.TaskFactory` building the task on the worker.
    data : ndarray, optional
        The training data (or ``data_path``: a ``.npy`` file URL, local or ``s3://``).
    data_path : str, optional
    device : str, optional
        Standalone only: explicit device; default ``cuda`` when ``train.gpu`` else ``cpu``.
    checkpoint_dir : str, optional
        Standalone only: folder for ``state.pt``, resumed from when present.
    threads : int, optional
        Torch intra-op threads of this worker.
    progress : ProgressFeed, optional
        Under Ray: where rank 0 sends progress for the driver's console
        (:mod:`ganjobs.train.progress`); without one, rank 0 writes its log lines to stderr.
    """

    gan: Any  # GanConfig or TableConfig
    task: TaskFactory
    data: np.ndarray | None = field(default=None, repr=False)
    data_path: str | None = None
    device: str | None = None
    checkpoint_dir: str | None = None
    threads: int | None = None
    progress: Any = None

    def __post_init__(self) -> None:
        # The engine reads only the ``train`` and ``optim`` sections: the market's GanConfig
        # and the table model's TableConfig both carry them.
        if not all(hasattr(self.gan, s) for s in ("train", "optim", "model_dump")):
            raise GanjobsError(f"WorkerConfig.gan must be a training configuration with "
                               f"'train' and 'optim' sections, got {type(self.gan)}")
        if self.data is None and not self.data_path:
            raise GanjobsError("training config holds neither 'data' nor 'data_path'")
        if self.threads is not None and (isinstance(self.threads, bool)
                                         or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise GanjobsError(f"threads must be a positive integer, got {self.threads!r}")

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> WorkerConfig:
        """The mapping form of a market run: ``gan`` (a :class:`GanConfig` as a dict),
        ``data`` or ``data_path``, and optionally ``device``, ``checkpoint_dir``,
        ``threads``. A mapping under :data:`RAY_CONFIG_KEY` holds the typed config itself."""
        inner = config.get(RAY_CONFIG_KEY)
        if isinstance(inner, WorkerConfig):
            return inner
        from ganjobs.model.task import MarketTask

        unknown = set(config) - {"gan", "data", "data_path", "device", "checkpoint_dir",
                                 "threads"}
        if unknown:
            raise GanjobsError(f"unknown training config keys: {', '.join(sorted(unknown))}")
        gan = config["gan"]
        return cls(gan=gan if isinstance(gan, GanConfig) else config_from_dict(gan),
                   task=MarketTask, data=config.get("data"), data_path=config.get("data_path"),
                   device=config.get("device"), checkpoint_dir=config.get("checkpoint_dir"),
                   threads=config.get("threads") or None)

    def load_data(self) -> np.ndarray:
        """The training data: the array given, or the ``.npy`` file at ``data_path``."""
        if self.data is not None:
            return np.asarray(self.data)
        from ganjobs.io.storage import read_bytes  # fsspec: a local path or s3:// alike

        return np.load(io.BytesIO(read_bytes(self.data_path)), allow_pickle=False)


def as_worker_config(config: WorkerConfig | Mapping[str, Any]) -> WorkerConfig:
    """``config`` as a :class:`WorkerConfig` (see :meth:`WorkerConfig.from_mapping`)."""
    if isinstance(config, WorkerConfig):
        return config
    if isinstance(config, Mapping):
        return WorkerConfig.from_mapping(config)
    raise GanjobsError(f"training config must be a WorkerConfig or a mapping, got "
                       f"{type(config).__name__}")
