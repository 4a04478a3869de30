"""AttnCalculator: properties, charge/multiplicity rules, bad input, skin reuse, devices."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from attnff import AttnCalculator
from attnff.errors import ChargeSpinError, InvalidStructureError
from tests.conftest import small_potential


@pytest.fixture
def calc():
    return AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")


def test_properties_of_molecule(calc):
    atoms = molecule("CH3CH2OH")
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert atoms.get_potential_energies().shape == (9,)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), energy, atol=1e-10)
    assert atoms.get_forces().shape == (9, 3)
    assert calc.get_property("free_energy", atoms) == energy
    np.testing.assert_allclose(atoms.get_forces().sum(0), 0.0, atol=1e-10)  # no net force


def test_stress_only_for_3d_periodic_cells(calc):
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = molecule("H2O")
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()
    atoms.set_cell([6.0, 6.0, 6.0])
    atoms.pbc = True
    assert atoms.get_stress().shape == (6,)


def test_float32_close_to_float64():
    potential = small_potential("jat")
    atoms = molecule("CH3CH2OH")
    atoms.calc = AttnCalculator(potential, device="cpu", dtype="float64")
    e64, f64 = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float32")
    assert atoms.calc.potential.scale.dtype == torch.float32
    np.testing.assert_allclose(atoms.get_potential_energy(), e64, atol=1e-4)
    np.testing.assert_allclose(atoms.get_forces(), f64, atol=1e-4)


def test_skin_reuse_gives_same_results_as_fresh_list():
    rng = np.random.default_rng(0)
    atoms = molecule("CH3CH2OH")
    atoms.center(vacuum=1.0)
    atoms.pbc = True
    reused = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64", skin=1.0)
    fresh = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64", skin=0.0)
    for _ in range(8):
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = reused, fresh
        np.testing.assert_allclose(a.get_potential_energy(), b.get_potential_energy(), atol=1e-11, rtol=0)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-11, rtol=0)
        np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-11, rtol=0)
    assert reused.neighbors.builds < fresh.neighbors.builds == 8


def test_results_refresh_when_info_changes(calc):
    atoms = molecule("H2O")
    atoms.calc = calc
    atoms.get_potential_energy()
    atoms.info["charge"] = 1
    with pytest.raises(ChargeSpinError):  # the calculator must notice the change, not reuse results
        atoms.get_potential_energy()


@pytest.mark.parametrize(
    "info, message",
    [
        ({"multiplicity": 2}, "impossible"),  # H2O has 10 electrons: even count needs odd multiplicity
        ({"multiplicity": 0}, ">= 1"),
        ({"multiplicity": 13}, "unpaired"),
        ({"charge": 11}, "electrons"),
        ({"charge": 0.5}, "integer"),
        ({"multiplicity": "triplet"}, "integer"),
    ],
)
def test_impossible_charge_multiplicity(calc, info, message):
    atoms = molecule("H2O")
    atoms.info.update(info)
    atoms.calc = calc
    with pytest.raises(ChargeSpinError, match=message):
        atoms.get_potential_energy()


def test_model_without_charge_spin_refuses_other_states(calc):
    atoms = molecule("H2O")
    atoms.calc = calc
    atoms.info.update(charge=0, multiplicity=3)
    with pytest.raises(ChargeSpinError, match="without charge/spin"):
        atoms.get_potential_energy()
    atoms.info.update(charge=1, multiplicity=2)
    with pytest.raises(ChargeSpinError, match="without charge/spin"):
        atoms.get_potential_energy()
    atoms.info.update(charge=0, multiplicity=1)  # the default state is accepted explicitly
    assert np.isfinite(atoms.get_potential_energy())


def test_default_multiplicity_for_radical(calc):
    atoms = Atoms("CH3", positions=[[0, 0, 0], [1.08, 0, 0], [-0.54, 0.94, 0], [-0.54, -0.94, 0]])
    atoms.calc = calc  # 9 electrons: default multiplicity 2, accepted by a neutral-only model
    assert np.isfinite(atoms.get_potential_energy())


def _bad(name):
    atoms = molecule("H2O")
    if name == "unknown element":
        atoms = molecule("SiH4")
    elif name == "nan":
        atoms.positions[1, 0] = np.nan
    elif name == "inf":
        atoms.positions[0, 2] = np.inf
    elif name == "overlap":
        atoms.positions[2] = atoms.positions[0] + [0.05, 0, 0]
    elif name == "empty":
        atoms = Atoms()
    elif name == "zero volume":
        atoms.set_cell([[3, 0, 0], [6, 0, 0], [0, 0, 3]])
        atoms.pbc = True
    return atoms


@pytest.mark.parametrize(
    "name, message",
    [("unknown element", "Si.*unknown"), ("nan", "non-finite"), ("inf", "non-finite"), ("overlap", "overlapping"),
     ("empty", "no atoms"), ("zero volume", "degenerate")],
)
def test_bad_structures_raise_clear_errors(calc, name, message):
    atoms = _bad(name)
    atoms.calc = calc
    with pytest.raises(InvalidStructureError, match=message):
        atoms.get_potential_energy()


def test_overlap_error_names_the_callers_atoms(calc):
    atoms = Atoms("H6", positions=[[9, 9, 9], [0, 0, 0], [5, 5, 5], [9.05, 9, 9], [2, 0, 0], [0, 2, 0]])
    atoms.calc = calc
    with pytest.raises(InvalidStructureError, match="atoms [03] and [03] are"):
        atoms.get_potential_energy()


def test_atom_order_does_not_change_results():
    """The calculator relabels atoms in spatial order internally: results come back in the caller's order."""
    from tests.conftest import small_water_box

    atoms = small_water_box()
    order = np.random.default_rng(2).permutation(len(atoms))
    results = []
    for structure in (atoms, atoms[order]):
        structure.calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
        results.append((structure.get_potential_energy(), structure.get_forces(),
                        structure.get_potential_energies(), structure.get_stress()))
    (e0, f0, ei0, s0), (e1, f1, ei1, s1) = results
    assert abs(e1 - e0) < 1e-9
    np.testing.assert_allclose(f1, f0[order], atol=1e-10)
    np.testing.assert_allclose(ei1, ei0[order], atol=1e-10)
    np.testing.assert_allclose(s1, s0, atol=1e-12)
    labels = atoms.calc.neighbors.order
    assert not np.array_equal(labels, np.arange(len(atoms)))  # the relabelling took place


def test_pairs_to_evaluate_pads_to_a_stable_count():
    from attnff.calculator import PAIR_QUANTA, pairs_to_evaluate

    rng = np.random.default_rng(4)
    counts = set()
    for _ in range(20):  # MD-like: a few pairs cross the cutoff between calls
        inside = rng.random(6400) < 0.75 + rng.normal(scale=1e-3)
        keep = pairs_to_evaluate(inside)
        assert keep[inside].all()
        assert keep.sum() % (6400 // PAIR_QUANTA) == 0 and keep.sum() - inside.sum() < 6400 // PAIR_QUANTA
        counts.add(int(keep.sum()))
    assert len(counts) <= 2
    assert pairs_to_evaluate(np.ones(10, bool)).all()


def test_overlap_across_periodic_boundary(calc):
    atoms = Atoms("HH", positions=[[0.01, 1, 1], [2.96, 1, 1]], cell=[3.0, 3.0, 3.0], pbc=True)
    atoms.calc = calc
    with pytest.raises(InvalidStructureError, match="overlapping"):
        atoms.get_potential_energy()


def test_device_auto_and_dtype_validation():
    from attnff.device import resolve_device, resolve_dtype

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("float16")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    atoms = molecule("CH3CH2OH")
    atoms.calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    e_cpu, f_cpu = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = AttnCalculator(small_potential("jat"), device="cuda", dtype="float64")
    assert atoms.calc.potential.scale.device.type == "cuda"
    np.testing.assert_allclose(atoms.get_potential_energy(), e_cpu, atol=1e-8)
    np.testing.assert_allclose(atoms.get_forces(), f_cpu, atol=1e-8)
