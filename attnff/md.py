"""Molecular dynamics with ASE's integrators: NVE, NVT (Langevin, Bussi, Nose-Hoover chain) and NPT (MTK).

``run`` sets up one of ASE's dynamics objects, attaches a CSV log, an ASE
trajectory and a progress bar, runs it and summarises the run (mean
temperature, NVE energy drift, final energies, NaN check). attnff has no MD
integrator of its own.

Files written to ``out_dir``:

- ``md.traj``: ASE trajectory; every frame holds positions, momenta, cell,
  energy, forces (stress for 3-D periodic cells) and ``info["md_step"]``,
  ``info["md_time_fs"]``, which a restart continues from.
- ``md_log.csv``: one row per logged step with the columns ``LOG_COLUMNS``:
  step, time (ps), potential/kinetic/total energy (eV), temperature (K),
  volume (A^3) and density (g/cm^3); volume and density are ``nan`` unless the
  cell is periodic in all three directions.
- ``summary.json``: the returned ``MDSummary`` as JSON.
"""

import csv
import json
import math
import os
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import Trajectory, read
from ase.md.velocitydistribution import Stationary, ZeroRotation

from .errors import InvalidStructureError
from .units import density_g_cm3

try:
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # ASE < 3.29
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    def thermalize_momenta(atoms, temperature_K, rng=None):
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)


__all__ = ["ENSEMBLES", "LOG_COLUMNS", "TRAJECTORY", "LOG", "SUMMARY", "MDSummary", "run"]

ENSEMBLES = ("nve", "nvt-langevin", "nvt-bussi", "nvt-nose-hoover", "npt")
LOG_COLUMNS = ("step", "time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K", "volume_A3",
               "density_g_cm3")
TRAJECTORY, LOG, SUMMARY = "md.traj", "md_log.csv", "summary.json"



@dataclass
class MDSummary:
    """What a run did, over the whole log (earlier segments included after a restart).

    Attributes:
        ensemble: one of ``ENSEMBLES``.
        n_atoms: number of atoms.
        steps: MD steps completed, counting restarted segments (for a stopped run, the last good step).
        time_ps: simulated time at that step, ps.
        timestep_fs: time step of the last segment, fs.
        temperature_K: target (thermostats) or initial Maxwell-Boltzmann temperature, K.
        pressure_bar: target pressure (NPT) in bar, else None.
        mean_temperature_K: mean instantaneous temperature over the logged steps, K (None without a
            finite row, as for the final energies).
        energy_drift_meV_atom_ps: slope of a linear fit of total energy per atom against time,
            meV/atom/ps; NVE only (None for thermostatted runs, whose total energy is not conserved).
        final_potential_energy_eV: potential energy of the last finite log row, eV.
        final_total_energy_eV: potential plus kinetic energy of the last finite log row, eV.
        has_nan: True when an energy or position became NaN or infinite; the run stopped there.
        failure: why the run stopped early (NaN, or a structure the potential refused such as
            overlapping atoms), None when all requested steps ran.
        mean_density_g_cm3: mean density over the second half of the logged steps (the first half
            counts as equilibration), g/cm3; None without a 3-D periodic cell.
    """

    ensemble: str
    n_atoms: int
    steps: int
    time_ps: float
    timestep_fs: float
    temperature_K: float
    pressure_bar: float | None
    mean_temperature_K: float | None
    energy_drift_meV_atom_ps: float | None
    final_potential_energy_eV: float | None
    final_total_energy_eV: float | None
    has_nan: bool
    failure: str | None = None
    mean_density_g_cm3: float | None = None

    @property
    def ok(self) -> bool:
        """All requested steps ran without NaN."""
        return self.failure is None and not self.has_nan


class _NonFinite(RuntimeError):
    """Raised by an observer to stop the dynamics at a NaN or infinite energy or position."""


def _check_args(atoms: Atoms, ensemble: str, temperature_K: float, timestep_fs: float, steps: int,
                pressure_bar: float | None, log_interval: int, traj_interval: int) -> None:
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {ensemble!r}")
    if timestep_fs <= 0 or not math.isfinite(timestep_fs):
        raise ValueError(f"timestep_fs must be positive, got {timestep_fs}")
    if temperature_K < 0 or not math.isfinite(temperature_K):
        raise ValueError(f"temperature_K must be >= 0, got {temperature_K}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")
    if log_interval < 1 or traj_interval < 1:
        raise ValueError(f"log_interval and traj_interval must be >= 1, got {log_interval}, {traj_interval}")
    if ensemble == "npt":
        if pressure_bar is None:
            raise ValueError("ensemble 'npt' needs pressure_bar")
        if not atoms.pbc.all():
            raise ValueError(
                f"NPT needs a cell periodic in all three directions; this structure has pbc={atoms.pbc.tolist()}. "
                "Use an NVE or NVT ensemble for molecules and slabs."
            )
    elif pressure_bar is not None:
        raise ValueError(f"pressure_bar is only used by ensemble 'npt', not {ensemble!r}")


def _dynamics(atoms: Atoms, ensemble: str, temperature_K: float, timestep_fs: float, pressure_bar: float | None,
              friction: float, tau_t_fs: float, tau_p_fs: float, rng: np.random.Generator):
    """The ASE dynamics object for ``ensemble``; times in fs, friction in 1/fs, pressure in bar."""
    dt = timestep_fs * units.fs
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if ensemble == "nvt-langevin":
        from ase.md.langevin import Langevin

        # fixcm=False: ASE's fixcm=True is deprecated (it biases the sampled distribution)
        return Langevin(atoms, timestep=dt, temperature_K=temperature_K, friction=friction / units.fs,
                        fixcm=False, rng=rng)
    if ensemble == "nvt-bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, timestep=dt, temperature_K=temperature_K, taut=tau_t_fs * units.fs, rng=rng)
    if ensemble == "nvt-nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=temperature_K, tdamp=tau_t_fs * units.fs)
    from ase.md.nose_hoover_chain import IsotropicMTKNPT

    return IsotropicMTKNPT(atoms, timestep=dt, temperature_K=temperature_K, pressure_au=pressure_bar * units.bar,
                           tdamp=tau_t_fs * units.fs, pdamp=tau_p_fs * units.fs)


def _log_row(atoms: Atoms, step: int, time_fs: float) -> list[float]:
    """One row of ``LOG_COLUMNS`` for the current state of ``atoms``."""
    epot, ekin = float(atoms.get_potential_energy()), float(atoms.get_kinetic_energy())
    volume = density = math.nan
    if atoms.pbc.all():
        volume = float(atoms.get_volume())
        density = density_g_cm3(atoms)
    return [step, time_fs * 1e-3, epot, ekin, epot + ekin, float(atoms.get_temperature()), volume, density]


def _frame(atoms: Atoms, step: int, time_fs: float) -> Atoms:
    """A copy of ``atoms`` for the trajectory, with the computed results and the step/time in info."""
    frame = atoms.copy()
    frame.info.update(md_step=int(step), md_time_fs=float(time_fs))
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}  # cached, not recomputed
    if "stress" in atoms.calc.results:
        results["stress"] = atoms.get_stress()
    frame.calc = SinglePointCalculator(frame, **results)
    return frame


class _Recorder:
    """Observers for an ASE dynamics object: CSV log rows, trajectory frames, progress bar and NaN check.

    A context manager owning the open log, trajectory and progress bar. Each
    writer skips a step it has already written, so the final step can be
    written unconditionally.

    Args:
        dyn: the ASE dynamics object, its ``nsteps`` already set to the starting step.
        out: output folder.
        restart: append to the log and trajectory instead of creating them.
        time0_fs: simulated time at the starting step, fs.
        timestep_fs: time step, fs.
        steps: steps to run, for the progress bar; None for no bar.
    """

    def __init__(self, dyn, out: Path, restart: bool, time0_fs: float, timestep_fs: float, steps: int | None):
        from tqdm.auto import tqdm

        self.dyn, self.atoms = dyn, dyn.atoms
        self.step0, self.time0_fs, self.timestep_fs = dyn.nsteps, time0_fs, timestep_fs
        self.written = {"log": -1, "traj": self.step0 if restart else -1}  # last step written to each file
        self._files = ExitStack()
        self._log = self._files.enter_context(open(out / LOG, "a" if restart else "w", newline=""))
        self._writer = csv.writer(self._log)
        if not restart:
            self._writer.writerow(LOG_COLUMNS)
        self._traj = self._files.enter_context(Trajectory(str(out / TRAJECTORY), "a" if restart else "w"))
        self._bar = self._files.enter_context(
            tqdm(total=steps or 0, disable=steps is None, unit="step", desc="md"))

    def __enter__(self) -> "_Recorder":
        return self

    def __exit__(self, *exc_info) -> None:
        self._files.close()

    def time_fs(self) -> float:
        """Simulated time at the current step, fs."""
        return self.time0_fs + (self.dyn.nsteps - self.step0) * self.timestep_fs

    def log(self) -> None:
        """Append a ``LOG_COLUMNS`` row for the current step."""
        if self.written["log"] == self.dyn.nsteps:
            return
        row = _log_row(self.atoms, self.dyn.nsteps, self.time_fs())
        self._writer.writerow(row)
        self._log.flush()
        self.written["log"] = self.dyn.nsteps
        self._bar.set_postfix(T=f"{row[5]:.0f} K", refresh=False)
        if not math.isfinite(row[4]):
            raise _NonFinite(f"NaN or infinite energy at step {self.dyn.nsteps}")

    def frame(self) -> None:
        """Append the current state to the trajectory."""
        if self.written["traj"] != self.dyn.nsteps:
            self._traj.write(_frame(self.atoms, self.dyn.nsteps, self.time_fs()))
            self.written["traj"] = self.dyn.nsteps

    def check(self) -> None:
        """Advance the progress bar; stop the dynamics at a NaN or infinite energy or position."""
        if self.dyn.nsteps > self.step0:
            self._bar.update(1)
        if not (math.isfinite(self.atoms.get_potential_energy()) and np.isfinite(self.atoms.positions).all()):
            raise _NonFinite(f"NaN or infinite energy or positions at step {self.dyn.nsteps}")


def _restart_state(atoms: Atoms, out: Path) -> tuple[int, float]:
    """Load the last trajectory frame into ``atoms``; return its (step, time in fs); trim the log after it."""
    traj_path = out / TRAJECTORY
    if not traj_path.is_file():
        raise FileNotFoundError(f"restart=True but {traj_path} does not exist; start a new run instead")
    last = read(traj_path, index=-1)
    assert isinstance(last, Atoms)  # one frame: index is an int
    if len(last) != len(atoms) or (last.numbers != atoms.numbers).any():
        raise ValueError(f"{traj_path} holds a different structure ({last.get_chemical_formula()}) "
                         f"than the one given ({atoms.get_chemical_formula()})")
    if "md_step" not in last.info:
        raise ValueError(f"{traj_path} was not written by attnff.md.run (its frames have no info['md_step'])")
    atoms.set_cell(last.cell, scale_atoms=False)
    atoms.pbc = last.pbc
    atoms.set_positions(last.positions)
    atoms.set_momenta(last.get_momenta())
    step, time_fs = int(last.info["md_step"]), float(last.info["md_time_fs"])
    # rows after the last frame come from steps that are now run again
    log_path = out / LOG
    if log_path.is_file():
        with open(log_path, newline="") as handle:
            rows = [row for row in csv.reader(handle)][1:]
        with open(log_path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(LOG_COLUMNS)
            writer.writerows(row for row in rows if int(row[0]) < step)  # step's row is rewritten on restart
    return step, time_fs


def _read_log(path: Path) -> dict[str, np.ndarray]:
    """The log CSV as a column name -> (rows,) array mapping."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    data = np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
    return {name: data[:, k] for k, name in enumerate(rows[0])}


def _summarise(log: dict[str, np.ndarray], atoms: Atoms, ensemble: str, steps: int, time_fs: float,
               timestep_fs: float, temperature_K: float, pressure_bar: float | None, has_nan: bool,
               failure: str | None) -> MDSummary:
    """Statistics over the finite rows of the log; NaN values become None so that the JSON stays valid."""
    finite = np.isfinite(log["etot_eV"]) & np.isfinite(log["temperature_K"])
    has_nan = has_nan or not finite.all()
    etot, time_ps = log["etot_eV"][finite], log["time_ps"][finite]
    drift = None
    if ensemble == "nve" and len(etot) >= 2:
        drift = float(np.polyfit(time_ps, etot / len(atoms), 1)[0] * 1e3)
    last = lambda key: float(log[key][finite][-1]) if finite.any() else None  # noqa: E731
    density = log["density_g_cm3"][finite]
    density = density[len(density) // 2:]
    mean_density = float(density.mean()) if len(density) and np.isfinite(density).all() else None
    return MDSummary(
        ensemble=ensemble, n_atoms=len(atoms), steps=int(steps), time_ps=time_fs * 1e-3,
        timestep_fs=timestep_fs, temperature_K=temperature_K, pressure_bar=pressure_bar,
        mean_temperature_K=float(np.mean(log["temperature_K"][finite])) if finite.any() else None,
        energy_drift_meV_atom_ps=drift, final_potential_energy_eV=last("epot_eV"),
        final_total_energy_eV=last("etot_eV"), has_nan=bool(has_nan), failure=failure,
        mean_density_g_cm3=mean_density,
    )


def run(atoms: Atoms, calculator: Calculator, ensemble: str = "nve", temperature_K: float = 300.0,
        timestep_fs: float = 0.5, steps: int = 1000, out_dir: str | os.PathLike = "md",
        pressure_bar: float | None = None, friction: float = 0.01, tau_t_fs: float | None = None,
        tau_p_fs: float | None = None, seed: int = 0, log_interval: int = 10, traj_interval: int = 10,
        restart: bool = False, progress: bool = True) -> MDSummary:
    """Run molecular dynamics with one of ASE's integrators and write trajectory, log and summary.

    A new run draws Maxwell-Boltzmann velocities at ``temperature_K`` from
    ``numpy.random.default_rng(seed)``, removes the centre-of-mass momentum
    and, for a structure without periodic directions, the total angular
    momentum. A restart instead continues from the last frame of
    ``out_dir/md.traj`` (positions, momenta, cell; step and time keep
    counting), appends to trajectory and log, and reseeds the stochastic
    thermostats from ``(seed, step)``. Thermostat and barostat variables
    (Nose-Hoover chain, MTK cell momentum) are not stored and restart at zero.

    Ensembles (all ASE classes):

    - ``"nve"``: ``VelocityVerlet``.
    - ``"nvt-langevin"``: ``Langevin`` with ``friction``.
    - ``"nvt-bussi"``: ``ase.md.bussi.Bussi`` (stochastic velocity rescaling), time constant ``tau_t_fs``.
    - ``"nvt-nose-hoover"``: ``ase.md.nose_hoover_chain.NoseHooverChainNVT``, time constant ``tau_t_fs``.
    - ``"npt"``: ``ase.md.nose_hoover_chain.IsotropicMTKNPT`` (Nose-Hoover chain thermostat, isotropic MTK
      barostat), needs ``pressure_bar`` and a cell periodic in all three directions.

    Args:
        atoms: structure, modified in place (positions, momenta, and the cell under NPT). Charge and
            multiplicity are read by the calculator from ``atoms.info``.
        calculator: ASE calculator (an ``AttnCalculator``); must give stress for NPT.
        ensemble: one of ``ENSEMBLES``.
        temperature_K: initial velocity temperature and thermostat target, K.
        timestep_fs: integration time step, fs.
        steps: number of steps to run in this call (a restart adds them to those already done).
        out_dir: output folder, created if missing.
        pressure_bar: external pressure for NPT, bar (1 atm = 1.01325 bar); None for other ensembles.
        friction: Langevin friction coefficient, 1/fs.
        tau_t_fs: thermostat time constant for Bussi, Nose-Hoover and NPT, fs; default 100 time steps.
        tau_p_fs: barostat time constant for NPT, fs; default 1000 time steps.
        seed: seed of the initial velocities and of the Langevin and Bussi noise.
        log_interval: write a log row every this many steps.
        traj_interval: write a trajectory frame every this many steps (the last step is always written).
        restart: continue from ``out_dir/md.traj``; if False, an existing trajectory there is an error.
        progress: show a tqdm progress bar.

    Returns:
        The run's ``MDSummary``, also written to ``out_dir/summary.json``. A run stopped by a NaN energy
        or a structure the calculator refuses is summarised up to that point, with ``has_nan`` and
        ``failure`` set, rather than raised.

    Raises:
        ValueError: unknown ensemble, bad parameters, NPT for a structure not periodic in 3-D, or a
            restart trajectory that does not match ``atoms``.
        FileExistsError: ``restart=False`` and ``out_dir`` already holds a trajectory.
        FileNotFoundError: ``restart=True`` and there is no trajectory to continue.
    """
    _check_args(atoms, ensemble, temperature_K, timestep_fs, steps, pressure_bar, log_interval, traj_interval)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tau_t_fs = 100 * timestep_fs if tau_t_fs is None else tau_t_fs
    tau_p_fs = 1000 * timestep_fs if tau_p_fs is None else tau_p_fs
    atoms.calc = calculator

    if restart:
        step0, time0_fs = _restart_state(atoms, out)
        rng = np.random.default_rng([seed, step0])
    else:
        if (out / TRAJECTORY).exists():
            raise FileExistsError(f"{out / TRAJECTORY} exists; pass restart=True to continue it, "
                                  "or choose another output folder")
        step0, time0_fs = 0, 0.0
        rng = np.random.default_rng(seed)
        thermalize_momenta(atoms, temperature_K, rng=rng)
        Stationary(atoms)
        if not atoms.pbc.any():
            ZeroRotation(atoms)
    atoms.get_forces()  # an invalid structure or refused charge/spin fails here, before any file is touched

    dyn = _dynamics(atoms, ensemble, temperature_K, timestep_fs, pressure_bar, friction, tau_t_fs, tau_p_fs, rng)
    dyn.nsteps = step0  # continue the step count; observers fire on multiples of their interval
    failure, has_nan = None, False
    with _Recorder(dyn, out, restart, time0_fs, timestep_fs, steps if progress else None) as recorder:
        dyn.attach(recorder.check, interval=1)
        dyn.attach(recorder.log, interval=log_interval)
        dyn.attach(recorder.frame, interval=traj_interval)
        try:
            recorder.log()  # the starting state: step 0, or the restart frame (whose row was trimmed)
            recorder.frame()  # skipped on restart: the frame is already in the trajectory
            dyn.run(steps)
        except _NonFinite as error:  # raised after the step that produced it
            failure, has_nan = str(error), True
            dyn.nsteps -= 1
        except InvalidStructureError as error:  # raised inside the step: the dynamics left the valid domain
            has_nan = not np.isfinite(atoms.positions).all()
            failure = f"stopped after step {dyn.nsteps}: {error}"
        if failure is None:
            recorder.log()
            recorder.frame()
        time_fs = recorder.time_fs()

    summary = _summarise(_read_log(out / LOG), atoms, ensemble, dyn.nsteps, time_fs, timestep_fs, temperature_K,
                         pressure_bar, has_nan, failure)
    with open(out / SUMMARY, "w") as handle:
        json.dump(asdict(summary), handle, indent=2)
        handle.write("\n")
    return summary
