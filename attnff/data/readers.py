"""Readers from training files to Configuration records in eV and Angstrom.

Formats: extxyz (and anything ase.io reads), ASE database, MD17-style npz,
ANI-style HDF5. Units of the file are declared by the caller and converted here.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..units import energy_factor, length_factor
from .records import Configuration
from .validate import default_multiplicity, resolve_charge_spin

__all__ = ["DataSpec", "read_configurations", "FORMATS"]

FORMATS = ("extxyz", "db", "npz", "hdf5")


@dataclass(frozen=True)
class DataSpec:
    """Where training data lives and how to read it.

    Attributes:
        path: file path (relative paths are taken from the config file's folder).
        format: "extxyz", "db", "npz", "hdf5", or "auto" (by file ending).
        energy_unit, length_unit: units in the file ("eV", "kcal/mol", "Hartree"; "Angstrom", "Bohr").
        energy_key, forces_key, stress_key, dipole_key: where to find labels (npz array names,
            db data keys, extxyz info/arrays names); None uses the format's default.
        spin_key: key holding the spin quantum number S (db data), if any.
    """

    path: str
    format: str = "auto"
    energy_unit: str = "eV"
    length_unit: str = "Angstrom"
    energy_key: str | None = None
    forces_key: str | None = None
    stress_key: str | None = None
    spin_key: str | None = None
    dipole_key: str | None = None


def _format(spec: DataSpec) -> str:
    if spec.format != "auto":
        if spec.format not in FORMATS:
            raise ConfigError(f"unknown data format {spec.format!r}; known: {FORMATS}")
        return spec.format
    suffix = Path(spec.path).suffix.lower()
    by_suffix = {".xyz": "extxyz", ".extxyz": "extxyz", ".db": "db", ".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5"}
    if suffix not in by_suffix:
        raise ConfigError(f"cannot guess the format of {spec.path!r}; set data.format to one of {FORMATS}")
    return by_suffix[suffix]


def read_configurations(spec: DataSpec) -> list[Configuration]:
    """Read every configuration of the file described by ``spec``, converted to eV and Angstrom."""
    if not Path(spec.path).is_file():
        raise FileNotFoundError(f"training data file {spec.path!r} not found")
    reader = {"extxyz": _read_ase, "db": _read_db, "npz": _read_npz, "hdf5": _read_hdf5}[_format(spec)]
    configs = reader(spec, energy_factor(spec.energy_unit), length_factor(spec.length_unit))
    if not configs:
        raise ConfigError(f"no configurations in {spec.path!r}")
    return configs


def _charge_multiplicity(numbers: np.ndarray, info: dict, spin: float | None = None) -> tuple[int, int]:
    """Validated (charge, multiplicity) from info, or from a spin quantum number S when given."""
    info = {k: info[k] for k in ("charge", "multiplicity") if k in info}
    if spin is not None:
        info["multiplicity"] = 2 * spin + 1
    return resolve_charge_spin(numbers, info)


def _from_atoms(atoms, labels: dict, e_unit, l_unit, spin=None) -> Configuration:
    """A Configuration from Atoms and raw labels {"energy", "forces", "stress", "dipole"} in file units."""
    charge, multiplicity = _charge_multiplicity(atoms.numbers, atoms.info, spin)
    energy, forces, stress, dipole = (labels.get(k) for k in ("energy", "forces", "stress", "dipole"))
    return Configuration(
        numbers=atoms.numbers.copy(),
        positions=atoms.positions * l_unit,
        cell=np.asarray(atoms.cell.array) * l_unit,
        pbc=np.asarray(atoms.pbc, bool).copy(),
        energy=None if energy is None else float(np.ravel(energy)[0]) * e_unit,
        forces=None if forces is None else np.asarray(forces, float).reshape(-1, 3) * e_unit / l_unit,
        stress=None if stress is None else _stress_3x3(stress) * e_unit / l_unit**3,
        dipole=None if dipole is None else np.asarray(dipole, float).reshape(3) * l_unit,
        charge=charge,
        multiplicity=multiplicity,
    )


def _stress_3x3(stress) -> np.ndarray:
    from ase.stress import voigt_6_to_full_3x3_stress

    stress = np.asarray(stress, float)
    return voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)


def _read_ase(spec, e_unit, l_unit) -> list[Configuration]:
    import ase.io

    configs = []
    for atoms in ase.io.read(spec.path, index=":"):
        results = atoms.calc.results if atoms.calc is not None else {}
        pick = lambda key, default, store, results=results: (  # noqa: E731
            store.get(key) if key is not None else results.get(default, store.get(default)))
        labels = {"energy": pick(spec.energy_key, "energy", atoms.info),
                  "forces": pick(spec.forces_key, "forces", atoms.arrays),
                  "stress": pick(spec.stress_key, "stress", atoms.info),
                  "dipole": pick(spec.dipole_key, "dipole", atoms.info)}
        configs.append(_from_atoms(atoms, labels, e_unit, l_unit))
    return configs


def _read_db(spec, e_unit, l_unit) -> list[Configuration]:
    from ase.db import connect

    configs = []
    with connect(spec.path) as db:
        for row in db.select():
            atoms = row.toatoms()
            data = row.data or {}
            label = lambda key, default, data=data, row=row: (  # noqa: E731
                data.get(key, row.get(key)) if key is not None else row.get(default, data.get(default)))
            spin = data.get(spec.spin_key, row.get(spec.spin_key)) if spec.spin_key else None
            atoms.info.update(row.key_value_pairs)
            labels = {"energy": label(spec.energy_key, "energy"), "forces": label(spec.forces_key, "forces"),
                      "stress": label(spec.stress_key, "stress"), "dipole": label(spec.dipole_key, "dipole")}
            configs.append(_from_atoms(atoms, labels, e_unit, l_unit,
                                       None if spin is None else float(np.ravel(spin)[0])))
    return configs


def _read_npz(spec, e_unit, l_unit) -> list[Configuration]:
    data = np.load(spec.path, allow_pickle=False)
    missing = [k for k in ("R", "z") if k not in data]
    if missing:
        raise ConfigError(f"{spec.path}: npz needs arrays 'R' (positions) and 'z' (numbers); missing {missing}")
    positions, numbers = data["R"], data["z"].astype(np.int64)
    energies = data[spec.energy_key or "E"] if (spec.energy_key or "E") in data else None
    forces = data[spec.forces_key or "F"] if (spec.forces_key or "F") in data else None
    dipoles = data[spec.dipole_key or "D"] if (spec.dipole_key or "D") in data else None
    charge, multiplicity = 0, default_multiplicity(numbers, 0)
    return [
        Configuration(
            numbers=numbers, positions=positions[k] * l_unit,
            energy=None if energies is None else float(np.ravel(energies[k])[0]) * e_unit,
            forces=None if forces is None else forces[k] * e_unit / l_unit,
            dipole=None if dipoles is None else dipoles[k].reshape(3) * l_unit,
            charge=charge, multiplicity=multiplicity,
        )
        for k in range(len(positions))
    ]


def _read_hdf5(spec, e_unit, l_unit) -> list[Configuration]:
    """ANI layout: groups holding 'coordinates' (M, N, 3), 'energies' (M,), 'species' (N,) symbols,
    and optionally forces (M, N, 3) under ``forces_key`` (default 'forces')."""
    import h5py
    from ase.data import atomic_numbers

    energy_key = spec.energy_key or "energies"
    forces_key = spec.forces_key or "forces"
    configs: list[Configuration] = []

    def visit(name, group):
        if not isinstance(group, h5py.Group) or "coordinates" not in group or energy_key not in group:
            return
        symbols = [s.decode() if isinstance(s, bytes) else str(s) for s in group["species"][()]]
        numbers = np.array([atomic_numbers[s] for s in symbols], dtype=np.int64)
        multiplicity = default_multiplicity(numbers, 0)
        coordinates, energies = group["coordinates"][()], group[energy_key][()]
        forces = group[forces_key][()] * (e_unit / l_unit) if forces_key in group else [None] * len(energies)
        for coords, energy, force in zip(coordinates, energies, forces):
            configs.append(Configuration(numbers=numbers, positions=coords * l_unit, energy=float(energy) * e_unit,
                                         forces=force, multiplicity=multiplicity))

    with h5py.File(spec.path, "r") as handle:
        handle.visititems(visit)
    return configs
