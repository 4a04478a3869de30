"""The angular densities of JAT on the CPU: padded batched product against the direct (E, M, C) sum.

    python benchmarks/angular_density.py                  # jat-ean on EAN boxes of 8 and 16 ion pairs
    python benchmarks/angular_density.py --rounds 10 --calls 30

``nn.scatter.segment_outer_sum`` contracts each receiver's edges in a zero-padded block with one
batched matrix product when it is given ``receiver_slots``; without them it sums the per-edge outer
products, (E, M, C) values, directly (the path a GPU and torch.compile take). This script times one
energy + forces + stress call of the potential both ways in one process (one thread, float32, CPU time
per call, median over --calls calls), alternating the two in every round so that drift of a shared
machine hits both, and prints the medians over rounds as a Markdown table.
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
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    import torch

    from attnff import AttnCalculator
    from attnff.datagen.ean import ean_box
    from attnff.models import jat

    torch.set_num_threads(1)
    padded_slots = jat.receiver_slots
    paths = {"direct": lambda receivers, num_atoms: None, "padded": padded_slots}
    calc = AttnCalculator.load(args.potential, device="cpu", dtype="float32")
    lines = ["| ion pairs | atoms | pairs in the model | direct (ms) | padded (ms) | speed-up |",
             "| --- | --- | --- | --- | --- | --- |"]
    for pairs in args.pairs:
        batch = calc.batch_for(ean_box(pairs, seed=0))
        times = {name: [] for name in paths}
        for round_index in range(args.rounds):
            order = list(paths) if round_index % 2 == 0 else list(reversed(paths))
            for name in order:
                jat.receiver_slots = paths[name]
                calc.potential(batch, forces=True, stress=True)  # warm-up
                per_call = []
                for _ in range(args.calls):
                    started = time.thread_time()
                    calc.potential(batch, forces=True, stress=True)
                    per_call.append(time.thread_time() - started)
                times[name].append(statistics.median(per_call))
        jat.receiver_slots = padded_slots
        direct, padded = (1e3 * statistics.median(times[name]) for name in ("direct", "padded"))
        lines.append(f"| {pairs} | {batch.numbers.shape[0]} | {batch.edge_index.shape[1]} "
                     f"| {direct:.1f} | {padded:.1f} | {direct / padded:.2f}x |")
    print(f"`python benchmarks/angular_density.py {' '.join(sys.argv[1:])}`: {args.potential}, energy + forces + "
          f"stress, CPU time per call, median of {args.calls} calls, median over {args.rounds} alternating rounds\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
