"""attnff inside a real LAMMPS (scripts/build_lammps.sh): mpirun -np 1, 2, 4 against AttnCalculator, and NVE.

Behind the ``lammps`` marker (deselected by default; ``pytest -m lammps``); skipped with the reason when lmp,
mpirun or the ``lammps`` Python module is missing (under CI=true: failing). Every run uses the Kokkos host styles
(``-k on -sf kk -pk kokkos newton on neigh half``) and one torch thread per rank; 4 ranks oversubscribe a
2-core machine (``mpirun --oversubscribe``).
"""

import numpy as np
import pytest
import torch
from ase.build import molecule

from attnff.calculator import AttnCalculator
from attnff.datagen.ean import ean_box
from attnff.datagen.packing import pack_box
from attnff.lammps import AttnMLIAP, export_lammps
from attnff.model_file import resolve_potential, save_potential
from tests import lammps_run
from tests.conftest import skip_unless_ci, small_potential

pytestmark = pytest.mark.lammps


@pytest.fixture(autouse=True)
def _lammps_built():
    """Skip without lmp, mpirun or the lammps module, except under CI=true, where .ci/run builds them."""
    missing = lammps_run.missing_requirements()
    if missing is not None:
        skip_unless_ci(missing)

FORCE_TOL = 1e-6      # eV/A
ENERGY_TOL = 1e-6     # eV
STRESS_TOL = 1e-8     # eV/A^3 (0.016 bar)


def water_box(molecules=256, seed=7):
    """768 atoms of water at 1 g/cm3, molecules at least 1.5 A apart."""
    atoms = pack_box([molecule("H2O") for _ in range(molecules)], 1.0, seed=seed)
    atoms.info.update(charge=0, multiplicity=1)
    return atoms


def reference(path, atoms):
    atoms = atoms.copy()
    atoms.calc = AttnCalculator.load(path, device="cpu", dtype="float64")
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def check_static(path, atoms, ranks, workdir):
    pkl = export_lammps(path, workdir / "model.mliap.pkl", multiplicity=1, dtype="float64")  # neutral singlet
    elements = AttnMLIAP(path).element_types
    energy, forces, stress, press = lammps_run.static_point(atoms, pkl, elements, ranks, workdir)
    ref_energy, ref_forces, ref_stress = reference(path, atoms)
    errors = {"energy": abs(energy - ref_energy), "forces": np.abs(forces - ref_forces).max(),
              "stress": np.abs(stress - ref_stress).max(),
              "press_bar": abs(press + np.trace(ref_stress) / 3 * lammps_run.NKTV2P_METAL)}
    print(f"{len(atoms)} atoms, {ranks} ranks: E {energy:.10f} (ref {ref_energy:.10f}), max |F| "
          f"{np.abs(ref_forces).max():.3f} eV/A, P {press:.4f} bar; errors {errors}")
    assert errors["energy"] < ENERGY_TOL
    assert errors["forces"] < FORCE_TOL
    assert errors["stress"] < STRESS_TOL
    assert errors["press_bar"] < STRESS_TOL * lammps_run.NKTV2P_METAL
    return errors


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_jat_ean_240_atoms(tmp_path, ranks):
    """The shipped jat-ean (3 layers, angular terms) on a 240-atom EAN box, as attnff md evaluates it."""
    check_static(resolve_potential("jat-ean"), ean_box(16, seed=5), ranks, tmp_path)


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_cmret_water_768_atoms(tmp_path, ranks):
    """A random 3-layer CMRET (local attention; scalar and vector features exchanged) on 768 atoms of water."""
    potential = small_potential("cmret", species=(1, 8), num_layers=3, cutoff=4.0)
    potential.scale.fill_(100.0)  # forces of a few eV/A (the random weights alone give hundredths)
    path = save_potential(potential, tmp_path / "cmret.safetensors")
    check_static(path, water_box(), ranks, tmp_path)


@pytest.mark.parametrize("ranks", [2])
def test_jat_water_768_atoms(tmp_path, ranks):
    """jat-ean on the water box (H and O of its H C N O; types C and N are present but empty)."""
    check_static(resolve_potential("jat-ean"), water_box(), ranks, tmp_path)


def test_nve_conserves_energy_as_ase(tmp_path):
    """1000 NVE steps of 0.5 fs on the 240-atom EAN box, 2 ranks: same trajectory start and drift as ASE's Verlet."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    path = resolve_potential("jat-ean")
    atoms = ean_box(16, seed=5)
    thermalize_momenta(atoms, temperature_K=350, rng=np.random.default_rng(3))
    Stationary(atoms)
    steps, dt, every = 1000, 0.5, 10
    pkl = export_lammps(path, tmp_path / "model.mliap.pkl", dtype="float64")
    table, _ = lammps_run.nve(atoms, pkl, AttnMLIAP(path).element_types, 2, tmp_path, steps, dt, every)

    md_atoms = atoms.copy()
    md_atoms.calc = AttnCalculator.load(path, device="cpu", dtype="float64")
    dyn = VelocityVerlet(md_atoms, timestep=dt * units.fs)
    ase_total = []
    dyn.attach(lambda: ase_total.append(md_atoms.get_total_energy()), interval=every)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as attnff md below 200 atoms; two threads crawl on a shared 2-core machine
    try:
        dyn.run(steps)
    finally:
        torch.set_num_threads(threads)
    ase_total = np.array(ase_total)

    lmp_total = table[:, 3]
    assert len(lmp_total) == len(ase_total) == steps // every + 1
    # the same trajectory at first (chaos separates them later)
    assert abs(lmp_total[:6] - ase_total[:6]).max() < 1e-5
    spread = {"lammps": lmp_total.max() - lmp_total.min(), "ase": ase_total.max() - ase_total.min()}
    drift = {"lammps": lmp_total[-1] - lmp_total[0], "ase": ase_total[-1] - ase_total[0]}
    print(f"NVE {steps} x {dt} fs, 240 atoms: total-energy spread {spread}, drift {drift} eV")
    assert spread["lammps"] < 2 * spread["ase"] + 1e-3
    assert abs(drift["lammps"]) < 2 * abs(drift["ase"]) + 1e-3
