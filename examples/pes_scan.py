"""2-D potential energy surface of CH2, singlet and triplet: C-H bond length x H-C-H angle.

Both C-H bonds have the same length, 0.9 to 1.6 Å, and the angle runs from 80 to 180°; every point is a
rigid single point. ``attnff.scan.grid2d`` sets each coordinate by moving one atom, so a grid over
(C-H1, angle) would keep C-H2 fixed; for the symmetric stretch, each bond length is a rigid angle scan
(``attnff.scan.angle``) of a symmetric CH2, and the rows are stacked into one 2-D ScanResult. The maps
show the training domain of the CH2 data set as a dashed rectangle (C-H 0.95-1.20 Å, angle 90-140°);
the potential is an extrapolation outside it.

Writes ch2_pes.png (one energy map per state), ch2_st_gap.png (E_singlet − E_triplet) and ch2_pes.csv.

    python examples/pes_scan.py                     # 29 x 41 points per state
    python examples/pes_scan.py --quick --out /tmp/pes
"""

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms, units

from attnff import AttnCalculator, plots, scan

SINGLET, TRIPLET = (0, 1), (0, 3)
#: Range of the CH2 training set (both C-H bonds and the angle), in the coordinates of the grid.
TRAINING_DOMAIN = {"bond_0_1_A": [0.95, 1.20], "angle_1_0_2_deg": [90.0, 140.0]}


def ch2(r: float, angle_deg: float) -> Atoms:
    """Symmetric CH2: C at the origin, both H at r (Å), H1 on the x axis, H2 in the xy plane."""
    a = np.radians(angle_deg)
    return Atoms("CH2", positions=[[0.0, 0.0, 0.0], [r, 0.0, 0.0], [r * np.cos(a), r * np.sin(a), 0.0]])


def symmetric_grid(calc: AttnCalculator, bonds: np.ndarray, angles: np.ndarray) -> scan.ScanResult:
    """Rigid energies (S, P_bond, P_angle) in eV on the grid of equal C-H bonds (Å) and H-C-H angles (degrees)."""
    rows = [scan.angle(ch2(r, 100.0), calc, 1, 0, 2, angles, states=[SINGLET, TRIPLET]) for r in bonds]
    energies = np.stack([row.energies for row in rows], axis=1)
    return scan.ScanResult(coordinates=["bond_0_1_A", "angle_1_0_2_deg"], values=[bonds, angles],
                           states=rows[0].states, energies=energies, converged=np.ones(energies.shape, bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="cmret-ch2", help="shipped name or potential file")
    parser.add_argument("--out", default=str(Path(__file__).with_name("output")), help="output folder")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="reduced mode: a 5 x 6 grid")
    args = parser.parse_args()

    calc = AttnCalculator.load(args.potential, device="cpu", dtype=args.dtype)
    name = calc.potential_name
    bonds = np.linspace(0.9, 1.6, 5 if args.quick else 29)
    angles = np.linspace(80.0, 180.0, 6 if args.quick else 41)
    result = symmetric_grid(calc, bonds, angles)
    domain = calc.metadata.get("card", {}).get("domain") or TRAINING_DOMAIN  # the model card's, when recorded

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / "ch2_pes.csv")
    plots.grid_plot(result, out / "ch2_pes.png", training_domain=domain,
                    title=f"{name}: CH2, both C–H bonds equal")
    plots.gap_plot(result, out / "ch2_st_gap.png", upper=SINGLET, lower=TRIPLET, training_domain=domain,
                   title=f"{name}: E(singlet) − E(triplet); solid line: crossing")
    for s, state in enumerate(result.states):
        i, j = np.unravel_index(np.argmin(result.energies[s]), result.shape)
        print(f"state {state}: grid minimum at C-H {bonds[i]:.3f} Å, H-C-H {angles[j]:.1f}°, "
              f"E = {result.energies[s, i, j]:.4f} eV")
    singlet, triplet = (result.energies[result.states.index(state)] for state in (SINGLET, TRIPLET))
    gap = singlet.min() - triplet.min()
    print(f"adiabatic singlet-triplet gap on the grid: {gap:.3f} eV ({gap / (units.kcal / units.mol):.1f} kcal/mol)")
    print(f"wrote {out / 'ch2_pes.png'}, {out / 'ch2_st_gap.png'} and {out / 'ch2_pes.csv'}")


if __name__ == "__main__":
    main()
