"""Per-molecule property data: QM9 from qm9pack, or extxyz files with the targets in ``atoms.info``."""

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .dataset import split_indices
from .qm9 import TARGETS, load_qm9, qm9_split
from .records import Configuration
from .validate import resolve_charge_spin

__all__ = ["read_property_data", "target_units"]


def target_units(targets) -> tuple[str, ...]:
    """Unit of each target: QM9's for QM9 names, "" (as in the file) for others."""
    return tuple(TARGETS[t].unit if t in TARGETS else "" for t in targets)


def _read_xyz(path: str, targets) -> list[Configuration]:
    from ase.io import read

    if not Path(path).is_file():
        raise FileNotFoundError(f"property data file {path!r} not found")
    configs = []
    for k, atoms in enumerate(read(path, index=":")):
        # ase.io moves keys it knows as results ("dipole", "energy") from the comment line to a calculator
        info = {**(atoms.calc.results if atoms.calc is not None else {}), **atoms.info}
        missing = [t for t in targets if t not in info]
        if missing:
            raise ConfigError(f"{path}: structure {k} has no {missing} in its info (targets are read from "
                              "atoms.info, in attnff units)")
        charge, multiplicity = resolve_charge_spin(atoms.numbers, atoms.info)
        configs.append(Configuration(numbers=atoms.numbers.copy(), positions=atoms.positions.copy(),
                                     charge=charge, multiplicity=multiplicity,
                                     properties={t: float(np.ravel(info[t])[0]) for t in targets}))
    return configs


def read_property_data(paths: list[str], data_format: str, split: dict, seed: int, targets
                       ) -> tuple[list[Configuration], dict[str, np.ndarray], dict]:
    """Molecules, split indices and a description of the source.

    Args:
        paths: files (extxyz); ignored for data_format "qm9".
        data_format: "qm9" (qm9pack, attnff.data.qm9: the fixed split, ``split`` giving sizes) or anything
            ase.io reads, with the targets in ``atoms.info`` (``split`` as for potentials).
        split: part sizes (QM9) or ranges / fractions (files: attnff.data.split_indices).
        seed: shuffle seed of fraction splits of files.
        targets: the target names every molecule must carry.
    """
    if data_format == "qm9":
        unknown = sorted(set(targets) - set(TARGETS))
        if unknown:
            raise ConfigError(f"QM9 has no target(s) {unknown}; available: {sorted(TARGETS)}")
        data = load_qm9()
        source = {"source": "qm9pack 1.0.3 (QM9, B3LYP/6-31G(2df,p))", "molecules": len(data.configs),
                  "excluded_failing_geometry_check": data.missing,
                  "split": "attnff.data.qm9.qm9_split: permutation default_rng(0) of QM9 index order; pools "
                           "110000 train / 10000 validation / 10831 test, first n of each pool"}
        return data.configs, qm9_split(len(data.configs), split), source
    configs = [c for path in paths for c in _read_xyz(path, targets)]
    source = {"source": ", ".join(Path(p).name for p in paths), "molecules": len(configs)}
    return configs, split_indices(len(configs), split, seed), source
