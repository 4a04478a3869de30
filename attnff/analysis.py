"""Trajectory analysis: radial distribution functions and a check that molecules stay intact."""

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from ase.geometry import get_distances
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["molecule_ids", "element_pair", "broken_molecule_frames", "rdf", "rdf_radius_limit", "select"]


def molecule_ids(atoms: Atoms, bond_factor: float = 1.2, labile: Sequence[str] = ()) -> np.ndarray:
    """Molecule index of every atom, shape (N,): connected components of the bond graph.

    Two atoms are bonded when closer than ``bond_factor`` times the sum of their
    covalent radii (ASE's ``natural_cutoffs``), with the minimum image in periodic cells.
    Bonds between the element pairs in ``labile`` (e.g. ``("N-H", "O-H")``, exchangeable
    protons) are left out of the graph.
    """
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=bond_factor))
    if labile:
        numbers = atoms.numbers
        left_out = np.zeros(len(i), bool)
        for pair in labile:
            a, b = (atomic_numbers[symbol] for symbol in element_pair(pair))
            left_out |= ((numbers[i] == a) & (numbers[j] == b)) | ((numbers[i] == b) & (numbers[j] == a))
        i, j = i[~left_out], j[~left_out]
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms), len(atoms)))
    _, labels = connected_components(graph, directed=False)
    return labels


def element_pair(pair: str) -> tuple[str, str]:
    """"N-H" -> ("N", "H"); ValueError for anything that is not two element symbols."""
    parts = pair.split("-")
    if len(parts) != 2 or not all(part in chemical_symbols[1:] for part in parts):
        raise ValueError(f"{pair!r} is not an element pair such as N-H")
    return parts[0], parts[1]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings split the atoms into the same groups (label values may differ)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def broken_molecule_frames(frames: Sequence[Atoms], bond_factor: float = 1.2,
                           labile: Sequence[str] = ()) -> list[int]:
    """Indices of frames whose molecules differ from those of frame 0 (a bond broken or formed).

    Bonds between the element pairs in ``labile`` are not checked (see ``molecule_ids``).
    """
    reference = molecule_ids(frames[0], bond_factor, labile)
    return [k for k, frame in enumerate(frames)
            if not _same_partition(reference, molecule_ids(frame, bond_factor, labile))]


def select(atoms: Atoms, element: str, formula: str | None = None, bond_factor: float = 1.2) -> np.ndarray:
    """Indices of atoms of ``element``, optionally only in molecules of chemical ``formula`` (e.g. "NO3")."""
    indices = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == element)
    if formula is None:
        return indices
    labels = molecule_ids(atoms, bond_factor)
    keep = [i for i in indices if atoms[labels == labels[i]].get_chemical_formula() == formula]
    return np.array(keep, dtype=int)


def rdf_radius_limit(frames: Sequence[Atoms]) -> float:
    """Largest r_max (Angstrom) an RDF over ``frames`` may use: half the shortest cell height."""
    return 0.5 * min(frame.cell.volume / np.linalg.norm(np.cross(frame.cell[(k + 1) % 3], frame.cell[(k + 2) % 3]))
                     for frame in frames for k in range(3))


def rdf(frames: Sequence[Atoms], group_a: Sequence[int], group_b: Sequence[int], r_max: float,
        bins: int = 200, exclude_same_molecule: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g_ab(r) averaged over periodic frames.

    Args:
        frames: periodic structures with the same atoms (a trajectory; cells may differ, as under NPT).
        group_a, group_b: atom indices of the two sites (may overlap, e.g. O-O).
        r_max: largest distance, Angstrom; at most half the shortest cell height of every frame.
        bins: number of histogram bins.
        exclude_same_molecule: leave out pairs within one molecule (molecules from frame 0's bonds).

    Returns:
        (r, g): bin centres in Angstrom and g(r), each of shape (bins,). g -> 1 for an ideal gas.
    """
    group_a, group_b = np.asarray(group_a, dtype=int), np.asarray(group_b, dtype=int)
    if len(group_a) == 0 or len(group_b) == 0:
        raise ValueError("rdf needs atoms in both groups")
    limit = rdf_radius_limit(frames)
    if r_max > limit + 1e-9:
        raise ValueError(f"r_max {r_max} A exceeds half the shortest cell height ({limit:.2f} A)")
    molecule = molecule_ids(frames[0])
    valid = group_a[:, None] != group_b[None, :]
    if exclude_same_molecule:
        valid &= molecule[group_a][:, None] != molecule[group_b][None, :]
    if not valid.any():
        raise ValueError("rdf: no atom pairs left between the groups (all in one molecule?)")
    edges = np.linspace(0.0, r_max, bins + 1)
    counts = np.zeros(bins)
    pair_density = 0.0
    for frame in frames:
        _, distances = get_distances(frame.positions[group_a], frame.positions[group_b], cell=frame.cell, pbc=True)
        counts += np.histogram(distances[valid], bins=edges)[0]
        pair_density += valid.sum() / frame.get_volume()
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    return 0.5 * (edges[1:] + edges[:-1]), counts / (shell * pair_density)
