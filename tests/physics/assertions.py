"""The physics assertions every attnff potential must pass, used by the battery over all models."""

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

TOL = {"energy": 1e-9, "forces": 1e-8}


def energy_forces(atoms: Atoms, calc) -> tuple[float, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces()


def assert_invariances(atoms: Atoms, calc, seed: int = 0) -> None:
    """E invariant and F equivariant under rotation, translation and permutation (float64)."""
    e0, f0 = energy_forces(atoms, calc)
    rotation = Rotation.random(random_state=seed).as_matrix()
    moved = atoms.copy()
    moved.positions = atoms.positions @ rotation.T + np.array([1.3, -2.1, 0.7])
    if atoms.pbc.any():
        moved.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    e1, f1 = energy_forces(moved, calc)
    np.testing.assert_allclose(e1, e0, atol=TOL["energy"], rtol=0)
    np.testing.assert_allclose(f1, f0 @ rotation.T, atol=TOL["forces"], rtol=0)
    order = np.random.default_rng(seed).permutation(len(atoms))
    e2, f2 = energy_forces(atoms[order], calc)
    np.testing.assert_allclose(e2, e0, atol=TOL["energy"], rtol=0)
    np.testing.assert_allclose(f2, f0[order], atol=TOL["forces"], rtol=0)


def assert_forces_match_finite_differences(atoms: Atoms, calc, h: float = 1e-5, atol: float = 1e-6) -> None:
    """F = -dE/dr by central differences."""
    _, forces = energy_forces(atoms, calc)
    numeric = np.zeros_like(forces)
    for i in range(len(atoms)):
        for k in range(3):
            shifted = atoms.copy()
            shifted.positions[i, k] += h
            e_plus, _ = energy_forces(shifted, calc)
            shifted.positions[i, k] -= 2 * h
            e_minus, _ = energy_forces(shifted, calc)
            numeric[i, k] = -(e_plus - e_minus) / (2 * h)
    np.testing.assert_allclose(forces, numeric, atol=atol, rtol=0)


def assert_stress_matches_finite_differences(atoms: Atoms, calc, h: float = 1e-5, atol: float = 1e-7) -> None:
    """stress = (1/V) dE/d(strain) by central differences of a strained cell (ASE sign, Voigt)."""
    atoms = atoms.copy()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    volume = atoms.get_volume()
    numeric = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * h
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                energies.append(energy_forces(strained, calc)[0])
            numeric[a, b] = (energies[0] - energies[1]) / (2 * h) / volume
    numeric = 0.5 * (numeric + numeric.T)
    np.testing.assert_allclose(stress, numeric, atol=atol, rtol=0)


def assert_smooth_across(make_atoms, distances: np.ndarray, calc, max_jump_e: float, max_jump_f: float) -> None:
    """No jump in E or F over closely and evenly spaced distances (e.g. an atom crossing a cutoff).

    A jump of size J between two neighbouring points shows as a second difference of about J, while a
    smooth curve's second differences are of order E'' h^2 (h the spacing): so the second differences
    of E and of F must stay below max_jump_e (eV) and max_jump_f (eV/A).
    """
    values = [energy_forces(make_atoms(d), calc) for d in distances]
    energies = np.array([v[0] for v in values])
    forces = np.array([v[1] for v in values])
    assert np.abs(np.diff(energies, n=2)).max() <= max_jump_e, np.diff(energies, n=2)
    assert np.abs(np.diff(forces, n=2, axis=0)).max() <= max_jump_f


def assert_slope_continuous_at(make_atoms, distance: float, calc, h: float, max_jump: float) -> None:
    """No kink in F at ``distance`` (e.g. a cutoff): the one-sided slopes dF/dd, each from the points h
    and 2h away on its side, differ by at most max_jump (eV/A^2). For an energy twice differentiable
    there they differ by about 3 h |F''|; a kink's jump does not shrink with h."""
    forces = [energy_forces(make_atoms(distance + k * h), calc)[1] for k in (-2, -1, 1, 2)]
    left, right = (forces[1] - forces[0]) / h, (forces[3] - forces[2]) / h
    jump = np.abs(left - right).max()
    assert jump <= max_jump, f"the force's slope jumps by {jump:.3g} eV/A^2 at d = {distance}"


def assert_size_consistent(a: Atoms, b: Atoms, calc, separation: float = 20.0) -> None:
    """E(A + B) = E(A) + E(B) when B sits ``separation`` A away from A."""
    far = b.copy()
    far.positions += np.array([separation, 0.0, 0.0]) + a.positions.max(0) - b.positions.min(0)
    e_a, f_a = energy_forces(a, calc)
    e_b, f_b = energy_forces(far, calc)
    e_ab, f_ab = energy_forces(a + far, calc)
    np.testing.assert_allclose(e_ab, e_a + e_b, atol=TOL["energy"], rtol=0)
    np.testing.assert_allclose(f_ab, np.concatenate([f_a, f_b]), atol=TOL["forces"], rtol=0)


def assert_extensive_supercell(cell_atoms: Atoms, calc, repeat=(2, 2, 2)) -> None:
    """A supercell's energy is N times its cell's; forces repeat."""
    e_cell, f_cell = energy_forces(cell_atoms, calc)
    e_super, f_super = energy_forces(cell_atoms.repeat(repeat), calc)
    n = int(np.prod(repeat))
    np.testing.assert_allclose(e_super, n * e_cell, atol=1e-8 * n * len(cell_atoms), rtol=0)
    np.testing.assert_allclose(f_super, np.tile(f_cell, (n, 1)), atol=TOL["forces"], rtol=0)
