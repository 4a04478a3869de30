"""Checks at the boundary: a structure attnff can evaluate, and a possible charge/multiplicity."""

import numpy as np
from ase.data import chemical_symbols

from ..errors import ChargeSpinError, InvalidStructureError

__all__ = ["MAX_COORDINATE", "MIN_DISTANCE", "check_structure", "check_min_distance", "resolve_charge_spin",
           "default_multiplicity"]

#: Atoms closer than this (Angstrom) are treated as an error, not evaluated.
MIN_DISTANCE = 0.1
#: Angstrom: coordinates and cell vectors beyond this size are refused (1 cm; far beyond any simulation,
#: and safely inside the range where differences of coordinates keep their sub-Angstrom digits).
MAX_COORDINATE = 1.0e8


def _symbol(z: int) -> str:
    return chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"


def check_structure(numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                    species: tuple[int, ...] | None = None) -> None:
    """Raise InvalidStructureError for empty, unknown-element, non-finite or zero-volume input.

    Args:
        numbers: (N,) atomic numbers.
        positions: (N, 3) Angstrom.
        cell: (3, 3) Angstrom.
        pbc: (3,) bool.
        species: atomic numbers the potential knows (None: any real element).
    """
    if len(numbers) == 0:
        raise InvalidStructureError("the structure has no atoms")
    bad = sorted({int(z) for z in numbers if not 0 < int(z) < len(chemical_symbols)})
    if bad:
        raise InvalidStructureError(f"invalid atomic number(s) {bad}")
    if species is not None:
        unknown = sorted({int(z) for z in numbers} - set(species))
        if unknown:
            raise InvalidStructureError(
                f"element(s) {[_symbol(z) for z in unknown]} unknown to this potential, "
                f"which was trained on {[_symbol(z) for z in species]}"
            )
    if not np.isfinite(positions).all():
        rows = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        raise InvalidStructureError(f"non-finite (NaN or inf) positions for atom(s) {rows[:10].tolist()}")
    if np.abs(positions).max() > MAX_COORDINATE:
        rows = np.flatnonzero(np.abs(positions).max(axis=1) > MAX_COORDINATE)
        raise InvalidStructureError(f"atom(s) {rows[:10].tolist()} lie more than {MAX_COORDINATE:.0e} A from the "
                                    "origin: coordinates must be in Angstrom")
    if pbc.any():
        if not np.isfinite(cell).all():
            raise InvalidStructureError("the cell contains NaN or inf")
        if np.abs(cell[pbc]).max() > MAX_COORDINATE:
            raise InvalidStructureError(f"a periodic cell vector is longer than {MAX_COORDINATE:.0e} A")
        periodic = cell[pbc]
        gram = periodic @ periodic.T
        if np.linalg.det(gram) <= 1e-12 * max(np.trace(gram), 1.0) ** len(periodic):
            raise InvalidStructureError(
                f"the periodic cell vectors are degenerate (zero volume) for pbc={pbc.tolist()}"
            )


def check_min_distance(d_ij: np.ndarray, edge_index: np.ndarray, atom_index: np.ndarray | None = None) -> None:
    """Raise InvalidStructureError if any pair is closer than MIN_DISTANCE; d_ij (E,) Angstrom.

    ``atom_index`` (N,), if given, maps the edges' atom labels to the indices the message names.
    """
    if d_ij.size and d_ij.min() < MIN_DISTANCE:
        k = int(d_ij.argmin())
        i, j = edge_index[:, k] if atom_index is None else atom_index[edge_index[:, k]]
        i, j = int(i), int(j)
        raise InvalidStructureError(
            f"atoms {i} and {j} are {d_ij[k]:.3g} A apart (minimum {MIN_DISTANCE} A): overlapping atoms"
        )


def default_multiplicity(numbers: np.ndarray, charge: int) -> int:
    """Lowest multiplicity 2S + 1 consistent with the electron count (1 if even, 2 if odd)."""
    return 1 + (int(np.sum(numbers)) - charge) % 2


def resolve_charge_spin(numbers: np.ndarray, info: dict) -> tuple[int, int]:
    """Read ``info["charge"]`` and ``info["multiplicity"]``, validate, return (charge, multiplicity).

    Raises ChargeSpinError when the charge is not an integer, leaves fewer than
    zero electrons, or the multiplicity is below 1, above electrons + 1, or of
    the wrong parity for the electron count.
    """
    charge = info.get("charge", 0)
    if isinstance(charge, float) and charge.is_integer():
        charge = int(charge)
    if isinstance(charge, bool) or not isinstance(charge, (int, np.integer)):
        raise ChargeSpinError(f"atoms.info['charge'] must be an integer, got {charge!r}")
    charge = int(charge)
    electrons = int(np.sum(numbers)) - charge
    if electrons < 0:
        raise ChargeSpinError(f"charge {charge} leaves {electrons} electrons")
    multiplicity = info.get("multiplicity")
    if multiplicity is None:
        return charge, default_multiplicity(numbers, charge)
    if isinstance(multiplicity, float) and multiplicity.is_integer():
        multiplicity = int(multiplicity)
    if isinstance(multiplicity, bool) or not isinstance(multiplicity, (int, np.integer)):
        raise ChargeSpinError(f"atoms.info['multiplicity'] must be an integer 2S+1, got {multiplicity!r}")
    multiplicity = int(multiplicity)
    if multiplicity < 1:
        raise ChargeSpinError(f"multiplicity must be >= 1, got {multiplicity}")
    if multiplicity > electrons + 1:
        raise ChargeSpinError(
            f"multiplicity {multiplicity} needs at least {multiplicity - 1} unpaired electrons, "
            f"but charge {charge} leaves only {electrons}"
        )
    if (electrons - (multiplicity - 1)) % 2:
        raise ChargeSpinError(
            f"multiplicity {multiplicity} is impossible with {electrons} electrons (charge {charge}): "
            f"an {'even' if electrons % 2 == 0 else 'odd'} electron count needs an "
            f"{'odd' if electrons % 2 == 0 else 'even'} multiplicity"
        )
    return charge, multiplicity
