"""Engine benchmark: the LAMMPS ML-IAP wrapper and i-PI clients against attnff's own ASE MD.

    python benchmarks/engines.py                    # both parts, writes benchmarks/results/engines.json
    python benchmarks/engines.py --part mliap       # only the ML-IAP wrapper (no LAMMPS needed)
    python benchmarks/engines.py --part ipi         # only i-PI (needs `pip install ipi`)
    python benchmarks/engines.py --part lammps      # LAMMPS steps/s against attnff md (needs scripts/build_lammps.sh)

mliap: the shipped jat-ean on an EAN box (``ean_box(pairs, seed=5)``), float64, one torch thread.
  ``attnff md`` step: AttnCalculator energy + forces + stress after a small displacement (list reused).
  ML-IAP, R domains: ``AttnMLIAP.compute_forces`` on the fake ML-IAP ranks of tests/test_lammps.py
  (slabs along x with ghosts and ghost exchange), each rank in its own thread; the pairs are built
  beforehand (LAMMPS's neighbour list, in C++, is not timed). Reported: the process CPU time per step
  (all ranks) and the wall time per step. Without a LAMMPS build this is the Python side of a LAMMPS
  step; LAMMPS's own integration and communication come on top.
ipi: ethanol (examples/ipi), jat-md17-ethanol, float64. ``ASE MD``: VelocityVerlet, 0.25 fs. i-PI:
  examples/ipi/input.xml with nbeads and total_steps changed, clients started as separate processes
  (``python -m attnff.ipi``). The time per step is the difference of the wall times of two runs of
  different lengths divided by their difference in steps, so start-up (i-PI, torch import) cancels.
  i-PI overhead per step = i-PI (1 bead, 1 client) per step - ASE MD per step.

lammps: the 240-atom EAN box (``ean_box(16, seed=5)``, 350 K Maxwell-Boltzmann velocities), jat-ean, float64,
  NVE 0.5 fs: LAMMPS (Kokkos host styles, one torch thread per rank) on 1 and 2 MPI ranks against
  ``attnff md --ensemble nve`` with 1 and 2 torch threads (see ``bench_lammps``).

Times are wall or CPU seconds on a machine shared with other jobs (the load average is stored with the
results); compare numbers of one run only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "engines.json"
sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


def bench_mliap(pairs: int, steps: int) -> dict:
    from attnff.calculator import AttnCalculator
    from attnff.datagen.ean import ean_box
    from attnff.lammps import AttnMLIAP
    from attnff.model_file import resolve_potential
    from tests.test_lammps import FakeCluster

    torch.set_num_threads(1)
    atoms = ean_box(pairs, seed=5)
    path = resolve_potential("jat-ean")
    calc = AttnCalculator.load(path, device="cpu", dtype="float64")
    atoms.calc = calc
    rng = np.random.default_rng(0)
    atoms.get_forces()
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(steps):
        atoms.positions += rng.normal(0, 0.002, atoms.positions.shape)
        atoms.get_forces(), atoms.get_stress()
    out = {"atoms": len(atoms), "attnff_md": {"wall_ms": (time.perf_counter() - start_wall) / steps * 1e3,
                                              "cpu_ms": (cpu_seconds() - start_cpu) / steps * 1e3}}
    for domains in (1, 2):
        models = [AttnMLIAP(path) for _ in range(domains)]
        cluster = FakeCluster(atoms, models[0].element_types, models[0].potential.cutoff, domains)
        cluster.run(models)  # warm-up
        start_wall, start_cpu = time.perf_counter(), cpu_seconds()
        for _ in range(steps):
            cluster.run(models)
        out[f"mliap_{domains}_domains"] = {"wall_ms": (time.perf_counter() - start_wall) / steps * 1e3,
                                          "cpu_ms": (cpu_seconds() - start_cpu) / steps * 1e3,
                                          "ntotal_per_rank": [d.ntotal for d in cluster.data]}
    return out


def run_attnff_md(workdir: Path, structure: Path, steps: int, threads: int) -> float:
    """Wall seconds of one `attnff md` NVE run of jat-ean (float64, CPU, ``threads`` torch threads)."""
    command = [sys.executable, "-m", "attnff", "md", str(structure), "--potential", "jat-ean", "--device", "cpu",
               "--dtype", "float64", "--threads", str(threads), "--ensemble", "nve", "--timestep", "0.5",
               "--temperature", "350", "--seed", "3", "--steps", str(steps), "--log-interval", "10",
               "--traj-interval", str(steps), "--no-progress", "--out", str(workdir / f"md_{threads}_{steps}")]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=workdir)
    return time.perf_counter() - start


def bench_lammps(tmp: Path, pairs: int, short: int, long: int) -> dict:
    """LAMMPS timesteps per second (NVE, jat-ean, 1 and 2 ranks) against `attnff md` on the same EAN box.

    LAMMPS: its own loop time of a ``long``-step run ("Loop time of ..."; set-up and the first force
    evaluation excluded). attnff md: (wall of a long run - wall of a short run) / (long - short), so start-up
    (imports, model load) cancels; one and two torch threads.
    """
    from ase.io import write
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from attnff.datagen.ean import ean_box
    from attnff.lammps import AttnMLIAP, export_lammps
    from tests import lammps_run

    if lammps_run.missing_requirements():
        return {"skipped": lammps_run.missing_requirements()}
    atoms = ean_box(pairs, seed=5)
    thermalize_momenta(atoms, temperature_K=350, rng=np.random.default_rng(3))
    Stationary(atoms)
    tmp.mkdir(parents=True, exist_ok=True)
    pkl = export_lammps("jat-ean", tmp / "jat-ean.mliap.pkl", multiplicity=1, dtype="float64")
    elements = AttnMLIAP("jat-ean").element_types
    out: dict = {"atoms": len(atoms), "steps": long}
    for ranks in (1, 2):
        _, loop = lammps_run.nve(atoms, pkl, elements, ranks, tmp, long, 0.5, every=long)
        out[f"lammps_{ranks}_ranks"] = {"loop_s": loop, "steps_per_s": long / loop}
    structure = tmp / "ean.extxyz"
    write(structure, atoms)
    for threads in (1, 2):
        t_short = run_attnff_md(tmp, structure, short, threads)
        t_long = run_attnff_md(tmp, structure, long, threads)
        out[f"attnff_md_{threads}_threads"] = {"steps_per_s": (long - short) / (t_long - t_short)}
    return out


def bench_ase_md(steps: int) -> float:
    from ase import units
    from ase.io import read
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from attnff.calculator import AttnCalculator

    torch.set_num_threads(1)
    atoms = read(ROOT / "examples" / "ipi" / "ethanol.xyz")
    atoms.calc = AttnCalculator.load("jat-md17-ethanol", device="cpu", dtype="float64")
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, 0.25 * units.fs)
    dyn.run(10)
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / steps


def run_ipi(workdir: Path, beads: int, steps: int, clients: int) -> float:
    """Wall seconds of one i-PI run (server start to exit) with ``clients`` client processes."""
    name = f"attnff-bench-{uuid.uuid4().hex[:8]}"
    text = (ROOT / "examples" / "ipi" / "input.xml").read_text()
    text = text.replace("<address>attnff-ethanol</address>", f"<address>{name}</address>")
    text = text.replace("<total_steps>2000</total_steps>", f"<total_steps>{steps}</total_steps>")
    text = text.replace("nbeads='8'", f"nbeads='{beads}'")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "input.xml").write_text(text)
    shutil.copy(ROOT / "examples" / "ipi" / "ethanol.xyz", workdir)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    server = subprocess.Popen(["i-pi", "input.xml"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    while not Path(f"/tmp/ipi_{name}").exists():
        time.sleep(0.05)
    procs = [subprocess.Popen([sys.executable, "-m", "attnff.ipi", "--potential", "jat-md17-ethanol", "--structure",
                               "ethanol.xyz", "--unix", name, "--device", "cpu"], cwd=workdir, env=env,
                              stdout=subprocess.DEVNULL) for _ in range(clients)]
    server.wait()
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


def bench_ipi(tmp: Path, short: int, long: int) -> dict:
    out = {"ase_md_ms_per_step": bench_ase_md(long) * 1e3}
    for beads, clients in ((1, 1), (8, 1), (8, 2)):
        n_short, n_long = (short, long) if beads == 1 else (short // 4, long // 4)
        t_short = run_ipi(tmp / f"b{beads}c{clients}s", beads, n_short, clients)
        t_long = run_ipi(tmp / f"b{beads}c{clients}l", beads, n_long, clients)
        out[f"ipi_{beads}_beads_{clients}_clients_ms_per_step"] = (t_long - t_short) / (n_long - n_short) * 1e3
    out["ipi_overhead_ms_per_step"] = out["ipi_1_beads_1_clients_ms_per_step"] - out["ase_md_ms_per_step"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "mliap", "ipi", "lammps"), default="all")
    parser.add_argument("--lammps-pairs", type=int, default=16, help="EAN ion pairs of the LAMMPS box (240 atoms)")
    parser.add_argument("--lammps-steps", type=int, nargs=2, default=[20, 120],
                        help="short and long attnff md runs; LAMMPS runs the long one")
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 27], help="EAN ion pairs (15 atoms each)")
    parser.add_argument("--steps", type=int, default=20, help="ML-IAP steps timed")
    parser.add_argument("--ipi-steps", type=int, nargs=2, default=[40, 240], help="short and long i-PI runs (1 bead)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    machine = {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(), "torch_threads": 1,
               "date": time.strftime("%Y-%m-%d %H:%M")}
    if args.part != "lammps":  # the LAMMPS part keeps its own machine record, beside its results
        results["machine"] = machine
    if args.part in ("all", "mliap"):
        results["mliap"] = [bench_mliap(p, args.steps) for p in args.pairs]
    if args.part in ("all", "ipi"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            results["ipi"] = bench_ipi(Path(tmp), *args.ipi_steps)
    if args.part in ("all", "lammps"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            results["lammps"] = bench_lammps(Path(tmp), args.lammps_pairs, *args.lammps_steps)
        results["lammps"]["machine"] = {**machine, "loadavg_at_end": os.getloadavg(), "torch_threads": "1 per rank"}
    if args.part != "lammps":
        results["machine"]["loadavg_at_end"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
