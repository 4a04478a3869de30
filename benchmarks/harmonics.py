"""Real spherical harmonics: attnff.nn.angular.unit_harmonics against e3nn.o3.spherical_harmonics.

    python benchmarks/harmonics.py                 # E = 200000 unit vectors, degrees 1-3, float32 and float64
    python benchmarks/harmonics.py --edges 20000 --rounds 3

Decides whether attnff should take its harmonics from e3nn (the field's standard). Three parts:

1. Mapping: for each degree l, the (2l + 1) x (2l + 1) matrix Q with Y_e3nn = Y_attnff Q (least squares on
   random directions), whether it is orthogonal, and the residual. An orthogonal Q leaves the angular
   invariants B = sum_m A_lm^2 unchanged, so a switch could keep shipped outputs.
2. Shipped outputs: jat-ean's energy and forces (float64) on a test box of ethylammonium nitrate with
   e3nn's harmonics (per-degree columns, component normalisation) substituted for unit_harmonics.
3. Speed: forward + backward (to the pair vectors) CPU time on one thread, median over rounds, for
   attnff's unit_harmonics(vec, d), e3nn on the directions vec / d (normalize=False, the model already
   holds d) and e3nn on vec (normalize=True, the drop-in call); degree 1 compares CMRET's unit vector
   vec / d with e3nn's l = 1 (normalization="norm"). The variants alternate in every round.

Writes benchmarks/results/harmonics.json (or --out) and prints Markdown tables.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnff.nn.angular import unit_harmonics  # noqa: E402


def e3nn_harmonics(vec: torch.Tensor, degree: int, normalize: bool, normalization: str = "component") -> torch.Tensor:
    """e3nn's real harmonics of l = 1 .. degree, (E, 3) -> (E, degree (degree + 2))."""
    from e3nn import o3

    return o3.spherical_harmonics(list(range(1, degree + 1)), vec, normalize=normalize, normalization=normalization)


def mapping(degree: int, samples: int = 4096) -> list[dict]:
    """Per degree l: max |Q Q^T - I| and the least-squares residual of Y_e3nn = Y_attnff Q (float64)."""
    generator = torch.Generator().manual_seed(0)
    vec = torch.randn(samples, 3, generator=generator, dtype=torch.float64)
    d = vec.norm(dim=-1)
    ours, theirs = unit_harmonics(vec, d, degree), e3nn_harmonics(vec / d.unsqueeze(-1), degree, normalize=False)
    rows = []
    for l in range(1, degree + 1):
        columns = slice(l * l - 1, (l + 1) * (l + 1) - 1)
        q = torch.linalg.lstsq(ours[:, columns], theirs[:, columns]).solution
        identity = torch.eye(2 * l + 1, dtype=torch.float64)
        rows.append({"l": l, "orthogonality_error": float((q @ q.T - identity).abs().max()),
                     "residual": float((ours[:, columns] @ q - theirs[:, columns]).abs().max()),
                     "permutation_and_signs": bool(((q.abs() - q.abs().round()).abs() < 1e-9).all())})
    return rows


def shipped_difference() -> dict:
    """jat-ean, float64, first structure of data/ean_test.extxyz: |E_e3nn - E_attnff| (eV), max |dF| (eV/Å)."""
    from ase.io import read

    import attnff.models.jat as jat
    from attnff import AttnCalculator, load_potential
    from attnff.model_file import resolve_potential

    atoms = read(ROOT / "data" / "ean_test.extxyz", index=0)
    potential, _ = load_potential(resolve_potential("jat-ean"))
    results = {}
    for name, harmonics in (("attnff", unit_harmonics),
                            ("e3nn", lambda vec, d, degree: e3nn_harmonics(vec / d.unsqueeze(-1), degree, False))):
        jat.unit_harmonics = harmonics
        try:
            atoms.calc = AttnCalculator(potential, device="cpu", dtype="float64")
            results[name] = (atoms.get_potential_energy(), atoms.get_forces().copy())
        finally:
            jat.unit_harmonics = unit_harmonics
    (e_ours, f_ours), (e_theirs, f_theirs) = results["attnff"], results["e3nn"]
    return {"structure": "data/ean_test.extxyz[0]", "atoms": len(atoms), "energy_eV": e_ours,
            "energy_difference_eV": abs(e_theirs - e_ours),
            "max_force_difference_eV_per_A": float(abs(f_theirs - f_ours).max())}


def variants(degree: int) -> dict:
    """name -> function of (vec, d) giving the harmonics the model would use."""
    if degree == 1:
        return {"attnff vec / d (CMRET)": lambda vec, d: vec / d.unsqueeze(-1),
                "e3nn l=1 norm, normalize=False":
                    lambda vec, d: e3nn_harmonics(vec / d.unsqueeze(-1), 1, False, "norm"),
                "e3nn l=1 norm, normalize=True": lambda vec, d: e3nn_harmonics(vec, 1, True, "norm")}
    return {"attnff unit_harmonics": lambda vec, d: unit_harmonics(vec, d, degree),
            "e3nn, normalize=False": lambda vec, d: e3nn_harmonics(vec / d.unsqueeze(-1), degree, False),
            "e3nn, normalize=True": lambda vec, d: e3nn_harmonics(vec, degree, True)}


def time_variants(edges: int, degree: int, dtype: torch.dtype, rounds: int, calls: int) -> dict[str, list[float]]:
    """CPU ms per forward + backward call of each variant, one median per round."""
    generator = torch.Generator().manual_seed(1)
    base = torch.randn(edges, 3, generator=generator, dtype=dtype)
    functions = variants(degree)
    columns = functions[next(iter(functions))](base, base.norm(dim=-1)).shape[-1]
    weights = torch.randn(edges, columns, generator=generator, dtype=dtype)
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            samples = []
            for k in range(calls + 1):
                vec = base.clone().requires_grad_(True)
                start = time.process_time()
                d = vec.norm(dim=-1)
                (function(vec, d) * weights).sum().backward()
                if k:
                    samples.append(1e3 * (time.process_time() - start))
            times[name].append(statistics.median(samples))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--degrees", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5, help="calls per variant and round (after one warm-up)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "harmonics.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import e3nn

    result = {"date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
              "threads": 1, "torch": torch.__version__, "e3nn": e3nn.__version__, "edges": args.edges,
              "timing": "CPU ms per forward + backward call, median of --calls per round, median (min-max) over rounds",
              "mapping": mapping(max(args.degrees)), "shipped_jat_ean": shipped_difference(), "speed": []}
    print("| l | max abs(Q Q^T - I) | residual | signed permutation |\n|---|---|---|---|")
    for row in result["mapping"]:
        print(f"| {row['l']} | {row['orthogonality_error']:.1e} | {row['residual']:.1e} "
              f"| {row['permutation_and_signs']} |")
    print(f"\njat-ean float64 with e3nn harmonics: {result['shipped_jat_ean']}\n")
    print("| degree | dtype | variant | ms (min-max) | / attnff |\n|---|---|---|---|---|")
    for degree in args.degrees:
        for dtype_name in args.dtypes:
            times = time_variants(args.edges, degree, getattr(torch, dtype_name), args.rounds, args.calls)
            reference = statistics.median(next(iter(times.values())))
            for name, rounds in times.items():
                median = statistics.median(rounds)
                result["speed"].append({"degree": degree, "dtype": dtype_name, "variant": name, "ms": round(median, 2),
                                        "min": round(min(rounds), 2), "max": round(max(rounds), 2),
                                        "ratio_to_attnff": round(median / reference, 2)})
                print(f"| {degree} | {dtype_name} | {name} | {median:.1f} ({min(rounds):.1f}-{max(rounds):.1f}) "
                      f"| {median / reference:.2f} |", flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
