"""Training checkpoints: written atomically every epoch, read back without unpickling code.

Checkpoints hold only tensors, numbers and strings (model, EMA, optimiser and
scheduler state, torch RNG state, epoch, best result); they are read with
``torch.load(weights_only=True)``. They are training state, not published
potentials: those are safetensors files (attnff.model_file).
"""

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "restore_training", "kept_weights", "kept_epoch", "is_checkpoint",
           "checkpoint_hint"]


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename: an interrupted write
    (Ctrl-C, a killed rank) leaves the previous checkpoint whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (tensors and plain data only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def restore_training(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, ema: torch.nn.Module | None) -> dict[str, Any]:
    """Load model, optimiser, scheduler, EMA and torch RNG state from a checkpoint; returns its loop state
    (epoch, best result, ...)."""
    saved = load_checkpoint(path)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    if ema is not None:
        ema.load_state_dict(saved["ema"])
    if "rng" in saved:
        torch.set_rng_state(saved["rng"])
    return saved["state"]


def kept_weights(keep: str, state: dict[str, Any], averaged: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The weights a finished run writes: the best-validation epoch's (``keep="best"``; None when no epoch
    ran) or ``averaged``'s, the last epoch's EMA (or plain) weights (``keep="final"``)."""
    if keep == "final":
        return {k: v.detach().cpu().clone() for k, v in averaged.state_dict().items()}
    return state["best_state"]


def kept_epoch(keep: str, state: dict[str, Any]) -> int:
    """The epoch whose weights ``kept_weights`` returns (0 when no epoch ran)."""
    return state["epoch"] if keep == "final" else state["best_epoch"]


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file written by torch.save (a zip archive or a bare pickle)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        head = handle.read(9)
    # a safetensors file starts with its header length, whose first byte may be 0x80; byte 8 is then "{"
    return head[:2] == b"PK" or (head[:1] == b"\x80" and head[8:9] != b"{")


def checkpoint_hint(path: str | os.PathLike) -> str:
    """A sentence pointing from a training checkpoint to the potential file training writes beside it."""
    path = Path(path)
    written = sorted(path.parent.glob("*.safetensors"))
    where = f"use {written[0]}" if written else \
        f"training writes it as {path.parent / 'NAME.safetensors'} (NAME from the config) when it ends"
    return (f"{path.name} is a training checkpoint (state for `attnff train --resume`), not a potential file; "
            f"{where}")
