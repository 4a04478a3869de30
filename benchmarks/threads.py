"""Per-call time of the calculator with 1 thread against torch's default, for small and medium systems.

    python benchmarks/threads.py                  # writes benchmarks/results/threads.md
    python benchmarks/threads.py --calls 50 --out /tmp/threads.md

Each (potential, system, threads) case runs in its own process: torch.set_num_threads(n) (n = 0 keeps
torch's default, one thread per core), then energy+forces calls on a structure whose positions move by
0.01 A per call (the neighbour list is reused, as in MD). Reported: the median wall time per call and the
CPU time per call (process CPU seconds / calls), and the machine's load average when the case ran.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [("jat-md17-ethanol", "ethanol"), ("cmret-md17-ethanol", "ethanol"), ("geomatt-md17-ethanol", "ethanol"),
         ("jat-md17-ethanol", "water-768"), ("cmret-md17-ethanol", "water-768")]

CHILD = r"""
import json, sys, time, os
import numpy as np, torch
threads = int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
from ase.io import read
from ase.build import molecule
from attnff import AttnCalculator
if sys.argv[2] == "ethanol":
    atoms = read(sys.argv[4])
else:  # 768 atoms: 256 water molecules on a rattled 3.1 A grid, periodic
    water = molecule("H2O")
    water.set_cell([3.1, 3.1, 3.1]); water.center(); water.pbc = True
    atoms = water.repeat((8, 8, 4)); atoms.rattle(0.05, seed=1)
atoms.calc = AttnCalculator.load(sys.argv[1], device="cpu", dtype="float32")
calls = int(sys.argv[5])
atoms.get_forces()
walls = []
cpu0 = time.process_time()
for k in range(calls):
    atoms.positions[k % len(atoms), 0] += 0.01
    t0 = time.perf_counter(); atoms.get_forces(); walls.append(time.perf_counter() - t0)
cpu = (time.process_time() - cpu0) / calls
print(json.dumps({"wall_ms": 1e3 * float(np.median(walls)), "cpu_ms": 1e3 * cpu,
                  "threads_used": torch.get_num_threads()}))
"""


def run_case(potential: str, system: str, threads: int, calls: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads) if threads else ""}
    if not threads:
        env.pop("OMP_NUM_THREADS")
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", CHILD, potential, system, str(threads),
                          str(ROOT / "examples" / "ethanol.xyz"), str(calls if system == "ethanol" else calls // 5)],
                         capture_output=True, text=True, check=True, env=env)
    return {"potential": potential, "system": system, "threads": threads, "load": load,
            **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="calls per case (a fifth for the 768-atom box)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "threads.md")
    args = parser.parse_args()
    rows = []
    for potential, system in CASES:
        for threads in (1, 0):  # interleaved: one thread, then torch's default
            rows.append(run_case(potential, system, threads, args.calls))
            print(json.dumps(rows[-1]), flush=True)
    lines = [f"# Calculator time per call: one thread against torch's default ({time.strftime('%Y-%m-%d')})", "",
             f"`python benchmarks/threads.py --calls {args.calls}`; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores; float32, energy + forces, list reused. Load = 1-minute load average when the "
             "case started (above 0.5 the machine was busy with other jobs).", "",
             "| potential | system | threads | wall ms/call | CPU ms/call | load |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        default = "" if r["threads"] else " (default)"
        lines.append(f"| {r['potential']} | {r['system']} | {r['threads_used']}{default} "
                     f"| {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | {r['load']:.1f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
