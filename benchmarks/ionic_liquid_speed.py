"""Seconds per MD step of jat-ean against its GFN-xTB reference (tblite) on the same EAN boxes.

    python benchmarks/ionic_liquid_speed.py                     # 8 and 16 ion pairs; writes docs/ionic_liquid_speed.md
    python benchmarks/ionic_liquid_speed.py --pairs 8 --reference-steps 3

Both run velocity Verlet (0.5 fs, 300 K Maxwell-Boltzmann start, seed 0) in one process on the
same CPU and the same box, packed and relaxed by the examples' builder (relaxed with jat-ean).
The step time is the median over the timed steps, after two warm-up steps; tblite reuses its
previous wavefunction as the SCF guess, as in MD with a reference code. Threads: torch and
OpenMP use the count given by --threads for both codes. With --compile the potential is also
timed with ``compile_model=True`` (torch.compile; the compiling first call is part of the warm-up
and reported apart). ``--clock cpu`` times the process's CPU time instead of wall time, for a
machine that other jobs share (both codes run with the same thread count, so the ratio stays fair).
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
sys.path.insert(0, str(ROOT / "examples" / "ionic_liquid"))


def _step_seconds(atoms, calculator, steps: int, clock) -> float:
    """Median time (s, by ``clock``) of one velocity-Verlet step, after two warm-up steps."""
    import numpy as np
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dynamics.run(2)
    times = []
    for _ in range(steps):
        started = clock()
        dynamics.run(1)
        times.append(clock() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--method", default="GFN1-xTB")
    parser.add_argument("--steps", type=int, default=50, help="timed steps of the potential")
    parser.add_argument("--reference-steps", type=int, default=5, help="timed steps of tblite")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time the potential with compile_model=True")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall time or process CPU time")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ionic_liquid_speed.md")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import torch
    from ase.optimize import FIRE

    from attnff import AttnCalculator
    from attnff.datagen.ean import ean_box
    from attnff.datagen.reference import method_description, tblite_calculator

    torch.set_num_threads(args.threads)
    rows = []
    for pairs in args.pairs:
        box = ean_box(pairs, seed=0)
        box.calc = AttnCalculator.load(args.potential, device="cpu")
        FIRE(box, maxstep=0.1, logfile=None).run(fmax=0.1, steps=200)
        calc = AttnCalculator.load(args.potential, device="cpu", dtype="float32")
        model = _step_seconds(box, calc, args.steps, clock)
        compiled = first_call = None
        if args.compile:
            calc = AttnCalculator.load(args.potential, device="cpu", dtype="float32", compile_model=True)
            started = time.perf_counter()
            calc.get_forces(box.copy())
            first_call = time.perf_counter() - started
            compiled = _step_seconds(box, calc, args.steps, clock) if calc.compiled else None
        reference = _step_seconds(box, tblite_calculator(args.method), args.reference_steps, clock)
        rows.append((pairs, len(box), model, compiled, first_call, reference))
        print(f"{pairs} pairs ({len(box)} atoms): {args.potential} {model * 1e3:.1f} ms/step"
              + (f", compiled {compiled * 1e3:.1f} ms/step (first call {first_call:.0f} s)" if compiled else "")
              + f", {args.method} {reference:.2f} s/step, ratio {reference / model:.0f}x")

    lines = [
        "# jat-ean against its reference: seconds per MD step",
        "",
        f"Written by `python benchmarks/ionic_liquid_speed.py {' '.join(sys.argv[1:])}` "
        f"on {time.strftime('%Y-%m-%d')}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s) "
        f"for both codes, torch {torch.__version__}, {method_description(args.method)}, load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Velocity Verlet, 0.5 fs, 300 K start, the same relaxed box for both; median step {args.clock} time "
        f"over {args.steps} ({args.potential}, float32) and {args.reference_steps} (tblite) steps after "
        "two warm-up steps. tblite starts each SCF from the previous step's wavefunction. The compiling "
        "call of the second box reuses the first box's compiled graph (same process, dynamic shapes).",
        "",
        f"| ion pairs | atoms | {args.potential} (ms/step) | {args.method} (s/step) | speed-up "
        "| compiled (ms/step) | first, compiling call (s) | speed-up, compiled |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p, n, m, c, first, r in rows:
        compiled_cells = f"{c * 1e3:.1f} | {first:.0f} | {r / c:.0f}x" if c else "- | - | -"
        lines.append(f"| {p} | {n} | {m * 1e3:.1f} | {r:.2f} | {r / m:.0f}x | {compiled_cells} |")
    met = [f"{n} atoms" for _, n, m, _, _, r in rows if r / m >= 100]
    lines += ["", "Goal (at least 100x faster than the reference), default (uncompiled) calculator: met on "
              f"{', '.join(met) or 'no box'} (boxes of {', '.join(str(n) for _, n, *_ in rows)} atoms)."]
    if args.compile:
        met = [f"{n} atoms" for _, n, _, c, _, r in rows if c and r / c >= 100]
        lines.append(f"With `compile_model=True`: met on {', '.join(met) or 'no box'}.")
    lines.append("")
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
