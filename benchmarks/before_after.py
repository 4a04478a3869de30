"""Interleaved before/after timing of two attnff checkouts: each round runs both, in alternating order.

    python benchmarks/before_after.py --before /path/to/old/checkout --models jat cmret --atoms 768 --rounds 5

A sweep (benchmarks/speed.py --baseline-root) times each checkout once per case; on a virtual
machine whose speed drifts by 10-25 % over minutes, one pair of numbers can point either way. Here
every round times both checkouts back to back in fresh processes (speed.py's child: same water box,
displacements, warm-up and median of CPU time per call), the first of the pair alternating between
rounds, and the speed-up is reported per round and as the median over rounds. Results are appended
to benchmarks/results/before_after.json and printed as a Markdown table.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from speed import ROOT, build_system, run_case_subprocess, save_structure

RESULTS = ROOT / "benchmarks" / "results" / "before_after.json"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout timed as 'before'")
    parser.add_argument("--after", type=Path, default=ROOT, help="checkout timed as 'after' (default: this one)")
    parser.add_argument("--models", nargs="+", default=["jat", "cmret"], choices=["jat", "cmret", "geomatt"])
    parser.add_argument("--atoms", type=int, nargs="+", default=[768])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="", help="free text stored with the results")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_atoms in args.atoms:
            structure = Path(tmp) / f"system_{n_atoms}.npz"
            save_structure(build_system(n_atoms), structure)
            for model in args.models:
                times = {"before": [], "after": []}
                for round_ in range(args.rounds):
                    order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                    for which in order:
                        case = {"model": model, "n_atoms": n_atoms, "dtype": args.dtype, "allocator": "default",
                                "structure": str(structure), "warmup": args.warmup, "repeats": args.repeats,
                                "max_seconds": 1e9, "threads": 1, "memory_limit_gib": 0,
                                "attnff_root": str(getattr(args, which).resolve())}
                        result = run_case_subprocess(case, timeout=7200)
                        if "ms_per_call" not in result:
                            raise SystemExit(f"{model} {n_atoms} {which}: {result}")
                        times[which].append(result["ms_per_call"])
                ratios = [b / a for b, a in zip(times["before"], times["after"])]
                rows.append({"model": model, "n_atoms": n_atoms, "dtype": args.dtype, "before_ms": times["before"],
                             "after_ms": times["after"], "speedup_median": statistics.median(ratios),
                             "before": str(args.before), "after": str(args.after), "label": args.label,
                             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
                print(f"{model} {n_atoms}: before {times['before']} after {times['after']}", flush=True)

    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(stored + rows, indent=1) + "\n")
    print("\n| model | atoms | dtype | before, ms per round | after, ms per round | speed-up per round | median |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        ratios = [b / a for b, a in zip(row["before_ms"], row["after_ms"])]
        print(f"| {row['model']} | {row['n_atoms']} | {row['dtype']} "
              f"| {' / '.join(f'{t:.0f}' for t in row['before_ms'])} "
              f"| {' / '.join(f'{t:.0f}' for t in row['after_ms'])} | {', '.join(f'{r:.2f}x' for r in ratios)} "
              f"| **{row['speedup_median']:.2f}x** |")


if __name__ == "__main__":
    main()
