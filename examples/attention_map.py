"""Attention maps of ethanol: which atoms each attention layer of a potential weighs.

One heat map per layer, row i the receiving atom, column j the sender, covalent bonds outlined. JAT and
CMRET weights are softmax weights (each row sums to 1, self weight on the diagonal); GeomAtt's alpha is a
signed, unnormalised coefficient, drawn on a diverging scale per layer.

    python examples/attention_map.py                                   # jat-md17-ethanol, every layer
    python examples/attention_map.py --potential geomatt-md17-ethanol
    python examples/attention_map.py --quick                           # first layer only
"""

import argparse
from pathlib import Path

import numpy as np
from ase.io import read

from attnff import AttnCalculator, plots
from attnff.attention_maps import attention_maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", default=str(Path(__file__).with_name("ethanol.xyz")))
    parser.add_argument("--potential", default="jat-md17-ethanol", help="shipped name or potential file")
    parser.add_argument("--out", default=str(Path(__file__).with_name("output")), help="output folder")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--quick", action="store_true", help="reduced mode: the first layer only")
    args = parser.parse_args()

    atoms = read(args.structure)
    calc = AttnCalculator.load(args.potential, device="cpu", dtype=args.dtype)
    name = calc.potential_name
    maps = attention_maps(calc, atoms)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"attention_{maps.model}.png"
    plots.attention_plot(maps, atoms, png, layers=[0] if args.quick else None,
                         title=f"{name}: ethanol attention maps (row i receives from column j)")
    symbols = atoms.get_chemical_symbols()
    off_diagonal = maps.matrices * (1 - np.eye(len(atoms)))  # (L, N, N), self weights removed
    for label, matrix, others in zip(maps.labels, maps.matrices, off_diagonal):
        i, j = np.unravel_index(np.argmax(np.abs(others)), others.shape)
        print(f"{label}: strongest pair {symbols[i]}{i} <- {symbols[j]}{j} ({others[i, j]:+.3f}), "
              f"mean self weight {np.diagonal(matrix).mean():.3f}")
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
