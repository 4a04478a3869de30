"""CMRET: charge/spin states (invariant, distinct), the paper options' documented defects, batching."""

import numpy as np
import pytest
import torch
from ase.build import molecule
from scipy.spatial.transform import Rotation

from attnff import AttnCalculator
from attnff.data.batch import collate
from attnff.data.records import Configuration
from attnff.errors import ChargeSpinError
from tests.conftest import small_potential

STATES = [(0, 0.0), (1, 0.0), (0, 1.0), (-1, 1.0)]


def _energy(potential, atoms, charge, spin, rotation=None):
    positions = atoms.positions if rotation is None else atoms.positions @ rotation.T
    config = Configuration(numbers=atoms.numbers, positions=positions, charge=charge, multiplicity=int(2 * spin + 1))
    batch = collate([config], potential.cutoff)
    out = potential(batch, forces=True)
    return float(out["energy"][0].detach()), out["forces"].detach().numpy()


@pytest.mark.parametrize("charge, spin", STATES)
def test_default_is_rotation_invariant_for_every_state(charge, spin):
    potential = small_potential("cmret")
    atoms = molecule("CH3CH2OH")
    rotation = Rotation.random(random_state=3).as_matrix()
    e0, f0 = _energy(potential, atoms, charge, spin)
    e1, f1 = _energy(potential, atoms, charge, spin, rotation)
    assert abs(e1 - e0) < 1e-10
    np.testing.assert_allclose(f1, f0 @ rotation.T, atol=1e-9)


def test_states_are_distinct_including_q_equal_s():
    potential = small_potential("cmret")
    atoms = molecule("CH2_s1A1d")
    energies = {(q, s): _energy(potential, atoms, q, s)[0] for q, s in STATES + [(1, 1.0)]}
    assert len({round(e, 9) for e in energies.values()}) == len(energies)
    assert abs(energies[(1, 1.0)] - energies[(0, 0.0)]) > 1e-6


def test_paper_charge_spin_breaks_rotation_invariance_when_q_differs_from_s():
    """Documents the defect of the paper's Eq. 9 that the default fixes."""
    potential = small_potential("cmret", charge_spin="paper")
    atoms = molecule("CH3CH2OH")
    rotation = Rotation.random(random_state=4).as_matrix()
    for charge, spin in [(1, 0.0), (0, 1.0)]:
        e0, _ = _energy(potential, atoms, charge, spin)
        e1, _ = _energy(potential, atoms, charge, spin, rotation)
        assert abs(e1 - e0) > 1e-6
    e0, _ = _energy(potential, atoms, 1, 1.0)  # Q == S: v0 = 0, invariant again
    e1, _ = _energy(potential, atoms, 1, 1.0, rotation)
    assert abs(e1 - e0) < 1e-10
    # and it cannot tell (1, 1) from (0, 0)
    assert abs(_energy(potential, atoms, 1, 1.0)[0] - _energy(potential, atoms, 0, 0.0)[0]) < 1e-10


def test_global_attention_couples_far_fragments_local_does_not():
    """Documents the paper's unbounded attention: E(A...B far) != E(A) + E(B)."""
    a, b = molecule("H2O"), molecule("NH3")
    b.positions += [30.0, 0, 0]
    for attention, additive in (("local", True), ("global", False)):
        calc = AttnCalculator(small_potential("cmret", attention=attention), device="cpu", dtype="float64")
        energies = []
        for atoms in (a, b, a + b):
            atoms = atoms.copy()
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
        assert (abs(energies[2] - energies[0] - energies[1]) < 1e-9) == additive


def test_batches_of_different_molecules_match_single_evaluation_and_have_finite_gradients():
    """The authors' code gives NaN gradients for batches of more than one molecule; ours must not."""
    for attention in ("local", "global"):
        potential = small_potential("cmret", attention=attention)
        mols = [molecule(name) for name in ("CH3CH2OH", "H2O", "CH4")]
        configs = [Configuration(numbers=m.numbers, positions=m.positions) for m in mols]
        batch = collate(configs, potential.cutoff)
        out = potential(batch, forces=True, training=True)
        singles = [float(potential(collate([c], potential.cutoff))["energy"][0].detach()) for c in configs]
        np.testing.assert_allclose(out["energy"].detach().numpy(), singles, atol=1e-10)
        loss = out["energy"].sum() + (out["forces"] ** 2).sum()
        grads = torch.autograd.grad(loss, list(potential.parameters()), allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_calculator_changes_energy_with_multiplicity_and_refuses_impossible_ones():
    calc = AttnCalculator(small_potential("cmret"), device="cpu", dtype="float64")
    atoms = molecule("CH2_s1A1d")
    atoms.calc = calc
    atoms.info.update(charge=0, multiplicity=3)
    triplet = atoms.get_potential_energy()
    atoms.info["multiplicity"] = 1
    singlet = atoms.get_potential_energy()
    assert abs(triplet - singlet) > 1e-6
    atoms.info["multiplicity"] = 2
    with pytest.raises(ChargeSpinError, match="impossible"):
        atoms.get_potential_energy()


def test_attention_radius_must_not_exceed_cutoff():
    with pytest.raises(Exception, match="attention_radius"):
        small_potential("cmret", attention_radius=4.0)


def test_dipole_head_is_equivariant_and_origin_free_for_neutral_molecules():
    calc = AttnCalculator(small_potential("cmret", dipole=True), device="cpu", dtype="float64")
    atoms = molecule("CH3CH2OH")
    atoms.calc = calc
    mu = atoms.get_dipole_moment()
    assert np.linalg.norm(mu) > 0
    rotation = Rotation.random(random_state=5).as_matrix()
    moved = atoms.copy()
    moved.positions = atoms.positions @ rotation.T + [3.0, -1.0, 2.0]
    moved.calc = calc
    np.testing.assert_allclose(moved.get_dipole_moment(), rotation @ mu, atol=1e-9)


def test_dipole_training_option(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from attnff.train import parse_config, train

    frames = []
    for k in range(12):
        atoms = molecule("H2O")
        atoms.rattle(0.05, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 - 0.01 * k, forces=np.zeros((3, 3)),
                                           dipole=np.array([0.0, 0.0, 0.4 + 0.01 * k]))
        frames.append(atoms)
    write(tmp_path / "d.extxyz", frames)
    raw = {"name": "dip", "output": str(tmp_path / "run"),
           "data": {"path": str(tmp_path / "d.extxyz"), "split": {"train": 0.5, "validation": 0.25, "test": 0.25}},
           "model": {"name": "cmret", "width": 8, "num_heads": 1, "num_layers": 1, "num_basis": 4, "cutoff": 3.0,
                     "dipole": True},
           "training": {"epochs": 1, "batch_size": 3, "dipole_weight": 1.0, "device": "cpu"}}
    path = train(parse_config(raw), progress=False)
    assert "dipole_mae" in AttnCalculator.load(path).metadata["card"]["metrics"]["test"]


def test_model_without_dipole_head_says_so():
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = molecule("H2O")
    atoms.calc = AttnCalculator(small_potential("cmret"), device="cpu")
    with pytest.raises(PropertyNotImplementedError, match="no dipole head"):
        atoms.get_dipole_moment()
