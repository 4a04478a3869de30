"""The angular densities on the CPU: padded batched product, direct (E, M, C) sum, and by receiver blocks.

    python benchmarks/angular_density.py                  # jat-ean on EAN boxes of 8 and 16 ion pairs
    python benchmarks/angular_density.py --rounds 10 --calls 30
    python benchmarks/angular_density.py --potential jat-md17-ethanol --water 6144 --rounds 2 --calls 3

``nn.scatter.segment_outer_sum`` contracts each receiver's edges in a zero-padded block with one
batched matrix product when it is given ``receiver_slots``; without them it sums the per-edge outer
products, (E, M, C) values, directly (the path a GPU and torch.compile take). On large systems a force
call lays out blocks of receivers one at a time instead (``nn.pair_kernels.angular_density``, "blocks"),
keeping no per-pair tensor for the backward pass; "padded" then means the whole layout at once. This
script times one energy + forces + stress call of the potential each way in one process (one thread,
float32, CPU time per call, median over --calls calls), alternating the order in every round so that drift
of a shared machine hits all, and prints the medians over rounds as a Markdown table.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16], help="EAN boxes of this many ion pairs")
    parser.add_argument("--water", type=int, nargs="+", default=[],
                        help="water boxes of 96 k^3 atoms instead (benchmarks/speed.py's systems)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    import torch

    from attnff import AttnCalculator
    from attnff.datagen.ean import ean_box
    from attnff.models import jat
    from attnff.nn.angular import AngularInvariants
    from speed import build_system

    torch.set_num_threads(1)
    padded_slots, blocks = jat.receiver_slots, AngularInvariants.density_blocks
    paths = {"direct": (lambda receivers, num_atoms: None, blocks),
             "padded": (padded_slots, lambda *args: None),
             "blocks": (padded_slots, blocks)}
    calc = AttnCalculator.load(args.potential, device="cpu", dtype="float32")
    lines = ["| system | atoms | pairs in the model | direct (ms) | padded (ms) | blocks (ms) | padded / direct "
             "| blocks / padded |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    systems = ([(f"water {n}", build_system(n)) for n in args.water] if args.water
               else [(f"EAN, {pairs} ion pairs", ean_box(pairs, seed=0)) for pairs in args.pairs])
    for label, atoms in systems:
        batch = calc.batch_for(atoms)
        times: dict[str, list[float]] = {name: [] for name in paths}
        for round_index in range(args.rounds):
            order = list(paths) if round_index % 2 == 0 else list(reversed(paths))
            for name in order:
                jat.receiver_slots, AngularInvariants.density_blocks = paths[name]
                calc.potential(batch, forces=True, stress=True)  # warm-up
                per_call = []
                for _ in range(args.calls):
                    started = time.thread_time()
                    calc.potential(batch, forces=True, stress=True)
                    per_call.append(time.thread_time() - started)
                times[name].append(statistics.median(per_call))
        jat.receiver_slots, AngularInvariants.density_blocks = padded_slots, blocks
        direct, padded, blocked = (1e3 * statistics.median(times[name]) for name in paths)
        lines.append(f"| {label} | {batch.numbers.shape[0]} | {batch.edge_index.shape[1]} | {direct:.1f} "
                     f"| {padded:.1f} | {blocked:.1f} | {padded / direct:.2f} | {blocked / padded:.2f} |")
    print(f"`python benchmarks/angular_density.py {' '.join(sys.argv[1:])}`: {args.potential}, energy + forces + "
          f"stress, CPU time per call, median of {args.calls} calls, median over {args.rounds} alternating rounds\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
