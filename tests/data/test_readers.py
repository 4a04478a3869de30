"""Readers: every format into eV and Angstrom, with unit conversion, charge and spin."""

import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect
from ase.io import write
from ase.units import Bohr, Hartree, kcal, mol

from attnff.data import DataSpec, read_configurations
from attnff.errors import ConfigError
from tests.conftest import shared_file


def _water(k):
    return Atoms("OH2", positions=[[0, 0, 0], [0.96 + 0.01 * k, 0, 0], [-0.24, 0.93, 0]])


def test_extxyz_with_stress_charge_and_multiplicity(tmp_path):
    frames = []
    for k in range(3):
        atoms = _water(k)
        atoms.set_cell([5, 5, 5])
        atoms.pbc = True
        atoms.info.update(charge=1, multiplicity=2)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - k, forces=np.full((3, 3), 0.1 * k),
                                           stress=np.arange(6) * 0.01)
        frames.append(atoms)
    write(tmp_path / "d.extxyz", frames)
    configs = read_configurations(DataSpec(str(tmp_path / "d.extxyz")))
    assert len(configs) == 3
    assert configs[2].energy == pytest.approx(-12.0)
    np.testing.assert_allclose(configs[2].forces, 0.2)
    assert configs[0].stress.shape == (3, 3) and configs[0].stress[1, 2] == pytest.approx(0.03)
    assert (configs[0].charge, configs[0].multiplicity) == (1, 2)
    assert configs[0].pbc.all()


def test_extxyz_in_hartree_bohr(tmp_path):
    atoms = _water(0)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.ones((3, 3)))
    write(tmp_path / "d.xyz", atoms, format="extxyz")
    (c,) = read_configurations(DataSpec(str(tmp_path / "d.xyz"), energy_unit="Hartree", length_unit="Bohr"))
    assert c.energy == pytest.approx(-Hartree)
    np.testing.assert_allclose(c.forces, Hartree / Bohr)
    np.testing.assert_allclose(c.positions, atoms.positions * Bohr)


def test_ase_db_with_data_keys_and_spin(tmp_path):
    with connect(tmp_path / "d.db") as db:
        for k in range(2):
            db.write(_water(k), data={"E": np.array([-5.0 - k]), "F": np.zeros((3, 3)), "S": np.array([float(k)])})
    configs = read_configurations(DataSpec(str(tmp_path / "d.db"), energy_key="E", forces_key="F", spin_key="S"))
    assert [c.multiplicity for c in configs] == [1, 3]
    assert configs[1].energy == -6.0


def test_ase_db_with_calculator_results(tmp_path):
    atoms = _water(0)
    atoms.calc = SinglePointCalculator(atoms, energy=-3.0, forces=np.zeros((3, 3)))
    with connect(tmp_path / "d.db") as db:
        db.write(atoms)
    (c,) = read_configurations(DataSpec(str(tmp_path / "d.db")))
    assert c.energy == -3.0 and c.forces.shape == (3, 3)


def test_npz_md17_style_in_kcal_mol(tmp_path):
    np.savez(tmp_path / "d.npz", R=np.stack([_water(k).positions for k in range(4)]), z=np.array([8, 1, 1]),
             E=np.full((4, 1), -100.0), F=np.ones((4, 3, 3)))
    configs = read_configurations(DataSpec(str(tmp_path / "d.npz"), energy_unit="kcal/mol"))
    assert len(configs) == 4
    assert configs[0].energy == pytest.approx(-100.0 * kcal / mol)
    np.testing.assert_allclose(configs[0].forces, kcal / mol)


def test_hdf5_ani_style_in_hartree(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        group = handle.create_group("set/mol-0")
        group["coordinates"] = np.stack([_water(k).positions for k in range(2)])
        group["energies"] = np.array([-76.0, -76.1])
        group["species"] = np.array([b"O", b"H", b"H"])
    configs = read_configurations(DataSpec(str(tmp_path / "d.h5"), energy_unit="Hartree"))
    assert len(configs) == 2 and list(configs[0].numbers) == [8, 1, 1]
    assert configs[1].energy == pytest.approx(-76.1 * Hartree)
    assert configs[0].forces is None


def test_unknown_format_and_unit(tmp_path):
    (tmp_path / "d.csv").write_text("x")
    with pytest.raises(ConfigError, match="format"):
        read_configurations(DataSpec(str(tmp_path / "d.csv")))
    with pytest.raises(ValueError, match="unknown energy unit"):
        read_configurations(DataSpec(str(tmp_path / "d.csv"), format="npz", energy_unit="furlong"))


def test_shared_md17_ethanol_units():
    configs = read_configurations(DataSpec(str(shared_file("md17_ethanol_2000.npz")), energy_unit="kcal/mol"))
    assert len(configs) == 2000 and len(configs[0]) == 9
    assert -4220 < configs[0].energy < -4210  # about -97208 kcal/mol


def test_shared_ch2_singlet_and_triplet():
    configs = read_configurations(DataSpec(str(shared_file("ch2_2000_train.db")), energy_key="E",
                                           forces_key="F", spin_key="S"))
    assert {c.multiplicity for c in configs} == {1, 3} and len(configs) == 1500


def test_shared_ani1_subset():
    configs = read_configurations(DataSpec(str(shared_file("ani1_gdb_s01.h5")), energy_unit="Hartree"))
    assert len(configs) == 5400 + 3600 + 1800
