"""Energy conservation in NVE molecular dynamics of ethanol; writes docs/energy_conservation.md.

    python benchmarks/energy_conservation.py                          # 10 ps per run: minutes to tens of minutes each
    python benchmarks/energy_conservation.py --steps 2000 --potentials jat-md17-ethanol

Each potential (the shipped ethanol potentials present among POTENTIALS, or --potentials, names or
files) runs in float64 and in float32 through ``attnff.md.run``: velocity Verlet from
examples/ethanol.xyz with Maxwell-Boltzmann velocities at 300 K (seed 0), time step 0.5 fs, on the CPU
with torch's default thread count. The table gives the drift (slope of a linear fit of the total
energy per atom against time), the standard deviation of the total energy per atom, the mean
temperature, whether an energy or position became NaN, and the wall time.
"""

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from attnff import AttnCalculator, list_potentials
from attnff.md import LOG, run

ROOT = Path(__file__).resolve().parents[1]
POTENTIALS = ("jat-md17-ethanol", "cmret-md17-ethanol", "geomatt-md17-ethanol")
TIMESTEP_FS, TEMPERATURE_K, SEED = 0.5, 300.0, 0


def measure(potential: str, dtype: str, steps: int) -> dict:
    """One NVE run; returns the table row's values (energies per atom in meV, times in s and ms)."""
    atoms = read(ROOT / "examples" / "ethanol.xyz")
    calc = AttnCalculator.load(potential, device="cpu", dtype=dtype)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run(atoms, calc, ensemble="nve", temperature_K=TEMPERATURE_K, timestep_fs=TIMESTEP_FS,
                      steps=steps, out_dir=out, seed=SEED, log_interval=10, traj_interval=max(steps, 1),
                      progress=False)
        wall = time.perf_counter() - started
        log = np.genfromtxt(Path(out) / LOG, delimiter=",", names=True, ndmin=1)
    total = log["etot_eV"][np.isfinite(log["etot_eV"])]
    return {
        "steps": summary.steps,
        "drift": summary.energy_drift_meV_atom_ps,
        "std": float(total.std() / len(atoms) * 1e3) if total.size else None,
        "temperature": summary.mean_temperature_K,
        "nan": summary.has_nan,
        "wall": wall,
        "ms_per_step": wall / max(summary.steps, 1) * 1e3,
        "failure": summary.failure,
    }


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20000, help="MD steps per run (default 20000 = 10 ps)")
    parser.add_argument("--potentials", nargs="+", help="names or files (default: the shipped ethanol potentials)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--output", default=str(ROOT / "docs" / "energy_conservation.md"))
    args = parser.parse_args()

    shipped = list_potentials()
    potentials = args.potentials or [name for name in POTENTIALS if name in shipped]
    if not potentials:
        raise SystemExit(f"none of {POTENTIALS} is shipped (found {sorted(shipped)}); pass --potentials")
    lines = [
        "# Energy conservation in NVE molecular dynamics",
        "",
        f"Written by `python benchmarks/energy_conservation.py` (--steps {args.steps}): ethanol "
        f"(examples/ethanol.xyz), velocity Verlet via `attnff.md.run`, time step {TIMESTEP_FS} fs, "
        f"Maxwell-Boltzmann velocities at {TEMPERATURE_K:.0f} K (seed {SEED}), zero momentum and angular "
        f"momentum. CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"thread(s), torch {torch.__version__}.",
        "",
        "Drift: slope of a linear fit of the total energy per atom against time. Std: standard deviation of "
        "the total energy per atom over the logged steps (every 10th). A run that hit NaN or an invalid "
        "structure stops there; its row covers the steps before.",
        "",
        "| potential | dtype | steps | drift (meV/atom/ps) | std E_tot (meV/atom) | mean T (K) | NaN "
        "| wall time (s) | ms/step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for potential in potentials:
        for dtype in args.dtypes:
            row = measure(potential, dtype, args.steps)
            name = Path(potential).stem if Path(potential).is_file() else potential
            lines.append(f"| {name} | {dtype} | {row['steps']} | {_number(row['drift'], 4)} "
                         f"| {_number(row['std'], 4)} | {_number(row['temperature'], 1)} "
                         f"| {'yes' if row['nan'] else 'no'} | {row['wall']:.1f} | {row['ms_per_step']:.2f} |")
            print(lines[-1] + (f"  ({row['failure']})" if row["failure"] else ""), flush=True)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
