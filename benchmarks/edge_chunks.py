"""The edge-chunked force path against the plain layers, and the chunk size (attnff/nn/chunks.py).

    python benchmarks/edge_chunks.py                                   # JAT, 96 and 768 water atoms
    python benchmarks/edge_chunks.py --models jat cmret --atoms 768 --dtypes float32 float64
    python benchmarks/edge_chunks.py --ean 8 16                         # jat-ean on EAN boxes instead

One energy + forces call through the calculator, one thread, CPU time per call (median over --calls
calls after one warm-up call), for the plain layers (``chunk_edges = False``) and for the chunked path
with each chunk size given in bytes of the widest per-edge temporary (``--chunk-bytes``; the chunked
path is forced on even below ``MIN_CHUNKED_BYTES``). All variants run in one process and alternate in
every round, so that drift of a shared machine hits all of them; prints the median over rounds and
the spread as a Markdown table.
"""

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SHIPPED = {"jat": "jat-md17-ethanol", "cmret": "cmret-md17-ethanol", "geomatt": "geomatt-md17-ethanol"}


def set_variant(variant: str) -> None:
    """'plain', or a chunk size in bytes for the chunked path."""
    from attnff.models.cmret import CMRETLayer
    from attnff.models.geomatt import GeomAttention
    from attnff.models.jat import JATLayer
    from attnff.nn import chunks

    chunked = variant != "plain"
    JATLayer.chunk_edges = CMRETLayer.chunk_edges = GeomAttention.chunk_triplets = chunked
    if chunked:
        chunks.CPU_CHUNK_BYTES = int(variant)
        chunks.MIN_CHUNKED_BYTES = 0


def time_variants(atoms, variants: list[str], rounds: int, calls: int) -> dict[str, list[float]]:
    """CPU ms per call of each variant, one median per round."""
    base = atoms.positions.copy()
    times = {variant: [] for variant in variants}
    for _ in range(rounds):
        for variant in variants:
            set_variant(variant)
            samples = []
            for k in range(calls + 1):
                atoms.positions = base + 0.02 * math.sin(k + 1.0)
                start = time.process_time()
                atoms.get_forces()
                if k:
                    samples.append(1e3 * (time.process_time() - start))
            times[variant].append(statistics.median(samples))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["jat"], choices=list(SHIPPED))
    parser.add_argument("--atoms", type=int, nargs="+", default=[96, 768], help="water boxes (speed.py)")
    parser.add_argument("--ean", type=int, nargs="*", default=None, help="jat-ean on EAN boxes of these ion pairs")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--chunk-bytes", type=int, nargs="+", default=[1 << 19, 1 << 20, 1 << 21])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()

    import torch

    from attnff import AttnCalculator

    torch.set_num_threads(1)
    variants = ["plain"] + [str(size) for size in args.chunk_bytes]
    print("| system | model | dtype | " + " | ".join(
        "plain" if v == "plain" else f"chunks of {int(v) // 1024} KiB" for v in variants) + " |")
    print("| --- " * (3 + len(variants)) + "|")
    if args.ean is not None:
        from attnff.datagen.ean import ean_box
        cases = [(f"EAN, {pairs} pairs", ean_box(pairs, seed=0), "jat-ean") for pairs in args.ean]
    else:
        from speed import build_system
        cases = [(f"water {n}", build_system(n), SHIPPED[m]) for n in args.atoms for m in args.models]
    for label, atoms, potential in cases:
        for dtype in args.dtypes:
            atoms.calc = AttnCalculator.load(potential, device="cpu", dtype=dtype, recompute_layers=False)
            times = time_variants(atoms, variants, args.rounds, args.calls)
            cells = [f"{statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f})" for t in times.values()]
            print(f"| {label} | {potential} | {dtype} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
