"""attnff.md.run: every ensemble, files, restart, NPT refusal, summary, NaN handling."""

import json

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read

from attnff import AttnCalculator
from attnff.md import ENSEMBLES, LOG, LOG_COLUMNS, SUMMARY, TRAJECTORY, run
from tests.conftest import small_potential

FAST = dict(timestep_fs=0.25, log_interval=2, traj_interval=4, progress=False)


@pytest.fixture
def calc():
    return AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")


def _boxed_ethanol():
    atoms = molecule("CH3CH2OH")
    atoms.set_cell([7.0, 7.0, 7.0])
    atoms.center()
    atoms.pbc = True
    return atoms


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}, which is not valid JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def _log(path):
    return np.genfromtxt(path / LOG, delimiter=",", names=True, ndmin=1)


@pytest.mark.parametrize("ensemble", ENSEMBLES)
def test_each_ensemble_runs_and_writes_its_files(calc, tmp_path, ensemble):
    atoms = _boxed_ethanol() if ensemble == "npt" else molecule("CH3CH2OH")
    pressure = 1.0 if ensemble == "npt" else None
    summary = run(atoms, calc, ensemble=ensemble, steps=8, out_dir=tmp_path, pressure_bar=pressure, **FAST)

    assert summary.ok and not summary.has_nan
    assert (summary.ensemble, summary.steps, summary.n_atoms) == (ensemble, 8, 9)
    assert summary.time_ps == pytest.approx(8 * 0.25e-3)
    log = _log(tmp_path)
    assert log.dtype.names == LOG_COLUMNS
    np.testing.assert_array_equal(log["step"], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(log["etot_eV"], log["epot_eV"] + log["ekin_eV"])
    frames = read(tmp_path / TRAJECTORY, ":")
    assert [f.info["md_step"] for f in frames] == [0, 4, 8]
    np.testing.assert_allclose(frames[-1].positions, atoms.positions)
    np.testing.assert_allclose(frames[-1].get_momenta(), atoms.get_momenta())
    assert frames[-1].get_potential_energy() == pytest.approx(summary.final_potential_energy_eV)
    assert _strict_json(tmp_path / SUMMARY)["steps"] == 8
    if ensemble == "npt":
        assert np.isfinite(log["density_g_cm3"]).all() and np.isfinite(log["volume_A3"]).all()
        assert not np.allclose(frames[-1].cell.array, np.diag([7.0, 7.0, 7.0]))  # the barostat moved the cell
        half = log["density_g_cm3"][len(log["density_g_cm3"]) // 2:]
        assert _strict_json(tmp_path / SUMMARY)["mean_density_g_cm3"] == pytest.approx(half.mean())
    else:
        assert np.isnan(log["volume_A3"]).all()


def test_summary_fields_and_finite_nve_drift(calc, tmp_path):
    summary = run(molecule("CH3CH2OH"), calc, ensemble="nve", temperature_K=200.0, steps=20,
                  out_dir=tmp_path, **FAST)
    saved = _strict_json(tmp_path / SUMMARY)
    assert set(saved) == {"ensemble", "n_atoms", "steps", "time_ps", "timestep_fs", "temperature_K",
                          "pressure_bar", "mean_temperature_K", "energy_drift_meV_atom_ps",
                          "final_potential_energy_eV", "final_total_energy_eV", "has_nan", "failure",
                          "mean_density_g_cm3"}
    assert np.isfinite(summary.energy_drift_meV_atom_ps)
    assert abs(summary.energy_drift_meV_atom_ps) < 100.0  # float64, 0.25 fs: the total energy is nearly flat
    log = _log(tmp_path)
    assert summary.mean_temperature_K == pytest.approx(log["temperature_K"].mean())
    assert summary.final_total_energy_eV == pytest.approx(log["etot_eV"][-1])
    assert summary.pressure_bar is None and summary.failure is None


def test_thermostatted_runs_report_no_drift(calc, tmp_path):
    summary = run(molecule("CH3CH2OH"), calc, ensemble="nvt-langevin", steps=4, out_dir=tmp_path, **FAST)
    assert summary.energy_drift_meV_atom_ps is None


def test_molecule_starts_without_momentum_or_rotation(calc, tmp_path):
    atoms = molecule("CH3CH2OH")
    run(atoms, calc, ensemble="nve", steps=0, out_dir=tmp_path, **FAST)
    np.testing.assert_allclose(atoms.get_momenta().sum(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_angular_momentum(), 0.0, atol=1e-8)


def test_same_seed_same_run_and_other_seed_differs(calc, tmp_path):
    logs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run(molecule("CH3CH2OH"), calc, ensemble="nvt-langevin", steps=6, seed=seed, out_dir=tmp_path / name, **FAST)
        logs.append(_log(tmp_path / name)["etot_eV"])
    np.testing.assert_array_equal(logs[0], logs[1])
    assert not np.allclose(logs[0], logs[2])


def test_restart_continues_trajectory_and_log(calc, tmp_path):
    first = molecule("CH3CH2OH")
    run(first, calc, ensemble="nve", steps=10, out_dir=tmp_path, **FAST)
    summary = run(molecule("CH3CH2OH"), calc, ensemble="nve", steps=6, out_dir=tmp_path, restart=True, **FAST)

    assert summary.steps == 16
    assert summary.time_ps == pytest.approx(16 * 0.25e-3)
    frames = read(tmp_path / TRAJECTORY, ":")
    assert [f.info["md_step"] for f in frames] == [0, 4, 8, 10, 12, 16]
    log = _log(tmp_path)
    np.testing.assert_array_equal(log["step"], [0, 2, 4, 6, 8, 10, 12, 14, 16])  # no duplicated rows
    np.testing.assert_allclose(np.diff(log["time_ps"]), 2 * 0.25e-3)
    # the continuation starts exactly where the first run stopped: NVE total energy stays continuous
    assert abs(log["etot_eV"][-1] - log["etot_eV"][0]) < 1e-3
    np.testing.assert_allclose(frames[3].positions, first.positions)


def test_restart_trims_log_rows_after_the_last_frame(calc, tmp_path):
    run(molecule("CH3CH2OH"), calc, ensemble="nve", steps=6, out_dir=tmp_path, timestep_fs=0.25,
        log_interval=1, traj_interval=4, progress=False)
    with open(tmp_path / LOG, "a") as handle:  # rows of steps lost in a crash after the last frame
        handle.write("7,0.00175,0,0,0,0,nan,nan\n")
    run(molecule("CH3CH2OH"), calc, ensemble="nve", steps=2, out_dir=tmp_path, timestep_fs=0.25,
        log_interval=1, traj_interval=4, restart=True, progress=False)
    np.testing.assert_array_equal(_log(tmp_path)["step"], np.arange(9))


def test_restart_and_overwrite_are_explicit(calc, tmp_path):
    with pytest.raises(FileNotFoundError, match="restart"):
        run(molecule("CH3CH2OH"), calc, steps=2, out_dir=tmp_path, restart=True, **FAST)
    run(molecule("CH3CH2OH"), calc, steps=2, out_dir=tmp_path, **FAST)
    with pytest.raises(FileExistsError, match="restart=True"):
        run(molecule("CH3CH2OH"), calc, steps=2, out_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match="different structure"):
        run(molecule("H2O"), calc, steps=2, out_dir=tmp_path, restart=True, **FAST)


def test_npt_refuses_molecule_and_needs_pressure(calc, tmp_path):
    with pytest.raises(ValueError, match="periodic in all three directions"):
        run(molecule("CH3CH2OH"), calc, ensemble="npt", pressure_bar=1.0, steps=2, out_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match="pressure_bar"):
        run(_boxed_ethanol(), calc, ensemble="npt", steps=2, out_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match="only used by ensemble 'npt'"):
        run(molecule("CH3CH2OH"), calc, ensemble="nve", pressure_bar=1.0, steps=2, out_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match="ensemble must be one of"):
        run(molecule("CH3CH2OH"), calc, ensemble="nvt", steps=2, out_dir=tmp_path, **FAST)
    assert not (tmp_path / TRAJECTORY).exists()


class _NaNAfter(Calculator):
    """Wraps a calculator and returns a NaN energy from the given call on."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner, calls):
        super().__init__()
        self.inner, self.calls = inner, calls

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls -= 1
        energy = self.inner.get_potential_energy(self.atoms) if self.calls > 0 else float("nan")
        self.results = {"energy": energy, "free_energy": energy, "forces": self.inner.get_forces(self.atoms)}


def test_nan_stops_the_run_and_is_flagged(calc, tmp_path):
    summary = run(molecule("CH3CH2OH"), _NaNAfter(calc, 6), ensemble="nve", steps=20, out_dir=tmp_path, **FAST)
    assert summary.has_nan and not summary.ok
    assert "NaN" in summary.failure
    assert summary.steps == 4  # calls 1-5 are finite: the start and steps 1-4
    saved = _strict_json(tmp_path / SUMMARY)
    assert saved["has_nan"] is True
    assert np.isfinite(summary.final_total_energy_eV)
