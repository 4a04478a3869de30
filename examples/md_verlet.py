"""NVE molecular dynamics of ethanol with a shipped attnff potential; prints the energy drift.

    python examples/md_verlet.py --steps 1000            # 0.5 ps at 0.5 fs
"""

import argparse
from pathlib import Path

import numpy as np
from ase import units
from ase.io import read
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

from attnff import AttnCalculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", default=str(Path(__file__).with_name("ethanol.xyz")))
    parser.add_argument("--potential", default="jat-md17-ethanol")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K, initial Maxwell-Boltzmann")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    atoms = read(args.structure)
    atoms.calc = AttnCalculator.load(args.potential, dtype=args.dtype)
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    ZeroRotation(atoms)

    dyn = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    total = []
    dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
    dyn.run(args.steps)

    total = np.array(total)
    time_ps = np.arange(len(total)) * args.timestep * 1e-3
    drift = np.polyfit(time_ps, total / len(atoms), 1)[0] * 1e3  # meV/atom/ps
    print(f"{args.steps} steps of {args.timestep} fs with {args.potential} ({args.dtype})")
    print(f"final temperature {atoms.get_temperature():.1f} K")
    print(f"total energy: mean {total.mean():.4f} eV, std {total.std() * 1e3:.3f} meV, "
          f"drift {drift:+.4f} meV/atom/ps")
    if not np.isfinite(total).all():
        raise SystemExit("NaN in the total energy")


if __name__ == "__main__":
    main()
