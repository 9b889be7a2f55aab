"""Weights of a (possibly DDP-wrapped) network: unwrapping, and a hash to compare ranks."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP (or other ``.module``) wrapper."""
    return getattr(model, "module", model)


def state_hash(model: nn.Module) -> str:
    """sha256 over the parameters in registration order: equal iff the weights are equal.

    Buffers are left out: a batch norm's running statistics are updated by each rank's own
    forward passes after DDP broadcast rank 0's at the start of each, so they differ across
    ranks without the weights doing so (rank 0's are the ones checkpointed).
    """
    h = hashlib.sha256()
    for name, tensor in unwrap(model).named_parameters():
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
