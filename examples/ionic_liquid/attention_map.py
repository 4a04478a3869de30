"""Attention across the ion pairs of one EAN configuration: which ions each ion's atoms listen to.

Left: atom-level map of the chosen layer (head average), atoms grouped by ion, ion borders drawn.
Right: the same weights summed per ion pair of receiver ion A (row) and sender ion B (column) and
divided by the atoms of A, so each row sums to 1: the share of A's attention that goes to B.
Also prints how much attention goes to the own ion, to counter-ions and to like ions.

    python examples/ionic_liquid/attention_map.py --out docs/images/attention_ean.png
"""

import argparse
from pathlib import Path

import numpy as np

from attnff import AttnCalculator
from attnff.analysis import molecule_ids
from attnff.attention_maps import attention_maps
from attnff.datagen.ean import ean_box


def ion_shares(matrix: np.ndarray, ions: np.ndarray) -> np.ndarray:
    """(M, M) share of the attention of ion a's atoms given to ion b's atoms; rows sum to 1."""
    count = ions.max() + 1
    onehot = np.eye(count)[ions]  # (N, M)
    summed = onehot.T @ matrix @ onehot  # (M, M)
    return summed / summed.sum(axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--pairs", type=int, default=4, help="ion pairs in the box")
    parser.add_argument("--layer", type=int, default=-1, help="layer index (default: last)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("attention_ean.png"))
    args = parser.parse_args(argv)

    from ase.optimize import FIRE

    box = ean_box(args.pairs, seed=args.seed)
    calc = AttnCalculator.load(args.potential, device="cpu", dtype="float64")
    box.calc = calc
    FIRE(box, maxstep=0.1, logfile=None).run(fmax=0.1, steps=200)
    ions = molecule_ids(box)
    cations = {k for k in set(ions) if box[ions == k].get_chemical_formula() == "C2H8N"}
    # order atoms by ion, cations first; label ions C1.. and A1..
    order = np.lexsort((np.arange(len(box)), ions, [k not in cations for k in ions]))
    ordered_ions = ions[order]
    _, first = np.unique(ordered_ions, return_index=True)
    ion_order = ordered_ions[np.sort(first)]
    relabel = {old: new for new, old in enumerate(ion_order)}
    ion_of_atom = np.array([relabel[k] for k in ordered_ions])
    names, n_cat, n_an = [], 0, 0
    for old in ion_order:
        if old in cations:
            n_cat += 1
            names.append(f"C{n_cat}")
        else:
            n_an += 1
            names.append(f"A{n_an}")

    maps = attention_maps(calc, box)
    layer = args.layer % len(maps.labels)
    matrix = maps.matrices[layer][np.ix_(order, order)]
    shares = ion_shares(matrix, ion_of_atom)
    is_cation = np.array([n.startswith("C") for n in names])
    own = np.mean(np.diag(shares))
    counter = np.mean([shares[a][is_cation != is_cation[a]].sum() for a in range(len(names))])
    like = 1.0 - own - counter
    print(f"{maps.labels[layer]}: own ion {own:.3f}, counter-ions {counter:.3f}, like ions {like:.3f}")

    symbols = np.array(box.get_chemical_symbols())[order]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 6), layout="constrained")
    image = left.imshow(matrix, cmap="viridis", vmin=0.0, vmax=np.quantile(matrix[matrix > 0], 0.98))
    borders = np.flatnonzero(np.diff(ion_of_atom)) + 0.5
    for b in borders:
        left.axhline(b, color="white", lw=0.4)
        left.axvline(b, color="white", lw=0.4)
    left.set_xticks(range(len(symbols)), symbols, fontsize=4)
    left.set_yticks(range(len(symbols)), symbols, fontsize=4)
    left.set_title(f"atoms ({maps.labels[layer]}, head average)")
    left.set_xlabel("sender j")
    left.set_ylabel("receiver i")
    figure.colorbar(image, ax=left, shrink=0.7, label="softmax weight")
    image = right.imshow(shares, cmap="magma")
    right.set_xticks(range(len(names)), names)
    right.set_yticks(range(len(names)), names)
    right.set_title(f"ions: share of attention (own {own:.2f}, counter-ions {counter:.2f}, like {like:.2f})")
    right.set_xlabel("sender ion")
    right.set_ylabel("receiver ion")
    figure.colorbar(image, ax=right, shrink=0.7, label="share of the row's attention")
    figure.suptitle(f"{calc.potential_name}: {args.pairs} EAN ion pairs (C = ethylammonium, A = nitrate)")
    figure.savefig(args.out, dpi=150)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
