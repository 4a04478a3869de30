"""Batch prediction of per-molecule properties: ``attnff predict MODEL structures.xyz -o out.csv``."""

import csv
import os
from pathlib import Path

import numpy as np
import torch

from .device import resolve_device, resolve_dtype
from .model_file import load_property_model, resolve_potential

__all__ = ["predict_file"]


def predict_file(model: str | os.PathLike, structures: str | os.PathLike, output: str | os.PathLike,
                 batch_size: int = 64, device: str = "cpu", dtype: str = "float32", index: str = ":") -> Path:
    """Predict every structure of a file (anything ase.io reads) with a property model; write a CSV.

    The CSV has one row per structure: its position in the file, its formula, and each target with its
    unit in the column name (``homo_eV``, ``dipole_Debye``, ...). Structures run ``batch_size`` at a time.

    Args:
        model: a shipped property model name (``attnff list``) or a model file.
        structures: the structure file.
        output: the CSV to write.
        batch_size: structures per model call.
        device, dtype: where and in what precision to evaluate.
        index: which frames to read (ase.io.read's index; default all).
    """
    from ase.io import read

    if not Path(structures).is_file():
        raise FileNotFoundError(f"structure file {str(structures)!r} not found")
    property_model, _ = load_property_model(resolve_potential(model))
    frames = read(str(structures), index=index)
    frames = frames if isinstance(frames, list) else [frames]
    predicted = property_model.predict(frames, batch_size=batch_size, dtype=resolve_dtype(dtype),
                                       device=resolve_device(device) if device != "cpu" else torch.device("cpu"))
    units = property_model.units
    columns = [f"{t}_{units[t]}".rstrip("_").replace("^", "").replace("/", "_") for t in property_model.targets]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        vector = predicted.get("dipole_vector")
        writer.writerow(["index", "formula", *columns, *(["dipole_x_eA", "dipole_y_eA", "dipole_z_eA"]
                                                         if vector is not None else [])])
        for k, atoms in enumerate(frames):
            row = [k, atoms.get_chemical_formula(), *(f"{predicted[t][k]:.6f}" for t in property_model.targets)]
            if vector is not None:
                row += [f"{x:.6f}" for x in np.asarray(vector[k])]
            writer.writerow(row)
    return output
