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


def test_implemented_properties_name_the_dipole_only_with_a_dipole_head():
    plain = AttnCalculator(small_potential("cmret"), device="cpu")
    assert "dipole" not in plain.implemented_properties and "stress" in plain.implemented_properties
    with_head = AttnCalculator(small_potential("cmret", dipole=True), device="cpu")
    assert "dipole" in with_head.implemented_properties
    atoms = molecule("H2O")
    atoms.calc = with_head
    assert atoms.get_dipole_moment().shape == (3,)


def test_parameters_name_the_potential_file_device_dtype_and_skin():
    import hashlib

    from attnff.model_file import resolve_potential

    calc = AttnCalculator.load("jat-md17-ethanol", device="cpu", dtype="float64", skin=0.3)
    path = resolve_potential("jat-md17-ethanol")
    assert calc.todict() == {"potential": "jat-md17-ethanol", "model": "jat", "device": "cpu", "dtype": "float64",
                             "skin": 0.3, "potential_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert repr(calc) == ("AttnCalculator(potential='jat-md17-ethanol', model='jat', device='cpu', "
                          "dtype='float64', skin=0.3)")
    by_path = AttnCalculator.load(path, device="cpu")
    assert by_path.parameters["potential"] == str(path)


def test_parameters_are_stored_by_ase_db(tmp_path):
    from ase.db import connect

    atoms = molecule("CH3CH2OH")
    atoms.calc = AttnCalculator.load("jat-md17-ethanol", device="cpu")
    atoms.get_potential_energy()
    with connect(tmp_path / "results.db") as db:
        db.write(atoms)
    row = connect(tmp_path / "results.db").get(1)
    assert row.calculator == "attncalculator"
    assert row.calculator_parameters["potential"] == "jat-md17-ethanol"
    assert len(row.calculator_parameters["potential_sha256"]) == 64


def test_set_applies_device_dtype_skin_and_refuses_the_rest(calc):
    atoms = molecule("H2O")
    atoms.calc = calc
    energy64 = atoms.get_potential_energy()
    assert calc.set(dtype="float32") == {"dtype": "float32"}
    assert calc.dtype == torch.float32 and not calc.results
    assert next(calc.potential.parameters()).dtype == torch.float32
    assert atoms.get_potential_energy() == pytest.approx(energy64, abs=1e-4)
    assert calc.set(dtype="float32") == {}  # no change: results kept
    assert calc.results
    calc.set(skin=0.2)
    assert calc.neighbors.skin == 0.2 and calc.parameters["skin"] == 0.2
    with pytest.raises(ValueError, match="cannot change \\['potential'\\]"):
        calc.set(potential="jat-md17-ethanol")
    with pytest.raises(ValueError, match="cannot change \\['xc'\\]"):
        calc.set(xc="PBE")
    with pytest.raises(ValueError, match="skin"):
        calc.set(skin=-1.0)


def test_calls_from_several_threads_give_the_serial_results():
    from concurrent.futures import ThreadPoolExecutor

    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    structures = []
    for k in range(16):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=k)
        structures.append(atoms)
    serial = []
    for atoms in structures:
        serial.append((calc.get_potential_energy(atoms), calc.get_forces(atoms).copy()))

    def evaluate(atoms):
        return calc.get_potential_energy(atoms), calc.get_forces(atoms).copy()

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(evaluate, structures * 4))
    # equal up to rounding: a list reused within the skin sums pairs in another order than a fresh one
    for (energy, forces), (expected_energy, expected_forces) in zip(parallel, serial * 4):
        assert energy == pytest.approx(expected_energy, abs=1e-12)
        np.testing.assert_allclose(forces, expected_forces, atol=1e-12)


def test_calculator_pickles_with_its_lock():
    import pickle

    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    atoms = molecule("H2O")
    atoms.calc = pickle.loads(pickle.dumps(calc))
    assert np.isfinite(atoms.get_potential_energy())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available here"):
        AttnCalculator(small_potential("jat"), device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        AttnCalculator(small_potential("jat"), device="gpu0")


def test_states_outside_the_cards_training_states_are_refused_or_warned_once():
    card = {"card": {"name": "toy-ch2", "states": [[0, 1], [0, 3]]}}
    atoms = Atoms("CH2", positions=[[0, 0, 0], [1.1, 0, 0], [-0.3, 1.05, 0]])
    atoms.calc = AttnCalculator(small_potential("cmret"), device="cpu", metadata=card)
    atoms.info["multiplicity"] = 3
    assert np.isfinite(atoms.get_potential_energy())
    atoms.info.update(charge=1, multiplicity=2)
    with pytest.raises(ChargeSpinError, match=r"trained on \(charge, multiplicity\) \(0, 1\), \(0, 3\).*"
                                              r"allow_untrained_states=True"):
        atoms.get_potential_energy()
    atoms.calc = AttnCalculator(small_potential("cmret"), device="cpu", metadata=card, allow_untrained_states=True)
    with pytest.warns(UserWarning, match="outside its training data"):
        atoms.get_potential_energy()
    import warnings

    atoms.rattle(0.01, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atoms.get_potential_energy()  # the same state warns once


def test_shipped_ch2_potential_refuses_a_state_it_never_saw():
    atoms = Atoms("CH2", positions=[[0, 0, 0], [1.1, 0, 0], [-0.3, 1.05, 0]], info={"charge": 0, "multiplicity": 5})
    atoms.calc = AttnCalculator.load("cmret-ch2", device="cpu")
    with pytest.raises(ChargeSpinError, match="outside its training data"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("distance", [7e5, 1e7])
def test_fragments_far_apart_are_evaluated_not_fatal(calc, distance):
    """vesin's cell grid kills the process (SIGFPE) beyond about 5e5 A; far fragments are listed slab by slab."""
    pair = Atoms("C2", positions=[[0, 0, 0], [distance, 0, 0]])
    single = Atoms("C", positions=[[0, 0, 0]])
    pair.calc = calc
    energy = pair.get_potential_energy()
    single.calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    assert energy == pytest.approx(2 * single.get_potential_energy(), abs=1e-10)


def test_slab_neighbour_list_equals_the_direct_one():
    from attnff import neighbors

    rng = np.random.default_rng(0)
    positions = np.concatenate([rng.uniform(0, 30, (200, 3)), rng.uniform(0, 30, (200, 3)) + [2e4, 0, 0]])
    positions[:, 0] += np.repeat([0.0, 1.0], 200) * 1e4  # clusters 3e4 A apart, wider than MAX_OPEN_EXTENT
    direct_i, direct_j, _ = __import__("ase.neighborlist").neighborlist.neighbor_list(
        "ijd", Atoms("H400", positions=positions), 3.0)
    edges, shifts = neighbors.neighbor_list(positions, np.zeros((3, 3)), np.zeros(3, bool), 3.0)
    assert neighbors.widest_open_axis(positions, np.zeros(3, bool)) == 0
    assert sorted(zip(*edges)) == sorted(zip(direct_i, direct_j)) and not shifts.any()


def test_a_million_atom_line_and_huge_coordinates_end_in_attnff_errors_or_numbers(calc):
    line = Atoms("C" * 3000, positions=np.column_stack([np.arange(3000) * 400.0, np.zeros(3000), np.zeros(3000)]))
    line.calc = calc
    assert np.isfinite(line.get_potential_energy())  # 1.2e6 A long, listed slab by slab
    far = Atoms("C2", positions=[[0, 0, 0], [1e9, 0, 0]])
    far.calc = calc
    with pytest.raises(InvalidStructureError, match="coordinates must be in Angstrom"):
        far.get_potential_energy()
    huge = Atoms("C", positions=[[0, 0, 0]], cell=np.eye(3) * 1e9, pbc=True)
    huge.calc = calc
    with pytest.raises(InvalidStructureError, match="cell vector is longer"):
        huge.get_potential_energy()


def test_geomatt_triplets_are_built_once_per_neighbour_list(monkeypatch):
    from attnff.models import geomatt

    builds = []
    original = geomatt.build_triplets
    monkeypatch.setattr(geomatt, "build_triplets", lambda *a, **k: builds.append(1) or original(*a, **k))
    atoms = molecule("CH3CH2OH")
    atoms.calc = AttnCalculator(small_potential("geomatt"), device="cpu", dtype="float64")
    for _ in range(5):
        atoms.positions[0, 0] += 0.01
        atoms.get_forces()
    assert atoms.calc.neighbors.builds == 1 and len(builds) == 1
