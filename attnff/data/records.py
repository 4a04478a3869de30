"""Configuration: the plain record between file readers and tensors (eV and Angstrom only)."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Configuration"]


@dataclass
class Configuration:
    """One labelled structure.

    Attributes:
        numbers: (N,) atomic numbers.
        positions: (N, 3) Angstrom.
        cell: (3, 3) Angstrom (zeros when not periodic).
        pbc: (3,) bool.
        energy: total energy in eV, or None.
        forces: (N, 3) eV/Angstrom, or None.
        stress: (3, 3) eV/Angstrom^3 (ASE sign), or None.
        dipole: (3,) e*Angstrom, or None.
        charge: net charge in e.
        multiplicity: 2S + 1.
        properties: per-structure scalar targets (HOMO, gap, ...) in attnff units (eV, Debye, Angstrom^3;
            attnff.data.qm9.TARGETS), for property models; empty for potentials.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, bool))
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    dipole: np.ndarray | None = None
    charge: int = 0
    multiplicity: int = 1
    properties: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.numbers)
