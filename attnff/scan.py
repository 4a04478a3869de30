"""Potential energy scans along bonds, angles, dihedrals, a fragment separation, or a 2-D grid of two of them.

A rigid scan moves only the scanned coordinate: the atom that defines it
(``move="atom"``) or the whole fragment on that atom's side of the bond
(``move="fragment"``, found from ASE's covalent-radius connectivity of the
starting structure, ``build_neighbor_list``). A relaxed scan first sets the
coordinate the same way, then fixes it with ``ase.constraints.FixInternals``
and relaxes everything else with BFGS, starting each point from the previous
relaxed one; each point's convergence is recorded and non-converged points
are reported with a ``RuntimeWarning``, never dropped.

Geometry is taken from the positions as given, without the minimum-image
convention: in a periodic cell, keep the scanned atoms unwrapped (not split
across a cell boundary).

Every scan is run for each electronic state ``(charge, multiplicity)`` in
``states``, set through ``atoms.info["charge"]`` and ``atoms.info["multiplicity"]``;
a potential that cannot describe a state raises its ``ChargeSpinError`` before
any point is computed.

Coordinates are labelled ``bond_I_J_A`` (Angstrom), ``angle_I_J_K_deg``,
``dihedral_I_J_K_L_deg`` (degrees, ASE's sign convention: right-handed about
J -> K, 0 to 360) and ``com_distance_A`` (Angstrom); atom indices are 0-based.
"""

import csv
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixInternals
from ase.neighborlist import build_neighbor_list

from .data.validate import resolve_charge_spin

__all__ = ["ScanResult", "bond", "angle", "dihedral", "grid2d", "dissociation"]

State = tuple[int, int | None]
_TOLERANCE = 1e-5  # Angstrom or degrees: how exactly a rigid scan must hit its target


@dataclass
class ScanResult:
    """Energies of a 1-D or 2-D scan for one or more electronic states.

    Attributes:
        coordinates: one label per scanned coordinate (see the module docstring), e.g. ``["bond_0_1_A"]``.
        values: per coordinate, its (P_k,) target values, Angstrom or degrees.
        states: (charge, multiplicity) of each of the S states, multiplicity 2S + 1 made explicit.
        energies: (S, P_1) or (S, P_1, P_2) potential energies, eV.
        converged: bool array shaped like ``energies``; always True for rigid scans.
        relaxed: whether the other degrees of freedom were relaxed at each point.
        structures: object array shaped like ``energies`` holding each point's ``Atoms`` (energy and
            forces attached as a SinglePointCalculator), or None (e.g. read back from CSV).
    """

    coordinates: list[str]
    values: list[np.ndarray]
    states: list[tuple[int, int]]
    energies: np.ndarray
    converged: np.ndarray
    relaxed: bool = False
    structures: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape (P_1,) or (P_1, P_2), without the state axis."""
        return tuple(len(v) for v in self.values)

    def nonconverged(self) -> list[tuple[tuple[int, int], tuple[float, ...]]]:
        """Points whose relaxation did not converge, as (state, coordinate values) pairs."""
        return [(self.states[s], tuple(float(self.values[k][i]) for k, i in enumerate(index)))
                for s, *index in zip(*np.nonzero(~self.converged))]

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per state and point: coordinates, charge, multiplicity, energy_eV, converged (0/1)."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*self.coordinates, "charge", "multiplicity", "energy_eV", "converged"])
            for s, (charge, multiplicity) in enumerate(self.states):
                for index in np.ndindex(*self.shape):
                    point = [repr(float(self.values[k][i])) for k, i in enumerate(index)]
                    key = (s, *index)
                    writer.writerow([*point, charge, multiplicity, repr(float(self.energies[key])),
                                     int(self.converged[key])])

    @classmethod
    def from_csv(cls, path: str | os.PathLike, relaxed: bool = False) -> "ScanResult":
        """Read a file written by ``to_csv`` (without structures; grid axes must hold distinct values)."""
        with open(path, newline="") as handle:
            header, *rows = list(csv.reader(handle)) or [[]]
        n_coords = len(header) - 4
        if n_coords not in (1, 2) or header[n_coords:] != ["charge", "multiplicity", "energy_eV", "converged"]:
            raise ValueError(f"{path} is not a scan CSV (header {header})")
        if not rows:
            raise ValueError(f"{path} holds no scan points")
        states = list(dict.fromkeys((int(row[n_coords]), int(row[n_coords + 1])) for row in rows))
        per_state = len(rows) // len(states)
        first = np.array([row[:n_coords] for row in rows[:per_state]], dtype=float)  # (P, n_coords)
        if n_coords == 1:
            values = [first[:, 0]]
        else:
            values = [np.array(list(dict.fromkeys(first[:, k]))) for k in range(2)]
        shape = tuple(len(v) for v in values)
        if int(np.prod(shape)) * len(states) != len(rows):
            raise ValueError(f"{path}: {len(rows)} rows do not form a grid {shape} x {len(states)} states")
        energies = np.array([float(row[n_coords + 2]) for row in rows]).reshape(len(states), *shape)
        converged = np.array([row[n_coords + 3] == "1" for row in rows]).reshape(len(states), *shape)
        return cls(header[:n_coords], values, states, energies, converged, relaxed)


# --- coordinates -------------------------------------------------------------------------------------------------


def _rotate(positions: np.ndarray, origin: np.ndarray, axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate (M, 3) positions by angle_deg about ``axis`` (unit vector) through ``origin`` (Rodrigues)."""
    theta = np.radians(angle_deg)
    v = positions - origin
    cos, sin = np.cos(theta), np.sin(theta)
    return origin + v * cos + np.cross(axis, v) * sin + np.outer(v @ axis, axis) * (1 - cos)


def _side(atoms: Atoms, anchor: int, moving: int) -> np.ndarray:
    """Atoms connected to ``moving`` once the anchor-moving bond is cut (``moving`` included).

    Connectivity is ASE's default: covalent radii plus a 0.3 Angstrom skin
    (``build_neighbor_list``). Raises ValueError when the two are not bonded,
    or when ``anchor`` is still reachable (a ring), since then no fragment can
    move alone.
    """
    bonds = build_neighbor_list(atoms, self_interaction=False, bothways=True)
    neighbours = [set(bonds.get_neighbors(a)[0].tolist()) for a in range(len(atoms))]
    if anchor not in neighbours[moving]:
        raise ValueError(f"atoms {anchor} and {moving} are not bonded, so there is no fragment on {moving}'s side "
                         "of their bond; use move='atom'")
    seen, stack = {moving}, [moving]
    while stack:
        a = stack.pop()
        for b in neighbours[a]:
            if {a, b} == {anchor, moving} or b in seen:
                continue
            seen.add(b)
            stack.append(b)
    if anchor in seen:
        raise ValueError(
            f"atoms {anchor} and {moving} are also linked through other bonds (a ring), so the fragment "
            f"on {moving}'s side cannot move on its own; use move='atom' or a relaxed scan"
        )
    return np.array(sorted(seen))


class _Bond:
    """Distance i-j; moves atom j (or its fragment) along the i -> j axis."""

    def __init__(self, atoms: Atoms, indices: Sequence[int], move: str):
        self.i, self.j = indices
        self.label = f"bond_{self.i}_{self.j}_A"
        self.moving = _side(atoms, self.i, self.j) if move == "fragment" else np.array([self.j])

    def measure(self, atoms: Atoms) -> float:
        return float(np.linalg.norm(atoms.positions[self.j] - atoms.positions[self.i]))

    def set(self, atoms: Atoms, value: float) -> None:
        if value <= 0:
            raise ValueError(f"bond lengths must be positive, got {value}")
        axis = atoms.positions[self.j] - atoms.positions[self.i]
        atoms.positions[self.moving] += (value - np.linalg.norm(axis)) * axis / np.linalg.norm(axis)

    def constraint(self, value: float) -> dict:
        return {"bonds": [[value, [self.i, self.j]]]}


class _Angle:
    """Angle i-j-k at vertex j in degrees; rotates atom k (or its fragment) in the i-j-k plane about j."""

    def __init__(self, atoms: Atoms, indices: Sequence[int], move: str):
        self.i, self.j, self.k = indices
        self.label = f"angle_{self.i}_{self.j}_{self.k}_deg"
        self.moving = _side(atoms, self.j, self.k) if move == "fragment" else np.array([self.k])

    def measure(self, atoms: Atoms) -> float:
        return float(atoms.get_angle(self.i, self.j, self.k))

    def set(self, atoms: Atoms, value: float) -> None:
        if not 0.0 <= value <= 180.0:
            raise ValueError(f"angles must lie in [0, 180] degrees, got {value}")
        a = atoms.positions[self.i] - atoms.positions[self.j]
        b = atoms.positions[self.k] - atoms.positions[self.j]
        normal = np.cross(a, b)
        if np.linalg.norm(normal) < 1e-8 * np.linalg.norm(a) * np.linalg.norm(b):  # linear: any perpendicular
            normal = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])
        # rotating b about a x b by +delta opens the angle by delta
        atoms.positions[self.moving] = _rotate(atoms.positions[self.moving], atoms.positions[self.j],
                                               normal / np.linalg.norm(normal), value - self.measure(atoms))

    def constraint(self, value: float) -> dict:
        return {"angles_deg": [[value, [self.i, self.j, self.k]]]}


class _Dihedral:
    """Dihedral i-j-k-l in degrees; rotates atom l (or the fragment on k's side of j-k) about the j-k axis."""

    def __init__(self, atoms: Atoms, indices: Sequence[int], move: str):
        self.i, self.j, self.k, self.l = indices
        self.label = f"dihedral_{self.i}_{self.j}_{self.k}_{self.l}_deg"
        if move == "fragment":
            self.moving = np.setdiff1d(_side(atoms, self.j, self.k), [self.k])
            if self.l not in self.moving:
                raise ValueError(f"atom {self.l} is not bonded on atom {self.k}'s side of the {self.j}-{self.k} "
                                 f"bond, so rotating that fragment does not change dihedral {list(indices)}")
        else:
            self.moving = np.array([self.l])

    def measure(self, atoms: Atoms) -> float:
        return float(atoms.get_dihedral(self.i, self.j, self.k, self.l))

    def set(self, atoms: Atoms, value: float) -> None:
        axis = atoms.positions[self.k] - atoms.positions[self.j]
        delta = (value - self.measure(atoms) + 180.0) % 360.0 - 180.0
        # ASE's dihedral grows with a right-handed rotation of l about j -> k
        atoms.positions[self.moving] = _rotate(atoms.positions[self.moving], atoms.positions[self.k],
                                               axis / np.linalg.norm(axis), delta)

    def constraint(self, value: float) -> dict:
        return {"dihedrals_deg": [[value, [self.i, self.j, self.k, self.l]]]}


class _ComDistance:
    """Distance between the centres of mass of fragment A and of the other atoms B; moves B rigidly."""

    label = "com_distance_A"

    def __init__(self, atoms: Atoms, fragment_a: Sequence[int]):
        a = np.unique(np.asarray(fragment_a, dtype=int))
        if a.size == 0 or a.min() < 0 or a.max() >= len(atoms):
            raise ValueError(f"fragment_a must hold atom indices in 0..{len(atoms) - 1}, got {list(fragment_a)}")
        self.a, self.b = a, np.setdiff1d(np.arange(len(atoms)), a)
        if self.b.size == 0:
            raise ValueError("fragment_a holds every atom; fragment B (the rest) would be empty")

    def _com(self, atoms: Atoms, indices: np.ndarray) -> np.ndarray:
        masses = atoms.get_masses()[indices]
        return masses @ atoms.positions[indices] / masses.sum()

    def measure(self, atoms: Atoms) -> float:
        return float(np.linalg.norm(self._com(atoms, self.b) - self._com(atoms, self.a)))

    def set(self, atoms: Atoms, value: float) -> None:
        if value <= 0:
            raise ValueError(f"centre-of-mass distances must be positive, got {value}")
        axis = self._com(atoms, self.b) - self._com(atoms, self.a)
        if np.linalg.norm(axis) < 1e-6:
            raise ValueError("the two fragments' centres of mass coincide; the separation axis is undefined")
        atoms.positions[self.b] += (value - np.linalg.norm(axis)) * axis / np.linalg.norm(axis)

    def constraint(self, value: float) -> dict:
        raise ValueError("relaxed scans of a centre-of-mass distance are not supported; scan it rigidly")


def _coordinate(atoms: Atoms, indices: Sequence[int], move: str):
    """Bond, angle or dihedral from 2, 3 or 4 distinct atom indices."""
    indices = [int(x) for x in indices]
    if move not in ("atom", "fragment"):
        raise ValueError(f"move must be 'atom' or 'fragment', got {move!r}")
    if len(set(indices)) != len(indices) or not all(0 <= x < len(atoms) for x in indices):
        raise ValueError(f"atom indices must be distinct and in 0..{len(atoms) - 1}, got {indices}")
    kinds = {2: _Bond, 3: _Angle, 4: _Dihedral}
    if len(indices) not in kinds:
        raise ValueError(f"a coordinate has 2 (bond), 3 (angle) or 4 (dihedral) atoms, got {indices}")
    return kinds[len(indices)](atoms, indices, move)


# --- scanning ------------------------------------------------------------------------------------------------------


def _states(atoms: Atoms, states: Sequence[State] | None) -> list[tuple[int, int]]:
    """Explicit (charge, multiplicity) pairs; None: the state in atoms.info; multiplicity None: the lowest.

    Raises ChargeSpinError for an impossible state (wrong parity, too few electrons, non-integer).
    """
    if states is None:
        states = [(atoms.info.get("charge", 0), atoms.info.get("multiplicity"))]
    if len(states) == 0:
        raise ValueError("states is empty")
    explicit = [resolve_charge_spin(atoms.numbers, {"charge": charge, "multiplicity": multiplicity})
                for charge, multiplicity in states]
    if len(set(explicit)) != len(explicit):
        raise ValueError(f"states {list(states)} name the same (charge, multiplicity) twice: {explicit}")
    return explicit


def _set_all(atoms: Atoms, coordinates: list, targets: tuple[float, ...], strict: bool) -> None:
    """Set every coordinate to its target; repeat while setting one disturbs another."""
    for _ in range(20):
        for coordinate, target in zip(coordinates, targets):
            coordinate.set(atoms, target)
        errors = [_difference(c, c.measure(atoms), t) for c, t in zip(coordinates, targets)]
        if max(errors) < _TOLERANCE:
            return
    if strict:
        raise ValueError(
            f"could not set {[c.label for c in coordinates]} to {list(targets)} rigidly: moving the atoms of "
            "one coordinate changes the other; choose coordinates whose moving atoms are independent, or relax=True"
        )


def _difference(coordinate, a: float, b: float) -> float:
    """|a - b|, periodic over 360 degrees for dihedrals."""
    if isinstance(coordinate, _Dihedral):
        return abs((a - b + 180.0) % 360.0 - 180.0)
    return abs(a - b)


def _snapshot(atoms: Atoms, constraints: list) -> Atoms:
    """A copy with the original constraints and the computed energy and (unconstrained) forces attached."""
    copy = atoms.copy()
    copy.set_constraint([c.copy() for c in constraints])
    forces = atoms.get_forces(apply_constraint=False)  # including the force along the scanned coordinate
    copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(), forces=forces)
    return copy


def _relax(atoms: Atoms, coordinates: list, targets: tuple[float, ...], constraints: list, fmax: float,
           steps: int) -> bool:
    """BFGS with the scanned coordinates fixed at their targets (plus the structure's own constraints).

    Returns:
        Whether the largest remaining force dropped below ``fmax`` (eV/Angstrom) within ``steps`` steps.
    """
    from ase.optimize import BFGS

    fixed: dict[str, list] = {}
    for coordinate, target in zip(coordinates, targets):
        for key, entries in coordinate.constraint(target).items():
            fixed.setdefault(key, []).extend(entries)
    atoms.set_constraint([*(c.copy() for c in constraints), FixInternals(**fixed)])
    return bool(BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps))


def _run(atoms: Atoms, calc: Calculator, coordinates: list, grids: list[np.ndarray],
         states: Sequence[State] | None, relax: bool, fmax: float, steps: int) -> ScanResult:
    """Scan ``coordinates`` over the product of ``grids`` for each state; the engine of every public scan."""
    grids = [np.atleast_1d(np.asarray(g, dtype=float)) for g in grids]
    if any(g.ndim != 1 or g.size == 0 or not np.isfinite(g).all() for g in grids):
        raise ValueError("scan values must be non-empty 1-D sequences of finite numbers")
    explicit = _states(atoms, states)
    shape = tuple(g.size for g in grids)
    energies = np.empty((len(explicit), *shape))
    converged = np.ones((len(explicit), *shape), dtype=bool)
    structures = np.empty((len(explicit), *shape), dtype=object)
    constraints = list(atoms.constraints)

    def start(charge: int, multiplicity: int) -> Atoms:
        work = atoms.copy()
        work.info.update(charge=charge, multiplicity=multiplicity)
        work.calc = calc
        return work

    for charge, multiplicity in explicit:  # a refused state fails here, before any point is computed
        start(charge, multiplicity).get_potential_energy()

    for s, (charge, multiplicity) in enumerate(explicit):
        relaxed: dict[tuple[int, ...], Atoms] = {}
        for index in np.ndindex(*shape):
            targets = tuple(float(g[i]) for g, i in zip(grids, index))
            work = start(charge, multiplicity)
            nonzero = [k for k, i in enumerate(index) if i > 0]
            if relax and nonzero:  # continue from the previous point along the last axis that moved
                previous = list(index)
                previous[nonzero[-1]] -= 1
                work.positions = relaxed[tuple(previous)].positions
            _set_all(work, coordinates, targets, strict=not relax)
            key = (s, *index)
            if relax:
                converged[key] = _relax(work, coordinates, targets, constraints, fmax, steps)
                relaxed[index] = work
            energies[key] = work.get_potential_energy()
            structures[key] = _snapshot(work, constraints)

    result = ScanResult([c.label for c in coordinates], grids, explicit, energies, converged, relax, structures)
    missed = result.nonconverged()
    if missed:
        points = "; ".join(
            f"state {state} at " + ", ".join(f"{label}={value:.6g}" for label, value in zip(result.coordinates, values))
            for state, values in missed
        )
        warnings.warn(f"relaxation did not converge to fmax={fmax} eV/A within {steps} steps at "
                      f"{len(missed)} of {converged.size} points: {points}", RuntimeWarning, stacklevel=3)
    return result


def bond(atoms: Atoms, calc: Calculator, i: int, j: int, distances: Sequence[float],
         states: Sequence[State] | None = None, relax: bool = False, move: str = "atom",
         fmax: float = 0.02, steps: int = 200) -> ScanResult:
    """Energy along the distance between atoms i and j.

    Args:
        atoms: starting structure (not modified).
        calc: ASE calculator, e.g. an ``AttnCalculator``.
        i: fixed atom, 0-based.
        j: moved atom, 0-based; moves along the i -> j axis.
        distances: (P,) target i-j distances, Angstrom.
        states: (charge, multiplicity) pairs, multiplicity None for the lowest one; default the state
            in ``atoms.info``.
        relax: relax all other degrees of freedom at each point (BFGS with the distance fixed).
        move: "atom" moves j alone; "fragment" moves every atom bonded to j's side of the i-j bond.
        fmax: relaxation force threshold, eV/Angstrom.
        steps: maximum BFGS steps per point.

    Returns:
        ScanResult with energies (S, P) in eV.
    """
    return _run(atoms, calc, [_coordinate(atoms, (i, j), move)], [distances], states, relax, fmax, steps)


def angle(atoms: Atoms, calc: Calculator, i: int, j: int, k: int, angles: Sequence[float],
          states: Sequence[State] | None = None, relax: bool = False, move: str = "atom",
          fmax: float = 0.02, steps: int = 200) -> ScanResult:
    """Energy along the angle i-j-k (vertex j); k (or its fragment, ``move="fragment"``) rotates about j.

    Args:
        angles: (P,) target angles, degrees in [0, 180].
        Others: as for ``bond``.

    Returns:
        ScanResult with energies (S, P) in eV.
    """
    return _run(atoms, calc, [_coordinate(atoms, (i, j, k), move)], [angles], states, relax, fmax, steps)


def dihedral(atoms: Atoms, calc: Calculator, i: int, j: int, k: int, l: int, angles: Sequence[float],  # noqa: E741
             states: Sequence[State] | None = None, relax: bool = False, move: str = "atom",
             fmax: float = 0.02, steps: int = 200) -> ScanResult:
    """Energy along the dihedral i-j-k-l; l (or, ``move="fragment"``, everything on k's side) turns about j-k.

    Args:
        angles: (P,) target dihedrals, degrees (ASE's convention; any real value, read modulo 360).
        Others: as for ``bond``.

    Returns:
        ScanResult with energies (S, P) in eV.
    """
    return _run(atoms, calc, [_coordinate(atoms, (i, j, k, l), move)], [angles], states, relax, fmax, steps)


def grid2d(atoms: Atoms, calc: Calculator, first: Sequence[int], first_values: Sequence[float],
           second: Sequence[int], second_values: Sequence[float], states: Sequence[State] | None = None,
           relax: bool = False, move: str = "atom", fmax: float = 0.02, steps: int = 200) -> ScanResult:
    """Energy on the grid of two coordinates, each a bond (2 indices), angle (3) or dihedral (4).

    Example: ``grid2d(atoms, calc, (0, 1), np.linspace(1.0, 1.6, 7), (0, 1, 2), np.arange(90, 181, 10))``.
    The first coordinate is set before the second; in a rigid scan, coordinates whose moving atoms
    disturb each other are an error.

    Args:
        first: atom indices of the first coordinate.
        first_values: (P_1,) its targets, Angstrom or degrees.
        second: atom indices of the second coordinate.
        second_values: (P_2,) its targets.
        Others: as for ``bond``; a relaxed grid continues each point from its neighbour along the second axis
            (from the previous row at a row's start).

    Returns:
        ScanResult with energies (S, P_1, P_2) in eV.
    """
    coordinates = [_coordinate(atoms, first, move), _coordinate(atoms, second, move)]
    return _run(atoms, calc, coordinates, [first_values, second_values], states, relax, fmax, steps)


def dissociation(atoms: Atoms, calc: Calculator, fragment_a_indices: Sequence[int], distances: Sequence[float],
                 states: Sequence[State] | None = None) -> ScanResult:
    """Rigid dissociation curve: fragment B (all atoms not in A) moves along the centre-of-mass axis.

    Both fragments keep their internal geometry; B is translated along the line
    from A's centre of mass to B's until the two are ``distance`` apart.

    Args:
        atoms: starting structure (not modified).
        calc: ASE calculator.
        fragment_a_indices: atom indices of fragment A, which stays in place.
        distances: (P,) centre-of-mass separations, Angstrom.
        states: as for ``bond``, e.g. ``[(0, 1), (0, 3)]`` for singlet and triplet.

    Returns:
        ScanResult with energies (S, P) in eV and coordinate ``com_distance_A``.
    """
    return _run(atoms, calc, [_ComDistance(atoms, fragment_a_indices)], [distances], states, False, 0.0, 0)
