"""Relax ethanol with BFGS, then compute its harmonic frequencies by finite differences (ase.vibrations).

Prints the frequencies in cm^-1 and writes a stick spectrum of the 3N - 6 internal modes
(ethanol_spectrum.png) and the relaxed structure (ethanol_relaxed.xyz). Sticks have unit height: the
potential gives no IR intensities. Imaginary frequencies, drawn in red below zero, mean the structure is
not a minimum (or the potential is not smooth enough there).

    python examples/optimize_and_vibrate.py                  # fmax 0.005 eV/Å, float64
    python examples/optimize_and_vibrate.py --quick          # fmax 0.05 eV/Å, at most 50 BFGS steps
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ase.io import read, write
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from attnff import AttnCalculator, plots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", default=str(Path(__file__).with_name("ethanol.xyz")))
    parser.add_argument("--potential", default="jat-md17-ethanol", help="shipped name or potential file")
    parser.add_argument("--out", default=str(Path(__file__).with_name("output")), help="output folder")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="reduced mode: loose relaxation")
    args = parser.parse_args()
    fmax, max_steps = (0.05, 50) if args.quick else (0.005, 1000)

    atoms = read(args.structure)
    calc = AttnCalculator.load(args.potential, device="cpu", dtype=args.dtype)
    name = calc.potential_name
    atoms.calc = calc
    start = atoms.get_potential_energy()
    optimizer = BFGS(atoms, logfile=None)
    converged = optimizer.run(fmax=fmax, steps=max_steps)
    largest = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    print(f"BFGS: {optimizer.nsteps} steps, energy {start:.4f} -> {atoms.get_potential_energy():.4f} eV, "
          f"largest force {largest:.4f} eV/Å ({'converged' if converged else 'NOT converged'} to {fmax} eV/Å)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write(out / "ethanol_relaxed.xyz", atoms)
    with tempfile.TemporaryDirectory() as cache:  # the displaced-structure forces, not kept
        vibrations = Vibrations(atoms, name=str(Path(cache) / "vib"), delta=0.01, nfree=2)  # delta in Å
        vibrations.run()
        vibrations.summary()  # mode, energy (meV), frequency (cm^-1)
        frequencies = vibrations.get_frequencies()  # (3N,) cm^-1, imaginary modes as imaginary numbers

    rigid = np.argsort(np.abs(frequencies))[:6]  # translations and rotations: the six smallest |frequency|
    internal = np.delete(frequencies, rigid)
    plots.spectrum_plot(internal, out / "ethanol_spectrum.png",
                        title=f"{name}: ethanol harmonic frequencies (3N − 6 = {len(internal)} modes)")
    imaginary = int(np.count_nonzero(np.abs(internal.imag) > np.abs(internal.real)))
    print(f"{len(internal)} internal modes, {imaginary} imaginary; highest {internal.real.max():.0f} cm^-1")
    print(f"wrote {out / 'ethanol_spectrum.png'} and {out / 'ethanol_relaxed.xyz'}")


if __name__ == "__main__":
    main()
