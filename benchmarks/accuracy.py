"""Test-set errors of every shipped potential, re-measured from its training config; writes docs/accuracy.md.

    python benchmarks/accuracy.py

Each shipped potential is evaluated in float64 on the test split named by its
training config (examples/configs/<name>.yaml), which reads ../shared/data.
"""

import time
from pathlib import Path

import numpy as np
from ase.io import read

from attnff import AttnCalculator, list_potentials
from attnff.data import GraphDataset
from attnff.train import evaluate, load_config
from attnff.train.loop import load_splits

ROOT = Path(__file__).resolve().parents[1]

#: Published targets to compare with: (force MAE in kcal/mol/A, source).
TARGETS = {
    "jat-md17-ethanol": (0.98, "GeomAtt paper, MD17 ethanol, 1000 training points"),
    "cmret-md17-ethanol": (0.39, "SchNet, MD17 ethanol, 1000 training points"),
    "geomatt-md17-ethanol": (0.98, "GeomAtt paper"),
}


def seconds_per_call(name: str, dtype: str) -> float:
    atoms = read(ROOT / "examples" / "ethanol.xyz")
    atoms.calc = AttnCalculator.load(name, device="cpu", dtype=dtype)
    times = []
    for k in range(30):
        atoms.positions[0, 0] += 1e-4 * (-1) ** k
        start = time.perf_counter()
        atoms.get_forces()
        times.append(time.perf_counter() - start)
    return float(np.median(times[5:]))


def main() -> None:
    lines = ["# Accuracy of the shipped potentials", "",
             "Written by `python benchmarks/accuracy.py` (float64 evaluation on each potential's test split;",
             "energies in meV and kcal/mol, forces in meV/A and kcal/mol/A).", "",
             "| potential | test set | E MAE | E RMSE | F MAE | F RMSE | target F MAE | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(list_potentials()):
        config_path = ROOT / "examples" / "configs" / f"{name.replace('-', '_')}.yaml"
        if not config_path.is_file():
            continue
        config = load_config(config_path)
        _, _, test_configs, _ = load_splits(config)
        calc = AttnCalculator.load(name, device="cpu", dtype="float64")
        m = evaluate(calc.potential, GraphDataset(test_configs, calc.potential.cutoff))
        target, source = TARGETS.get(name, (None, ""))
        met = "" if target is None else ("yes" if m["forces_mae_kcal_mol"] <= target else "no")
        lines.append(
            f"| {name} | {len(test_configs)} configs | {1e3 * m['energy_mae']:.2f} meV ({m['energy_mae_kcal_mol']:.3f}) "
            f"| {1e3 * m['energy_rmse']:.2f} meV ({m['energy_rmse_kcal_mol']:.3f}) "
            f"| {1e3 * m['forces_mae']:.1f} meV/A ({m['forces_mae_kcal_mol']:.3f}) "
            f"| {1e3 * m['forces_rmse']:.1f} meV/A ({m['forces_rmse_kcal_mol']:.3f}) "
            f"| {'' if target is None else f'{target} ({source})'} | {met} |")
    lines += ["", "## Time per energy+forces call on ethanol (9 atoms, CPU, median of 25)", "",
              "| potential | float32 | float64 |", "| --- | --- | --- |"]
    for name in sorted(list_potentials()):
        lines.append(f"| {name} | {1e3 * seconds_per_call(name, 'float32'):.2f} ms | "
                     f"{1e3 * seconds_per_call(name, 'float64'):.2f} ms |")
    (ROOT / "docs" / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
