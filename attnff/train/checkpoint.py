"""Training checkpoints: written atomically every epoch, read back without unpickling code.

Checkpoints hold only tensors, numbers and strings (model, EMA, optimiser and
scheduler state, epoch, best result); they are read with
``torch.load(weights_only=True)``. They are training state, not published
potentials: those are safetensors files (attnff.model_file).
"""

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (tensors and plain data only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
