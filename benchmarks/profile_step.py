"""Operator profile of one MD step (energy + forces through the calculator), in microseconds per call.

    python benchmarks/profile_step.py                                  # JAT and CMRET, 768-atom water
    python benchmarks/profile_step.py --models jat --atoms 6144 --top 20
    python benchmarks/profile_step.py --attnff-root /path/to/old/checkout   # profile another checkout
    python benchmarks/profile_step.py --ean 8                          # jat-ean on the 120-atom EAN box

Every aten operator of the call is timed through a ``TorchDispatchMode`` (forward and backward,
labelled with the autograd node that runs it) and grouped by operator, node and the shapes of its
large inputs. Unlike ``torch.profiler`` this sees which backward node issued an operator, which is
what tells a gather's backward (``IndexSelectBackward``) from a scatter. Only the time inside the
operators is summed: the Python dispatch around each operator slows the whole call several-fold,
so the call's own time under the timer means nothing. Prints a Markdown table per model; one
torch thread (float32 unless --dtype), the speed benchmark's water boxes.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from speed import ATTNFF_MODELS  # model -> shipped potential, as the speed benchmark times them


def build_ean(pairs: int):
    """The EAN box of benchmarks/ionic_liquid_speed.py (seed 0), unrelaxed: same atoms and pair count."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "ionic_liquid"))
    from attnff.datagen.ean import ean_box

    return ean_box(pairs, seed=0)


def profile(potential: str, atoms, calls: int, dtype: str = "float32") -> tuple[Counter, Counter]:
    """(seconds per key, calls per key) of ``atoms`` with ``potential``, summed over ``calls`` calls."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from attnff import AttnCalculator

    seconds, counts = Counter(), Counter()

    class OperatorTimer(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            node = torch._C._current_autograd_node()
            start = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor) and a.numel() > 1000)
            key = (str(func).removeprefix("aten."), type(node).__name__ if node else "forward", shapes)
            seconds[key] += time.perf_counter() - start
            counts[key] += 1
            return out

    atoms.calc = AttnCalculator.load(potential, device="cpu", dtype=dtype)
    atoms.get_forces()  # builds the neighbour list
    for k in range(calls):
        atoms.positions[0, 0] += 1e-3 * (-1) ** k  # within the skin: the list is reused, as in MD
        with OperatorTimer():
            atoms.get_forces()
    return seconds, counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["jat", "cmret"], choices=list(ATTNFF_MODELS))
    parser.add_argument("--atoms", type=int, default=768, help="water box size (96, 768, 6144, ...)")
    parser.add_argument("--ean", type=int, metavar="PAIRS",
                        help="profile jat-ean on an EAN box of PAIRS ion pairs instead")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--attnff-root", type=Path, help="import attnff from this checkout instead")
    args = parser.parse_args(argv)
    root = (args.attnff_root or Path(__file__).resolve().parents[1]).resolve()
    sys.path[:0] = [str(root), str(Path(__file__).resolve().parent)]
    import torch

    import attnff

    torch.set_num_threads(1)
    from speed import build_system

    cases = [("jat-ean", "jat-ean", build_ean(args.ean))] if args.ean else [
        (model, ATTNFF_MODELS[model], build_system(args.atoms)) for model in args.models]
    system = f"{len(cases[0][2])}-atom EAN" if args.ean else f"{args.atoms}-atom water"
    print(f"attnff from {Path(attnff.__file__).parent}, {system}, {args.dtype}, one thread, {args.calls} calls\n")
    for model, potential, atoms in cases:
        seconds, counts = profile(potential, atoms, args.calls, args.dtype)
        per_call = 1e3 / args.calls
        print(f"### {model}: {sum(seconds.values()) * per_call:.1f} ms per call inside operators\n")
        print("| ms per call | calls | operator | run by | large inputs |")
        print("| --- | --- | --- | --- | --- |")
        for key, value in seconds.most_common(args.top):
            name, node, shapes = key
            print(f"| {value * per_call:.2f} | {counts[key] // args.calls} | {name} | {node} | "
                  f"{' '.join(str(list(s)) for s in shapes)} |")
        print()


if __name__ == "__main__":
    main()
