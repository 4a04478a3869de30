"""The physics battery over every registry model and test variant (small random weights, float64)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from attnff import AttnCalculator
from attnff.models import REGISTRY
from tests.conftest import VARIANTS, small_potential
from tests.physics import assertions as check


@pytest.fixture(params=[*sorted(REGISTRY), *VARIANTS])
def model_name(request) -> str:
    """Every registry model and every test variant (e.g. JAT with angular invariants)."""
    return request.param


def _calc(name, **overrides):
    return AttnCalculator(small_potential(name, **overrides), device="cpu", dtype="float64", skin=0.0)


def _random_cell(cell, n, seed, min_distance=1.0):
    """n (or n + 1, for an even electron count) random H/C/N/O atoms in a periodic cell,
    no two closer than min_distance. Even electron counts keep the default multiplicity
    (singlet) the same for a cell and its supercells."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=cell, pbc=True)
    while len(atoms) < n or atoms.numbers.sum() % 2:
        trial = atoms + Atoms(rng.choice(["H", "C", "N", "O"]), positions=[rng.random(3) @ np.asarray(cell)])
        if len(trial) < 2 or trial.get_all_distances(mic=True)[-1, :-1].min() > min_distance:
            atoms = trial
    atoms.pbc = True
    return atoms


SKEWED = [[3.2, 0.0, 0.0], [1.1, 3.0, 0.0], [0.6, -0.9, 3.4]]
SMALL = [[2.2, 0.0, 0.0], [0.4, 2.4, 0.0], [0.3, 0.2, 2.3]]  # edges < cutoff: several images


def test_invariances_molecule(model_name):
    check.assert_invariances(molecule("CH3CH2OH"), _calc(model_name))


def test_invariances_periodic(model_name):
    check.assert_invariances(_random_cell(SKEWED, 6, seed=1), _calc(model_name))


def test_forces_finite_differences(model_name):
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=2)
    check.assert_forces_match_finite_differences(atoms, _calc(model_name))


def test_forces_finite_differences_periodic_small_cell(model_name):
    check.assert_forces_match_finite_differences(_random_cell(SMALL, 3, seed=3), _calc(model_name))


@pytest.mark.parametrize("cell", [SKEWED, SMALL], ids=["skewed", "smaller-than-cutoff"])
def test_stress_finite_differences(model_name, cell):
    check.assert_stress_matches_finite_differences(_random_cell(cell, 4, seed=4), _calc(model_name))


def test_smooth_across_cutoff(model_name):
    calc = _calc(model_name)
    cutoff = calc.potential.cutoff

    def pair_plus_probe(d):
        # a bound pair and a third atom crossing the cutoff of the first
        return Atoms("CON", positions=[[0, 0, 0], [1.2, 0, 0], [-d, 0.0, 0.0]])

    distances = cutoff + np.linspace(-2e-3, 2e-3, 9)
    check.assert_smooth_across(pair_plus_probe, distances, calc, max_jump_e=1e-5, max_jump_f=1e-3)


def _probe_crossing(d):
    """A bound pair and a third atom at distance d from the first, off the pair's axis."""
    direction = -np.array([1.0, 0.3, 0.2]) / np.linalg.norm([1.0, 0.3, 0.2])
    return Atoms("CON", positions=[[0, 0, 0], [1.2, 0, 0], d * direction])


def test_twice_differentiable_at_cutoff(model_name):
    """The defaults' envelopes make E twice differentiable at r_c: no kink in the forces (the one-sided
    slopes agree to within the finite-difference residue of order h |F''|)."""
    calc = _calc(model_name)
    check.assert_slope_continuous_at(_probe_crossing, calc.potential.cutoff, calc, h=2e-5, max_jump=2e-4)


@pytest.mark.parametrize("name", ["cmret", "jat"])
def test_cosine_envelope_gives_a_kink_at_cutoff(name):
    """The cosine envelope (CMRET's paper, an option of both) is only once differentiable: continuous
    forces whose slope jumps, which the check above catches."""
    calc = _calc(name, envelope="cosine")
    check.assert_smooth_across(_probe_crossing, calc.potential.cutoff + np.linspace(-2e-3, 2e-3, 9), calc,
                               1e-5, 1e-3)
    with pytest.raises(AssertionError, match="slope jumps"):
        check.assert_slope_continuous_at(_probe_crossing, calc.potential.cutoff, calc, h=2e-5, max_jump=2e-4)


def test_thesis_attention_jumps_at_cutoff():
    """The thesis variant is kept for reproduction and documented as discontinuous: show the jump."""
    calc = _calc("jat", attention="thesis", radial_values=False)
    cutoff = calc.potential.cutoff

    def pair_plus_probe(d):
        return Atoms("CON", positions=[[0, 0, 0], [1.2, 0, 0], [-d, 0.0, 0.0]])

    energies = [check.energy_forces(pair_plus_probe(d), calc)[0] for d in (cutoff - 1e-6, cutoff + 1e-6)]
    assert abs(energies[1] - energies[0]) > 1e-4
    with pytest.raises(AssertionError):  # the smoothness check used for every model catches it
        check.assert_smooth_across(pair_plus_probe, cutoff + np.linspace(-2e-3, 2e-3, 9), calc, 1e-5, 1e-3)


def test_size_consistency(model_name):
    check.assert_size_consistent(molecule("CH3CH2OH"), molecule("H2O"), _calc(model_name), separation=20.0)


@pytest.mark.parametrize("cell", [SKEWED, SMALL], ids=["skewed", "smaller-than-cutoff"])
def test_supercell_extensive(model_name, cell):
    check.assert_extensive_supercell(_random_cell(cell, 3, seed=5), _calc(model_name))
