"""Unit factors to attnff's internal units (eV, Angstrom), built on ``ase.units``."""

from ase import units as _ase

__all__ = ["ENERGY_UNITS", "LENGTH_UNITS", "AVOGADRO", "energy_factor", "length_factor", "density_g_cm3"]

#: Multiply a value in the named unit by this factor to get eV.
ENERGY_UNITS = {
    "eV": 1.0,
    "meV": 1e-3,
    "Hartree": _ase.Hartree,
    "Ha": _ase.Hartree,
    "kcal/mol": _ase.kcal / _ase.mol,
    "kJ/mol": _ase.kJ / _ase.mol,
    "Ry": _ase.Rydberg,
}

#: Multiply a value in the named unit by this factor to get Angstrom.
LENGTH_UNITS = {"Angstrom": 1.0, "A": 1.0, "Bohr": _ase.Bohr, "nm": 10.0}

#: Avogadro constant (1/mol), exact in the SI since 2019.
AVOGADRO = 6.02214076e23


def _lookup(table: dict, unit: str, kind: str) -> float:
    try:
        return table[unit]
    except KeyError:
        raise ValueError(f"unknown {kind} unit {unit!r}; known: {sorted(table)}") from None


def energy_factor(unit: str) -> float:
    """Factor converting energies in ``unit`` to eV."""
    return _lookup(ENERGY_UNITS, unit, "energy")


def length_factor(unit: str) -> float:
    """Factor converting lengths in ``unit`` to Angstrom."""
    return _lookup(LENGTH_UNITS, unit, "length")


def density_g_cm3(atoms) -> float:
    """Mass density of periodic ``atoms`` in g/cm3 (masses in g/mol, volume in Angstrom^3)."""
    return float(atoms.get_masses().sum() / AVOGADRO / (atoms.get_volume() * 1e-24))
