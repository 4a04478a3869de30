"""attnff.scan: rigid and relaxed bond/angle/dihedral scans, 2-D grids, dissociation, states, CSV."""

import numpy as np
import pytest
from ase.build import molecule

from attnff import AttnCalculator, scan
from attnff.errors import ChargeSpinError
from tests.conftest import small_potential

# ethanol from ase.build.molecule: C0 C1 O2 H3(O) H4 H5(C1) H6 H7 H8(C0)
C0, C1, O2, H3 = 0, 1, 2, 3
METHYL = [0, 6, 7, 8]


@pytest.fixture
def calc():
    return AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")


@pytest.fixture
def ethanol():
    return molecule("CH3CH2OH")


def _dihedral_error(measured, target):
    return np.abs((np.asarray(measured) - np.asarray(target) + 180.0) % 360.0 - 180.0)


def test_rigid_bond_scan_sets_distances_and_moves_only_j(calc, ethanol):
    before = ethanol.positions.copy()
    distances = np.linspace(1.3, 1.8, 6)
    result = scan.bond(ethanol, calc, C0, C1, distances)

    assert result.coordinates == ["bond_0_1_A"] and not result.relaxed
    assert result.states == [(0, 1)]
    assert result.energies.shape == result.converged.shape == result.structures.shape == (1, 6)
    assert result.converged.all()
    for d, atoms in zip(distances, result.structures[0]):
        assert atoms.get_distance(C0, C1) == pytest.approx(d, abs=1e-12)
        others = np.arange(len(atoms)) != C1
        np.testing.assert_allclose(atoms.positions[others], before[others])
        assert atoms.get_potential_energy() == pytest.approx(result.energies[0][list(distances).index(d)])
    np.testing.assert_array_equal(ethanol.positions, before)  # the input is not modified


def test_fragment_bond_scan_translates_the_whole_side(calc, ethanol):
    result = scan.bond(ethanol, calc, C1, O2, [1.2, 1.6], move="fragment")
    for d, atoms in zip([1.2, 1.6], result.structures[0]):
        assert atoms.get_distance(C1, O2) == pytest.approx(d, abs=1e-12)
        shift = atoms.positions - ethanol.positions
        np.testing.assert_allclose(shift[H3], shift[O2], atol=1e-12)  # the hydroxyl moves as one
        np.testing.assert_allclose(np.delete(shift, [O2, H3], axis=0), 0.0, atol=1e-12)


def test_fragment_needs_a_bond(calc, ethanol):
    with pytest.raises(ValueError, match="not bonded"):
        scan.bond(ethanol, calc, C0, O2, [2.4], move="fragment")
    with pytest.raises(ValueError, match="distinct"):
        scan.bond(ethanol, calc, C0, C0, [1.4])


@pytest.mark.filterwarnings("ignore:relaxation did not converge")
def test_relaxed_bond_scan_keeps_distance_and_reports_convergence(calc, ethanol):
    distances = [1.35, 1.5, 1.65]
    result = scan.bond(ethanol, calc, C0, C1, distances, relax=True, move="fragment", fmax=0.05, steps=100)
    assert result.relaxed and result.converged.dtype == bool and result.converged.shape == (1, 3)
    for d, atoms in zip(distances, result.structures[0]):
        assert atoms.get_distance(C0, C1) == pytest.approx(d, abs=1e-6)
        assert atoms.constraints == []  # FixInternals is not left on the stored structures
    converged = result.converged[0]
    assert converged.any()
    rigid = scan.bond(ethanol, calc, C0, C1, distances, move="fragment")
    # a converged relaxation does not end above its rigid starting point
    assert (result.energies[0][converged] <= rigid.energies[0][converged] + 1e-9).all()


def test_nonconverged_points_are_kept_and_reported(calc, ethanol):
    with pytest.warns(RuntimeWarning, match="did not converge"):
        result = scan.bond(ethanol, calc, C0, C1, [1.3, 1.7], relax=True, fmax=1e-6, steps=2)
    assert not result.converged.any()
    assert np.isfinite(result.energies).all()  # kept, not dropped
    assert result.nonconverged() == [((0, 1), (1.3,)), ((0, 1), (1.7,))]


@pytest.mark.filterwarnings("ignore:relaxation did not converge")
def test_angle_scan_hits_targets(calc, ethanol):
    targets = [95.0, 110.0, 125.0, 180.0]
    for move in ("atom", "fragment"):
        result = scan.angle(ethanol, calc, C0, C1, O2, targets, move=move)
        measured = [atoms.get_angle(C0, C1, O2) for atoms in result.structures[0]]
        np.testing.assert_allclose(measured, targets, atol=1e-6)
        for atoms in result.structures[0]:
            assert atoms.get_distance(C1, O2) == pytest.approx(ethanol.get_distance(C1, O2), abs=1e-10)
    relaxed = scan.angle(ethanol, calc, C0, C1, O2, [100.0, 115.0], relax=True, move="fragment", steps=20)
    np.testing.assert_allclose([a.get_angle(C0, C1, O2) for a in relaxed.structures[0]], [100.0, 115.0],
                               atol=1e-4)


@pytest.mark.filterwarnings("ignore:relaxation did not converge")
def test_dihedral_scan_hits_targets(calc, ethanol):
    targets = [-120.0, -60.0, 0.0, 60.0, 180.0]
    result = scan.dihedral(ethanol, calc, O2, C1, C0, 6, targets, move="fragment")
    measured = [atoms.get_dihedral(O2, C1, C0, 6) for atoms in result.structures[0]]
    assert _dihedral_error(measured, targets).max() < 1e-6
    for atoms in result.structures[0]:  # a rigid methyl rotation keeps every bond length
        np.testing.assert_allclose(atoms.get_all_distances()[np.ix_(METHYL, METHYL)],
                                   ethanol.get_all_distances()[np.ix_(METHYL, METHYL)], atol=1e-10)
    relaxed = scan.dihedral(ethanol, calc, O2, C1, C0, 6, [30.0, 90.0], relax=True, move="fragment", steps=20)
    measured = [atoms.get_dihedral(O2, C1, C0, 6) for atoms in relaxed.structures[0]]
    assert _dihedral_error(measured, [30.0, 90.0]).max() < 1e-4


def test_dihedral_fragment_must_contain_the_last_atom(calc, ethanol):
    with pytest.raises(ValueError, match="side"):
        scan.dihedral(ethanol, calc, O2, C1, C0, H3, [0.0], move="fragment")  # H3 is on C1's side


@pytest.mark.filterwarnings("ignore:relaxation did not converge")
def test_grid2d_hits_both_coordinates(calc, ethanol):
    bonds, angles = [1.4, 1.5, 1.6], [100.0, 120.0]
    result = scan.grid2d(ethanol, calc, (C0, C1), bonds, (C0, C1, O2), angles, move="fragment")
    assert result.coordinates == ["bond_0_1_A", "angle_0_1_2_deg"]
    assert result.energies.shape == (1, 3, 2) and result.shape == (3, 2)
    for a, b in np.ndindex(3, 2):
        atoms = result.structures[0, a, b]
        assert atoms.get_distance(C0, C1) == pytest.approx(bonds[a], abs=1e-8)
        assert atoms.get_angle(C0, C1, O2) == pytest.approx(angles[b], abs=1e-6)
    relaxed = scan.grid2d(ethanol, calc, (C0, C1), bonds[:2], (C0, C1, O2), angles, relax=True, steps=5,
                          move="fragment")
    assert relaxed.converged.shape == (1, 2, 2)
    for a, b in np.ndindex(2, 2):
        atoms = relaxed.structures[0, a, b]
        assert atoms.get_distance(C0, C1) == pytest.approx(bonds[a], abs=1e-5)
        assert atoms.get_angle(C0, C1, O2) == pytest.approx(angles[b], abs=1e-3)


def test_dissociation_moves_fragment_b_centre_of_mass(calc, ethanol):
    masses = ethanol.get_masses()
    b = [k for k in range(len(ethanol)) if k not in METHYL]

    def com(atoms, indices):
        return masses[indices] @ atoms.positions[indices] / masses[indices].sum()

    axis = com(ethanol, b) - com(ethanol, METHYL)
    d0 = np.linalg.norm(axis)
    distances = [2.0, 3.0, 5.0]
    result = scan.dissociation(ethanol, calc, METHYL, distances)
    assert result.coordinates == ["com_distance_A"]
    for d, atoms in zip(distances, result.structures[0]):
        np.testing.assert_allclose(atoms.positions[METHYL], ethanol.positions[METHYL])  # A stays
        np.testing.assert_allclose(com(atoms, b) - com(ethanol, b), (d - d0) * axis / d0, atol=1e-12)
        np.testing.assert_allclose(atoms.get_all_distances()[np.ix_(b, b)],
                                   ethanol.get_all_distances()[np.ix_(b, b)], atol=1e-12)  # B is rigid
    with pytest.raises(ValueError, match="empty"):
        scan.dissociation(ethanol, calc, range(len(ethanol)), distances)


@pytest.mark.parametrize("two_d", [False, True])
def test_csv_round_trip(calc, ethanol, tmp_path, two_d):
    if two_d:
        result = scan.grid2d(ethanol, calc, (C0, C1), [1.4, 1.5, 1.6], (C0, C1, O2), [100.0, 110.0])
    else:
        result = scan.bond(ethanol, calc, C0, C1, [1.3, 1.45, 1.6, 1.75])
    result.converged[0, 1] = False  # the flag must survive the round trip
    result.to_csv(tmp_path / "scan.csv")
    back = scan.ScanResult.from_csv(tmp_path / "scan.csv")
    assert back.coordinates == result.coordinates and back.states == result.states
    for mine, theirs in zip(back.values, result.values):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(back.energies, result.energies)  # full precision
    np.testing.assert_array_equal(back.converged, result.converged)
    assert back.structures is None


def test_states_are_set_and_a_refused_state_raises(calc, ethanol):
    result = scan.bond(ethanol, calc, C0, C1, [1.5], states=[(0, None)])
    assert result.states == [(0, 1)]
    atoms = result.structures[0, 0]
    assert (atoms.info["charge"], atoms.info["multiplicity"]) == (0, 1)
    with pytest.raises(ChargeSpinError, match="multiplicity 3"):
        scan.bond(ethanol, calc, C0, C1, [1.4, 1.5], states=[(0, 1), (0, 3)])
    with pytest.raises(ChargeSpinError, match="impossible"):  # even electron count, even multiplicity
        scan.bond(ethanol, calc, C0, C1, [1.5], states=[(0, 2)])
    with pytest.raises(ValueError, match="twice"):
        scan.bond(ethanol, calc, C0, C1, [1.5], states=[(0, 1), (0, None)])
