"""QM9 (Ramakrishnan et al., Sci. Data 1, 140022, 2014) from the ``qm9pack`` package into Configuration records.

``pip install "attnff[qm9]"`` installs qm9pack 1.0.3 (MIT, a 104 MB wheel): three CSV files with all 130,831
molecules that QM9 keeps (B3LYP/6-31G(2df,p) geometries and properties). The reader finds the CSV files
without importing qm9pack (its ``__init__`` needs ``pkg_resources``, gone from recent setuptools), parses
them once and keeps an ``.npz`` cache (``$ATTNFF_CACHE`` or ``~/.cache/attnff``), a few seconds to reload.

Units: every target is converted on reading (``TARGETS``): orbital energies and energies from Hartree to eV,
the dipole moment stays in Debye (``DEBYE_TO_E_ANGSTROM`` converts), the isotropic polarizability from bohr^3
to Angstrom^3, <R^2> from bohr^2 to Angstrom^2; Cv stays in cal/(mol K).

Known bad molecules: QM9 indexes 133,885 molecules; qm9pack leaves out the 3,054 whose relaxed geometry fails
QM9's consistency check (it does not reproduce the SMILES of the GDB-17 graph; ``uncharacterized.txt`` of
the QM9 release). ``load_qm9`` verifies that exactly that many indices are missing and reports it in
``QM9Data.missing``, so none of those molecules is ever used.

Split (fixed, documented, independent of the run's seed): the molecules sorted by QM9 index are permuted
with ``numpy.random.default_rng(SPLIT_SEED)``; the first 110,000 of the permutation are the training pool,
the next 10,000 the validation pool, the remaining 10,831 the test pool. A run with a smaller training set
takes the first k of its pool (``qm9_split``), so smaller training sets are nested in larger ones.
"""

import csv
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from ase import units
from ase.data import atomic_numbers

from ..errors import ConfigError
from .records import Configuration

__all__ = ["TARGETS", "DEBYE_TO_E_ANGSTROM", "POOLS", "SPLIT_SEED", "QM9Data", "Target", "load_qm9", "qm9_split",
           "read_qm9_csv", "qm9pack_data_dir"]

#: 1 Debye in e*Angstrom
DEBYE_TO_E_ANGSTROM = units.Debye
#: molecules QM9 indexes (1..133885) and how many of them qm9pack (and attnff) leave out
QM9_INDEXED, QM9_EXCLUDED = 133_885, 3_054
#: seed of the fixed permutation behind the split, and the sizes of the training and validation pools
SPLIT_SEED = 0
POOLS = {"train": 110_000, "validation": 10_000}


@dataclass(frozen=True)
class Target:
    """A QM9 column: its CSV name, the factor to attnff units, the unit, and whether it grows with size."""

    column: str
    factor: float
    unit: str
    extensive: bool


TARGETS: dict[str, Target] = {
    "homo": Target("HOMO_au", units.Hartree, "eV", False),
    "lumo": Target("LUMO_au", units.Hartree, "eV", False),
    "gap": Target("HOMO_LUMO_gap_au", units.Hartree, "eV", False),
    "dipole": Target("Dipole_debye", 1.0, "Debye", False),
    "polarizability": Target("Polarizability_bohr3", units.Bohr**3, "Angstrom^3", True),
    "r2": Target("R2_bohr2", units.Bohr**2, "Angstrom^2", True),
    "zpve": Target("ZPVE_au", units.Hartree, "eV", True),
    "u0": Target("InternalEnergy_0K_au", units.Hartree, "eV", True),
    "u": Target("InternalEnergy_298K_au", units.Hartree, "eV", True),
    "h": Target("Enthalphy_298K_au", units.Hartree, "eV", True),  # sic: qm9pack's column name
    "g": Target("GibbsFreeEnergy_298K_au", units.Hartree, "eV", True),
    "cv": Target("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/(mol K)", True),
}


@dataclass
class QM9Data:
    """Molecules in QM9 index order.

    Attributes:
        configs: one Configuration per molecule, ``properties`` holding every target of ``TARGETS``.
        index: (M,) QM9 index of each molecule (1-based, as in the ``dsgdb9nsd_NNNNNN.xyz`` names).
        missing: how many of QM9's 133,885 indices the source leaves out (3,054 for qm9pack: the molecules
            that fail the geometry consistency check).
    """

    configs: list[Configuration]
    index: np.ndarray
    missing: int


def qm9pack_data_dir() -> Path:
    """The folder of qm9pack's CSV files, found without importing qm9pack."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError('QM9 needs the qm9pack package: pip install "attnff[qm9]"')
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (folder / "qm9_part1.csv").is_file():
        raise ConfigError(f"qm9pack is installed but {folder} holds no qm9_part1.csv")
    return folder


def _symbols(text: str) -> list[str]:
    return [item.strip().strip("'\"") for item in text.strip("[]").split(",")]


def _floats(text: str) -> np.ndarray:
    """Numbers of a nested list written as text; qm9pack writes some as "0." (not JSON)."""
    return np.array([float(item) for item in text.replace("[", "").replace("]", "").split(",")])


def read_qm9_csv(paths: list[str | os.PathLike]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray],
                                                          dict[str, np.ndarray]]:
    """Parse qm9pack-style CSV files.

    Returns:
        index (M,), atomic numbers and positions (Angstrom) per molecule, and every target of ``TARGETS``
        as an (M,) array in attnff units.
    """
    index, numbers, positions = [], [], []
    values: dict[str, list[float]] = {name: [] for name in TARGETS}
    for path in paths:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                index.append(int(row["Index"]))
                numbers.append(np.array([atomic_numbers[s] for s in _symbols(row["Elements"])], dtype=np.int64))
                xyz = _floats(row["XYZ_Ang"]).reshape(-1, 3)
                if len(xyz) != len(numbers[-1]):
                    raise ConfigError(f"{path}: molecule {index[-1]} has {len(numbers[-1])} elements but "
                                      f"{len(xyz)} positions")
                positions.append(xyz)
                for name, target in TARGETS.items():
                    values[name].append(float(row[target.column]) * target.factor)
    return np.array(index), numbers, positions, {k: np.array(v) for k, v in values.items()}


def _cache_path() -> Path:
    root = Path(os.environ.get("ATTNFF_CACHE", Path.home() / ".cache" / "attnff"))
    return root / "qm9pack-1.0.3.npz"


def _arrays_from_qm9pack() -> dict[str, np.ndarray]:
    """qm9pack's molecules as flat arrays, read from the cache or parsed and cached."""
    cache = _cache_path()
    if cache.is_file():
        with np.load(cache) as stored:
            return dict(stored)
    folder = qm9pack_data_dir()
    index, numbers, positions, values = read_qm9_csv([folder / f"qm9_part{k}.csv" for k in (1, 2, 3)])
    arrays = {"index": index, "counts": np.array([len(n) for n in numbers]), "numbers": np.concatenate(numbers),
              "positions": np.concatenate(positions), **{f"target_{k}": v for k, v in values.items()}}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    save: Any = np.savez  # numpy's stub reads ** entries as its allow_pickle flag
    save(tmp, **arrays)
    os.replace(tmp, cache)
    return arrays


def records_from_arrays(arrays: dict[str, np.ndarray]) -> QM9Data:
    """QM9Data from flat arrays (``index``, ``counts``, ``numbers``, ``positions``, ``target_<name>``)."""
    order = np.argsort(arrays["index"], kind="stable")
    starts = np.concatenate([[0], np.cumsum(arrays["counts"])])
    configs = []
    for k in order:
        atoms = slice(starts[k], starts[k + 1])
        configs.append(Configuration(numbers=arrays["numbers"][atoms].copy(),
                                     positions=arrays["positions"][atoms].copy(),
                                     properties={name: float(arrays[f"target_{name}"][k]) for name in TARGETS}))
    index = arrays["index"][order]
    if len(np.unique(index)) != len(index):
        raise ConfigError("QM9 source lists a molecule index twice")
    return QM9Data(configs, index, QM9_INDEXED - len(index))


@lru_cache(maxsize=1)
def load_qm9() -> QM9Data:
    """All molecules of qm9pack in QM9 index order (cached in the process and on disk).

    Raises:
        ConfigError: qm9pack is not installed, or it holds other than the 130,831 molecules QM9 keeps.
    """
    data = records_from_arrays(_arrays_from_qm9pack())
    if data.missing != QM9_EXCLUDED:
        raise ConfigError(f"qm9pack leaves out {data.missing} of QM9's {QM9_INDEXED} molecules, not the "
                          f"{QM9_EXCLUDED} that fail the geometry consistency check; a changed qm9pack?")
    return data


def qm9_split(num_molecules: int, sizes: dict) -> dict[str, np.ndarray]:
    """Indices (into QM9 index order) of the fixed split, each part the first ``sizes[part]`` of its pool.

    Args:
        num_molecules: molecules in the data (130,831 for all of QM9; fewer for a test fixture, where the
            pools shrink in proportion).
        sizes: {"train": n, "validation": n, "test": n or "all"}; "all" (or a missing test) is the whole
            test pool.
    """
    unknown = sorted(set(sizes) - {"train", "validation", "test"})
    if unknown or "train" not in sizes or "validation" not in sizes:
        raise ConfigError(f"a QM9 data.split takes train, validation and test sizes, not {sorted(sizes)}")
    order = np.random.default_rng(SPLIT_SEED).permutation(num_molecules)
    fraction = num_molecules / (QM9_INDEXED - QM9_EXCLUDED)
    n_train = round(POOLS["train"] * fraction)
    n_val = round(POOLS["validation"] * fraction)
    pools = {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
             "test": order[n_train + n_val:]}
    out = {}
    for part, pool in pools.items():
        size = sizes.get(part, "all")
        if size == "all":
            size = len(pool)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= len(pool):
            raise ConfigError(f"data.split.{part} must be a count in 1..{len(pool)} (the {part} pool) or "
                              f"'all', not {size!r}")
        out[part] = pool[:size]
    return out
