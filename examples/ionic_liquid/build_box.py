"""Build a periodic EAN box for MD, relaxed with a potential so that MD starts from sensible contacts.

    python examples/ionic_liquid/build_box.py --pairs 16 --out ean_box.xyz              # relaxed with jat-ean
    python examples/ionic_liquid/build_box.py --pairs 16 --out ean_box.xyz --no-relax   # packed only
"""

import argparse
from pathlib import Path

from ase.io import write
from ase.optimize import FIRE

from attnff import AttnCalculator
from attnff.datagen.ean import EXPERIMENTAL_DENSITY, ean_box


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=16, help="ion pairs (15 atoms each)")
    parser.add_argument("--density", type=float, default=EXPERIMENTAL_DENSITY, help="g/cm3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--potential", default="jat-ean", help="relaxes the packed box (FIRE, fixed cell)")
    parser.add_argument("--steps", type=int, default=300, help="FIRE steps at most")
    parser.add_argument("--no-relax", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("ean_box.xyz"))
    args = parser.parse_args(argv)

    box = ean_box(args.pairs, args.density, seed=args.seed)
    if not args.no_relax:
        box.calc = AttnCalculator.load(args.potential)
        FIRE(box, maxstep=0.1, logfile=None).run(fmax=0.1, steps=args.steps)
        box.calc = None
    del box.arrays["molecule_id"]
    write(args.out, box)
    print(f"wrote {args.out}: {len(box)} atoms, edge {box.cell.lengths()[0]:.3f} A, {args.density} g/cm3")


if __name__ == "__main__":
    main()
