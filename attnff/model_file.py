"""Potential files: safetensors weights with the model's JSON metadata and card in the header.

One file holds everything needed to rebuild a Potential. Loading parses the
safetensors header itself first, so a pickled, truncated, foreign or
wrong-version file is refused with a ModelFileError before any tensor is read.
Nothing is ever unpickled.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from .errors import ModelFileError
from .potential import Potential
from .properties import KIND as PROPERTY_KIND
from .properties import PropertyModel
from .version import __version__

__all__ = ["FORMAT_VERSION", "save_potential", "load_potential", "load_property_model", "load_model",
           "read_metadata", "potentials_dir", "list_potentials", "resolve_potential"]

FORMAT_VERSION = 1
_METADATA_KEY = "attnff"
_MAX_HEADER = 100 * 2**20


def save_potential(potential: Potential | PropertyModel, path: str | os.PathLike,
                   card: dict[str, Any] | None = None) -> Path:
    """Write ``potential`` (or a property model: weights + metadata + model card) atomically to ``path``."""
    path = Path(path)
    units = {"energy": "eV", "length": "Angstrom"} if isinstance(potential, Potential) else \
        {"length": "Angstrom", **potential.units}
    meta = {"format_version": FORMAT_VERSION, "attnff_version": __version__, "units": units,
            **potential.metadata(), "card": card or {}}
    tensors = {k: v.detach().cpu().contiguous() for k, v in potential.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_METADATA_KEY: json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Validate the file's structure and return its attnff metadata (no tensors read)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"potential file {str(path)!r} does not exist")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(9)
        header_len = int.from_bytes(head[:8], "little")
        # torch.save writes a zip archive ("PK"), older torch and plain pickle start with
        # the protocol byte 0x80; a safetensors header is JSON, so byte 8 is "{".
        if head[:2] == b"PK" or (head[:1] == b"\x80" and head[8:9] != b"{"):
            beside = sorted(path.parent.glob("*.safetensors"))
            hint = (f"; if it is a training checkpoint, the potential file training wrote is {beside[0]}"
                    if beside else "; a training run writes its potential file as NAME.safetensors beside it")
            raise ModelFileError(
                f"{path} holds pickled (torch.save) data; attnff never unpickles model files{hint}. "
                "Other weights: convert them to an attnff safetensors potential file."
            )
        if len(head) < 9:
            raise ModelFileError(f"{path} is truncated or not a safetensors file ({size} bytes)")
        handle.seek(8)
        if header_len > min(size - 8, _MAX_HEADER):
            raise ModelFileError(f"{path} is truncated or not a safetensors potential file (bad header length)")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelFileError(f"{path} has a corrupt header; not an attnff potential file") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} has a corrupt header; not an attnff potential file")
    try:
        data_end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, IndexError, ValueError):
        raise ModelFileError(f"{path} has a corrupt tensor table; not an attnff potential file") from None
    if 8 + header_len + data_end > size:
        raise ModelFileError(f"{path} is truncated: {size} bytes, header promises {8 + header_len + data_end}")
    raw = (header.get("__metadata__") or {}).get(_METADATA_KEY)
    if raw is None:
        raise ModelFileError(f"{path} is a safetensors file without attnff metadata; not an attnff potential")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelFileError(f"{path} has corrupt attnff metadata") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has potential file format version {version!r}; this attnff ({__version__}) "
            f"reads version {FORMAT_VERSION}"
        )
    return meta


def load_potential(path: str | os.PathLike) -> tuple[Potential, dict[str, Any]]:
    """Rebuild a Potential from a file; returns (potential in float64 on CPU, metadata).

    Raises:
        ModelFileError: the file is broken, or holds a property model (``load_property_model``).
    """
    model, meta = load_model(path)
    if not isinstance(model, Potential):
        raise ModelFileError(f"{path} holds a property model ({', '.join(model.targets)}), not a potential: it "
                             "gives no energies or forces; load it with load_property_model or AttnCalculator.load")
    return model, meta


def load_property_model(path: str | os.PathLike) -> tuple[PropertyModel, dict[str, Any]]:
    """Rebuild a PropertyModel from a file; returns (model in float64 on CPU, metadata)."""
    model, meta = load_model(path)
    if not isinstance(model, PropertyModel):
        raise ModelFileError(f"{path} holds a potential (energies and forces), not a property model")
    return model, meta


def load_model(path: str | os.PathLike) -> tuple[Potential | PropertyModel, dict[str, Any]]:
    """Rebuild whatever model a file holds (a Potential or a PropertyModel), float64 on CPU, and its metadata."""
    meta = read_metadata(path)
    try:
        potential = PropertyModel.from_metadata(meta) if meta.get("kind") == PROPERTY_KIND else \
            Potential.from_metadata(meta)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path} has invalid model metadata: {error}") from None
    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise ModelFileError(f"{path} could not be read as safetensors: {error}") from None
    missing = set(potential.state_dict()) - set(tensors)
    unexpected = set(tensors) - set(potential.state_dict())
    if missing or unexpected:
        raise ModelFileError(
            f"{path} does not match its model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    potential = potential.double()  # before loading, so float64 weights keep every bit
    potential.load_state_dict(tensors)
    return potential.eval(), meta


def potentials_dir() -> Path:
    """Folder of the shipped potentials (installed package data, or the source tree's potentials/)."""
    installed = Path(__file__).parent / "potentials"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "potentials"


def list_potentials() -> dict[str, str]:
    """Shipped potential names with their one-line descriptions."""
    found = {}
    for model in sorted(potentials_dir().glob("*/model.safetensors")):
        card = read_metadata(model).get("card", {})
        found[model.parent.name] = card.get("description", "")
    return found


def resolve_potential(name_or_path: str | os.PathLike) -> Path:
    """A shipped name or a file path -> the potential file's path."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    shipped = potentials_dir() / str(name_or_path) / "model.safetensors"
    if shipped.is_file():
        return shipped
    raise ModelFileError(
        f"no potential file or shipped potential named {str(name_or_path)!r}; "
        f"shipped: {sorted(list_potentials())}"
    )
