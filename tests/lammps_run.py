"""Run a real LAMMPS (``lmp`` built by scripts/build_lammps.sh) under mpirun on an ASE structure.

Used by tests/test_lammps_mpi.py and benchmarks/engines.py. LAMMPS runs the Kokkos host styles
(``-k on -sf kk -pk kokkos newton on neigh half``), the only ML-IAP coupling with ghost exchange, with
``pair_style mliap unified FILE 0`` on a file written by ``attnff.lammps.export_lammps``.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write

#: LAMMPS's pressure conversion in metal units (force->nktv2p): bar per eV/A^3
NKTV2P_METAL = 1.6021765e6
KOKKOS_ARGS = ["-k", "on", "-sf", "kk", "-pk", "kokkos", "newton", "on", "neigh", "half"]


def find_lmp() -> str | None:
    """The lmp executable: $ATTNFF_LMP, else `lmp` on PATH, else next to this Python (the build script's default)."""
    candidates = [os.environ.get("ATTNFF_LMP"), shutil.which("lmp"), str(Path(sys.prefix) / "bin" / "lmp")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def missing_requirements() -> str | None:
    """Why LAMMPS runs cannot be made here (None when they can)."""
    if find_lmp() is None:
        return "no lmp executable (build it with scripts/build_lammps.sh, or set ATTNFF_LMP)"
    if shutil.which("mpirun") is None:
        return "no mpirun (apt-get install openmpi-bin)"
    try:
        import lammps  # noqa: F401 -- the ML-IAP coupling imports lammps.mliap inside lmp
    except ImportError:
        return "no `lammps` Python module (scripts/build_lammps.sh installs it with make install-python)"
    return None


def write_data(atoms: Atoms, elements: list[str], path: Path, velocities: bool = False) -> None:
    """LAMMPS data file (metal units, atomic style), atom types 1..len(elements) in the potential's element order."""
    atoms = atoms.copy()
    atoms.wrap()
    write(path, atoms, format="lammps-data", specorder=list(elements), masses=True, units="metal",
          velocities=velocities)


def header(data: str, potential_file: str, elements: list[str]) -> str:
    return (f"units metal\natom_style atomic\nboundary p p p\natom_modify map array sort 0 0.0\n"
            f"read_data {data}\n"
            f"pair_style mliap unified {potential_file} 0\npair_coeff * * {' '.join(elements)}\n"
            "neighbor 1.0 bin\nneigh_modify every 1 delay 0 check yes\n")


def run(workdir: Path, script: str, ranks: int, timeout: float = 1800, name: str = "in.attnff",
        extra_env: dict | None = None) -> tuple[str, float]:
    """Write ``script`` into workdir and run it on ``ranks`` MPI ranks (one torch thread each); (stdout, seconds)."""
    workdir = Path(workdir)
    (workdir / name).write_text(script)
    env = {"OMP_NUM_THREADS": "1", **(extra_env or {})}
    exports = [arg for key in env for arg in ("-x", key)]
    command = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", str(ranks), *exports, find_lmp(),
               *KOKKOS_ARGS, "-nocite", "-in", name, "-log", f"log.{ranks}.lammps"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"LAMMPS failed ({done.returncode}) on {ranks} ranks:\n{done.stdout[-4000:]}\n"
                           f"{done.stderr[-4000:]}")
    return done.stdout, seconds


def _values(stdout: str, tag: str) -> np.ndarray:
    lines = [line for line in stdout.splitlines() if line.startswith(tag + " ")]
    return np.array([[float(v) for v in line.split()[1:]] for line in lines])


def static_point(atoms: Atoms, potential_file: Path, elements: list[str], ranks: int, workdir: Path):
    """LAMMPS's energy (eV), forces (N, 3) eV/A in the atoms' order, and virial stress (3, 3) eV/A^3 (ASE's sign).

    No velocities: LAMMPS's pressure is then the virial alone, P_ab = -stress_ab * nktv2p.
    """
    workdir = Path(workdir)
    write_data(atoms, elements, workdir / "static.data")
    dump = f"forces.{ranks}.dump"
    script = header("static.data", str(potential_file), elements) + (
        f"dump forces all custom 1 {dump} id fx fy fz\n"
        "dump_modify forces sort id format float %.17g\n"
        "run 0\n"
        'print "RESULT $(pe:%.17g) $(pxx:%.17g) $(pyy:%.17g) $(pzz:%.17g) $(pyz:%.17g) $(pxz:%.17g) '
        '$(pxy:%.17g) $(press:%.17g)"\n')
    stdout, _ = run(workdir, script, ranks)
    values = _values(stdout, "RESULT")[0]
    energy = values[0]
    xx, yy, zz, yz, xz, xy = -values[1:7] / NKTV2P_METAL
    stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    lines = (workdir / dump).read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("ITEM: ATOMS"))) + 1
    table = np.array([[float(v) for v in line.split()] for line in lines[start:start + len(atoms)]])
    forces = table[np.argsort(table[:, 0]), 1:]
    return energy, forces, stress, values[7]


def nve(atoms: Atoms, potential_file: Path, elements: list[str], ranks: int, workdir: Path, steps: int,
        timestep_fs: float, every: int = 10):
    """Velocity Verlet from the atoms' positions and velocities; (table of step, pe, ke, etotal; seconds of the run).

    The seconds are LAMMPS's own loop time for the ``run`` (its "Loop time of ... on N procs" line).
    """
    workdir = Path(workdir)
    write_data(atoms, elements, workdir / "nve.data", velocities=True)
    script = header("nve.data", str(potential_file), elements) + (
        f"timestep {timestep_fs / 1000.0}\nfix nve all nve\n"
        "thermo_style custom step pe ke etotal\nthermo_modify format float %.15g\n"
        f"thermo {every}\nrun {steps}\n")
    stdout, _ = run(workdir, script, ranks, name="in.nve")
    rows, table = stdout.splitlines(), []
    start = next(i for i, line in enumerate(rows) if line.split()[:4] == ["Step", "PotEng", "KinEng", "TotEng"])
    for line in rows[start + 1:]:
        parts = line.split()
        if len(parts) != 4 or not re.fullmatch(r"\d+", parts[0]):
            break
        table.append([float(p) for p in parts])
    loop = re.search(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", stdout)
    return np.array(table), float(loop.group(1))
