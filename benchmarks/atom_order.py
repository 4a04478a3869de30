"""Memory locality of the per-edge gathers and scatters: the atom labels and edge order the calculator uses.

    python benchmarks/atom_order.py                     # 6144, 20736 and 49152 atoms of water
    python benchmarks/atom_order.py --sizes 49152 --repeats 9

The message-passing core of every attnff model reads node rows for each edge (h[i], h[j]) and
adds per-edge rows back into nodes (index_add over i and j). This times exactly that pattern,
float32, 64 features, one thread, on periodic water boxes (benchmarks/speed.py's systems, cutoff
5 A) with the atoms in two input orders:

  as built   the replicated box as speed.py builds it: each 96-atom copy contiguous (local already);
  shuffled   the same atoms in random order, as after a long MD run in which molecules diffuse.

and the edges in four layouts: the neighbour-list builder's order in the input labels, sorted by
receiver, relabelled along a Morton curve (``attnff.neighbors.spatial_order``), and Morton plus
sorted by receiver (what ``AttnCalculator`` does at every list rebuild). Prints a Markdown table
of the median process CPU time per pass (ms) and ns per edge.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attnff.memory import keep_freed_memory
from attnff.neighbors import neighbor_list, spatial_order
from speed import build_system  # the same water boxes as the speed benchmark

CUTOFF = 5.0  # Angstrom, as the shipped ethanol potentials
WIDTH = 64


def edge_layouts(atoms) -> dict[str, torch.Tensor]:
    """(2, E) edge tensors of one structure in the four layouts (receiver row first)."""
    cell, pbc, positions = atoms.cell.array, atoms.pbc, atoms.positions

    def by_receiver(edges: torch.Tensor) -> torch.Tensor:
        return edges[:, torch.argsort(edges[0], stable=True)]

    plain = torch.from_numpy(neighbor_list(positions, cell, pbc, CUTOFF)[0])
    morton = torch.from_numpy(neighbor_list(positions[spatial_order(positions)], cell, pbc, CUTOFF)[0])
    return {"builder order": plain, "sorted by receiver": by_receiver(plain), "Morton labels": morton,
            "Morton + sorted (calculator)": by_receiver(morton)}


def time_pass(edges: torch.Tensor, num_atoms: int, repeats: int) -> float:
    """Median CPU seconds of one gather-add-scatter pass: m = h[i] + h[j], then index_add over i and j.

    One untimed pass first; freed memory is kept (as in the calculator), so page faults stay out.
    """
    h = torch.randn(num_atoms, WIDTH, generator=torch.Generator().manual_seed(0))
    i, j = edges
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        messages = h[i] + h[j]
        torch.zeros_like(h).index_add_(0, i, messages)
        torch.zeros_like(h).index_add_(0, j, messages)
        times.append(time.process_time() - start)
    return float(np.median(times[1:]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[6144, 20736, 49152])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    keep_freed_memory()
    print("| atoms | input order | edge layout | ms per pass | ns per edge |")
    print("| --- | --- | --- | --- | --- |")
    for n_atoms in args.sizes:
        built = build_system(n_atoms)
        shuffled = built[np.random.default_rng(0).permutation(n_atoms)]
        for input_order, atoms in (("as built", built), ("shuffled", shuffled)):
            for layout, edges in edge_layouts(atoms).items():
                seconds = time_pass(edges, n_atoms, args.repeats)
                print(f"| {n_atoms} | {input_order} | {layout} | {1e3 * seconds:.0f} | "
                      f"{1e9 * seconds / edges.shape[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
