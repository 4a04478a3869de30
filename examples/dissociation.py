"""C-H dissociation of CH2 in the singlet and the triplet state with a charge/spin-aware potential.

One C-H bond is stretched from 0.9 to 4.0 Å (rigid: only that H atom moves), the other C-H bond stays
at 1.1 Å and the H-C-H angle at 130°. If the reference database exists (default: the project's
data/ch2_dissociation.db, B3LYP/cc-pVDZ), its DFT points on the same path are drawn as markers.

    python examples/dissociation.py                         # examples/output/ch2_dissociation_<potential>.png
    python examples/dissociation.py --potential cmret-ch2   # the potential trained without dissociation data
    python examples/dissociation.py --quick --out /tmp/ch2  # 12 points instead of 125

Writes ch2_dissociation_<potential>.png and .csv, <potential> the potential's name (or file stem).
"""

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.db import connect

from attnff import AttnCalculator, plots, scan

ROOT = Path(__file__).resolve().parents[1]
SINGLET, TRIPLET = (0, 1), (0, 3)
FIXED_BOND, ANGLE = 1.1, 130.0  # Å, degrees


def ch2(r1: float, r2: float, angle_deg: float) -> Atoms:
    """C at the origin, H1 on the x axis at r1 (Å), H2 in the xy plane at r2 and the H-C-H angle."""
    a = np.radians(angle_deg)
    return Atoms("CH2", positions=[[0.0, 0.0, 0.0], [r1, 0.0, 0.0], [r2 * np.cos(a), r2 * np.sin(a), 0.0]])


def reference_points(path: Path) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """DFT points of this path per state (charge, multiplicity): (stretched C-H (M,) Å, energies (M,) eV).

    Rows with kind="stretch", r2 = 1.1 Å and angle = 130°; data["S"] is the spin quantum number S.
    """
    points: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for row in connect(path).select(kind="stretch"):
        if np.isclose(row.r2, FIXED_BOND) and np.isclose(row.angle, ANGLE):
            state = (0, 2 * int(row.data["S"][0]) + 1)
            points.setdefault(state, []).append((row.r1, float(row.data["E"][0])))
    return {state: tuple(np.array(sorted(values)).T) for state, values in points.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="cmret-ch2-dissociation", help="shipped name or potential file")
    parser.add_argument("--reference", default=str(ROOT / "data" / "ch2_dissociation.db"),
                        help="ASE database with the DFT points (skipped if it does not exist)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("output")), help="output folder")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="reduced mode: 12 points")
    args = parser.parse_args()

    calc = AttnCalculator.load(args.potential, device="cpu", dtype=args.dtype)
    name = calc.potential_name
    distances = np.linspace(0.9, 4.0, 12 if args.quick else 125)
    result = scan.bond(ch2(FIXED_BOND, FIXED_BOND, ANGLE), calc, 0, 1, distances, states=[SINGLET, TRIPLET])

    reference = None
    if Path(args.reference).is_file():
        reference = {state: points for state, points in reference_points(Path(args.reference)).items()
                     if state in result.states}
        print(f"reference: {', '.join(f'{len(x)} points for {s}' for s, (x, _) in reference.items())} "
              f"from {args.reference}")
    else:
        print(f"no reference database at {args.reference}; drawing the potential only")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png, csv = out / f"ch2_dissociation_{name}.png", out / f"ch2_dissociation_{name}.csv"
    result.to_csv(csv)
    plots.scan_plot(result, png, reference=reference,
                    title=f"{name}: CH2 C–H stretch ({FIXED_BOND} Å, {ANGLE:.0f}°)")
    for s, state in enumerate(result.states):
        energies = result.energies[s]
        k = int(np.argmin(energies))
        print(f"state {state}: minimum at r = {distances[k]:.3f} Å, "
              f"E({distances[-1]:.1f} Å) − E_min = {energies[-1] - energies[k]:.3f} eV")
    print(f"wrote {png} and {csv}")


if __name__ == "__main__":
    main()
