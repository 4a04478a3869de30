"""NVE molecular dynamics of ethanol with a shipped attnff potential; prints the energy drift.

    python examples/md_verlet.py --steps 1000            # 0.5 ps at 0.5 fs

The run starts from the optimised geometry in examples/ethanol.xyz with Maxwell-Boltzmann velocities at
--temperature. In NVE nothing holds the temperature there: the kinetic energy flows into the potential
energy of the vibrations until the two share it about equally (equipartition), so the mean temperature
settles near half the starting value (about 150 K from 300 K). For a run at 300 K, thermalise first, e.g.
`attnff md examples/ethanol.xyz --potential jat-md17-ethanol --ensemble nvt --temperature 300 ...` and
continue from its last frame in NVE, or start NVE at twice the target temperature.
"""

import argparse
import tempfile
from pathlib import Path

from ase.io import read

from attnff import AttnCalculator
from attnff.md import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", default=str(Path(__file__).with_name("ethanol.xyz")))
    parser.add_argument("--potential", default="jat-md17-ethanol")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="K, initial Maxwell-Boltzmann velocities (the mean settles near half of it)")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for md.traj, md_log.csv, summary.json (default: a temporary one)")
    args = parser.parse_args()

    atoms = read(args.structure)
    calc = AttnCalculator.load(args.potential, dtype=args.dtype)
    out = args.out or tempfile.mkdtemp(prefix="md_verlet_")
    summary = run(atoms, calc, ensemble="nve", temperature_K=args.temperature, timestep_fs=args.timestep,
                  steps=args.steps, out_dir=out, seed=args.seed, log_interval=1, progress=False)
    print(f"{summary.steps} steps of {args.timestep} fs with {args.potential} ({args.dtype}); files in {out}")
    print(f"mean temperature {summary.mean_temperature_K:.1f} K (started at {args.temperature:g} K from the "
          "minimum: in NVE about half of it goes into potential energy)")
    print(f"drift {summary.energy_drift_meV_atom_ps:+.4f} meV/atom/ps")
    if not summary.ok:
        raise SystemExit(f"the run failed: {summary.failure or 'NaN'}")


if __name__ == "__main__":
    main()
