"""Where jat-ean's force error sits: per element, and whole-ion motion against motion inside the ions.

    python benchmarks/ean_error_breakdown.py                         # shipped jat-ean, data/ean_test.extxyz
    python benchmarks/ean_error_breakdown.py --potential runs/x/x.safetensors --max-force 15

For every test frame (float64) the force error of each atom is split by the ion it belongs to
(``molecule_id``): the mass-weighted share of the ion's net force error (e_i^ion = m_i / M sum_j e_j,
what moves the ion as a whole, where intermolecular forces such as GFN1-xTB's electrostatics beyond
the cutoff act) and the rest (e_i - e_i^ion: bond, angle and torsion forces inside the ion). Prints
a Markdown table, also written to benchmarks/results/ean_error_breakdown_<potential stem>.md.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def ion_share(values: np.ndarray, masses: np.ndarray, molecules: np.ndarray) -> np.ndarray:
    """values (N, 3) -> (N, 3): each atom's mass share m_i / M of its ion's summed values."""
    sums = np.zeros((molecules.max() + 1, 3))
    np.add.at(sums, molecules, values)
    ion_mass = np.bincount(molecules, weights=masses)
    return sums[molecules] * (masses / ion_mass[molecules])[:, None]


def breakdown(potential: str, path: Path, max_force: float | None) -> list[str]:
    from ase.io import read

    from attnff import AttnCalculator

    calc = AttnCalculator.load(potential, device="cpu", dtype="float64")
    rows: dict[str, list[np.ndarray]] = {}
    frames = 0
    for frame in read(path, ":"):
        reference = frame.get_forces()
        if max_force is not None and np.abs(reference).max() > max_force:
            continue
        frames += 1
        error = calc.get_forces(frame) - reference
        masses, molecules = frame.get_masses(), frame.arrays["molecule_id"]
        error_ion, reference_ion = ion_share(error, masses, molecules), ion_share(reference, masses, molecules)
        for symbol in ["all", *sorted(set(frame.get_chemical_symbols()))]:
            mask = np.ones(len(frame), bool) if symbol == "all" else frame.symbols == symbol
            rows.setdefault(symbol, []).append(np.stack([
                np.abs(error[mask]).ravel(), np.abs(error_ion[mask]).ravel(),
                np.abs(error[mask] - error_ion[mask]).ravel(), np.abs(reference[mask]).ravel(),
                np.abs(reference_ion[mask]).ravel()]))
    cap = f", frames with all |F| <= {max_force} eV/A" if max_force is not None else ""
    header = ("| atoms | components | error | error, whole-ion part | error, inside-ion part | reference |F| "
              "| reference, whole-ion part |")
    lines = [f"Potential: {potential}; {path.relative_to(ROOT)}: {frames} frames{cap}; float64. "
             + "Mean absolute force components in meV/A.", "", header, "| --- | --- | --- | --- | --- | --- | --- |"]
    for symbol, parts in rows.items():
        values = np.concatenate(parts, axis=1)
        means = 1e3 * values.mean(axis=1)
        lines.append(f"| {symbol} | {values.shape[1]} | " + " | ".join(f"{m:.1f}" for m in means) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ean_test.extxyz")
    parser.add_argument("--max-force", type=float, default=15.0,
                        help="leave out frames with a reference force component above this (eV/A); 0 keeps all")
    args = parser.parse_args()
    lines = breakdown(args.potential, args.data.resolve(), args.max_force or None)
    print("\n".join(lines))
    data_tag = "" if args.data.name == "ean_test.extxyz" else f"_on_{args.data.stem}"  # a training file: fit
    out = ROOT / "benchmarks" / "results" / f"ean_error_breakdown_{Path(args.potential).stem}{data_tag}.md"
    command = " ".join(sys.argv[1:])
    title = f"# jat-ean force error by ion part (`python benchmarks/ean_error_breakdown.py {command}`)"
    out.write_text("\n".join([title, "", *lines, ""]))


if __name__ == "__main__":
    main()
