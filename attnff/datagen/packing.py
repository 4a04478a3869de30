"""Random packing of rigid molecules into a periodic cubic box at a given density."""

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from ..units import AVOGADRO

__all__ = ["box_length", "pack_box"]


def box_length(molecules: list[Atoms], density_g_cm3: float) -> float:
    """Edge (Angstrom) of the cubic box holding ``molecules`` at ``density_g_cm3``."""
    if density_g_cm3 <= 0:
        raise ValueError(f"density must be positive, got {density_g_cm3} g/cm3")
    mass_g = sum(m.get_masses().sum() for m in molecules) / AVOGADRO
    return float((mass_g / density_g_cm3 * 1e24) ** (1.0 / 3.0))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed 3x3 rotation matrix (from a random unit quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pack_box(molecules: list[Atoms], density_g_cm3: float, seed: int, min_distance: float = 1.5,
             tries_per_molecule: int = 20000) -> Atoms:
    """Insert ``molecules`` one by one at random positions and orientations into a cubic periodic box.

    Args:
        molecules: the molecules to place, in insertion order (each keeps its geometry).
        density_g_cm3: mass density that sets the box edge.
        seed: random seed; the same seed gives the same box.
        min_distance: smallest allowed distance (Angstrom) between atoms of different molecules,
            measured with the minimum-image convention.
        tries_per_molecule: random placements tried before giving up.

    Returns:
        Atoms with a cubic cell, pbc=True, wrapped positions and an integer array "molecule_id".

    Raises:
        ValueError: if a molecule finds no place; lower the density or ``min_distance``.
    """
    rng = np.random.default_rng(seed)
    edge = box_length(molecules, density_g_cm3)
    box = Atoms(cell=[edge, edge, edge], pbc=True)
    molecule_id: list[int] = []
    for index, molecule in enumerate(molecules):
        centred = molecule.positions - molecule.get_center_of_mass()
        for _ in range(tries_per_molecule):
            trial = centred @ _random_rotation(rng).T + rng.random(3) * edge
            if len(box) == 0:
                break
            _, distances = get_distances(trial, box.positions, cell=box.cell, pbc=True)
            if distances.min() > min_distance:
                break
        else:
            raise ValueError(f"could not place molecule {index} ({molecule.get_chemical_formula()}) at "
                             f"{density_g_cm3} g/cm3 with atoms at least {min_distance} A apart")
        box += Atoms(molecule.numbers, trial)
        molecule_id += [index] * len(molecule)
    box.set_array("molecule_id", np.array(molecule_id))
    box.wrap()
    return box
