"""Weights of a (possibly DDP-wrapped) network: unwrapping, and a hash to compare ranks."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP (or other ``.module``) wrapper."""
    return getattr(model, "module", model)


def state_hash(model: nn.Module) -> str:
    """sha256 over the parameters in state-dict order: equal iff the weights are equal."""
    h = hashlib.sha256()
    for name, tensor in unwrap(model).state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
