"""Ethylammonium nitrate (EAN) ions and ion-pair boxes for the ionic-liquid example."""

import numpy as np
from ase import Atoms
from ase.build import molecule

from .packing import pack_box

#: Experimental density of liquid EAN at 298 K (g/cm3).
EXPERIMENTAL_DENSITY = 1.21


def ethylammonium() -> Atoms:
    """[CH3CH2NH3]+: ethylamine from ASE's G2 set with a third H on N along the lone pair (N-H 1.03 A)."""
    amine = molecule("CH3CH2NH2")
    nitrogen = amine.get_chemical_symbols().index("N")
    bonds = amine.positions - amine.positions[nitrogen]
    lengths = np.linalg.norm(bonds, axis=1)
    neighbours = [i for i in range(len(amine)) if i != nitrogen and lengths[i] < 1.6]
    lone_pair = -sum(bonds[i] / lengths[i] for i in neighbours)
    lone_pair /= np.linalg.norm(lone_pair)
    return amine + Atoms("H", [amine.positions[nitrogen] + 1.03 * lone_pair])


def nitrate() -> Atoms:
    """[NO3]-: planar, N-O 1.25 A, 120 degrees."""
    angles = np.deg2rad([90.0, 210.0, 330.0])
    oxygens = [[1.25 * np.cos(a), 1.25 * np.sin(a), 0.0] for a in angles]
    return Atoms("NO3", [[0.0, 0.0, 0.0]] + oxygens)


def ion_pairs(pairs: int) -> list[Atoms]:
    """Cation, anion, cation, anion, ... for ``pairs`` ion pairs (neutral overall)."""
    if pairs < 1:
        raise ValueError(f"need at least one ion pair, got {pairs}")
    return [ethylammonium(), nitrate()] * pairs


def ean_box(pairs: int, density_g_cm3: float = EXPERIMENTAL_DENSITY, seed: int = 0) -> Atoms:
    """A periodic cubic box of ``pairs`` EAN ion pairs, ions at least 1.5 A apart, charge 0."""
    box = pack_box(ion_pairs(pairs), density_g_cm3, seed=seed)
    box.info.update(charge=0, multiplicity=1)
    return box


def neutral_cation_fraction(atoms: Atoms) -> float:
    """Fraction of the ethylammonium cations of an EAN configuration that have lost a proton (C2H7N).

    The proton sits on a nitrate or between N and O; counted by the molecules of the bond graph.
    """
    from ..analysis import molecule_ids

    labels = molecule_ids(atoms)
    formulas = [atoms[labels == label].get_chemical_formula() for label in np.unique(labels)]
    return formulas.count("C2H7N") / (len(atoms) // 15)
