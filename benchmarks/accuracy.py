"""Test-set errors of every shipped potential, re-measured from its training config; writes docs/accuracy.md.

    python benchmarks/accuracy.py
    python benchmarks/accuracy.py --ean runs/jat-ean/jat-ean.safetensors   # a candidate jat-ean only

Each shipped potential is evaluated in float64 on the test split named by its
training config (examples/configs/<name>.yaml); data from data/external/ (docs/data.md), else the
project's reference copy in ../shared/data (benchmarks/reference_data.py).
With --ean, only the EAN test table of each given potential file is made, printed and
written to benchmarks/results/ean_test_<file stem, or folder of a model.safetensors>.md (docs/accuracy.md is left
alone).
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import units
from ase.io import read

from attnff import AttnCalculator, list_potentials
from attnff.data import DataSpec, GraphDataset, read_configurations
from attnff.data.batch import collate
from attnff.train import evaluate, load_config
from attnff.train.loop import load_splits
from reference_data import load_example_config

ROOT = Path(__file__).resolve().parents[1]
GPA = 160.21766  # eV/A^3 -> GPa
KCAL_MOL = units.kcal / units.mol  # in eV

#: Published targets to compare with: (force MAE in kcal/mol/A, source).
TARGETS = {
    "jat-md17-ethanol": (0.98, "GeomAtt paper, MD17 ethanol, 1000 training points"),
    "cmret-md17-ethanol": (0.39, "SchNet, MD17 ethanol, 1000 training points"),
    "geomatt-md17-ethanol": (0.98, "GeomAtt paper"),
    "jat-ean": (80e-3 / KCAL_MOL, "JAT thesis, EAN against DFT: 80 meV/A"),
}

EAN_CONFIG = ROOT / "examples" / "configs" / "jat_ean.yaml"
#: eV/A: the first training stage of jat-ean (examples/ionic_liquid/pipeline.sh, stage "base") leaves out
#: frames with an atomic force above this; the same cap separates the near-collision test frames.
EAN_MAX_FORCE = 15.0
#: GFN1-xTB MD of boxes equilibrated with a potential (docs/ionic_liquid.md): the liquid near equilibrium
EAN_EQUILIBRATED_TEST = ROOT / "data" / "ean_test_equilibrated.extxyz"


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


#: Published MD17 ethanol results (1000 training configurations): E MAE kcal/mol, F MAE kcal/mol/A.
PAPER = {
    "jat": "no MD17 result in the thesis",
    "cmret": "paper's Table 4 cells are not recoverable from the seed text",
    "geomatt": "E 0.25, F 0.98 (GeomAtt paper); SchNet E 0.08, F 0.39",
}


def comparison_table() -> list[str]:
    """JAT, CMRET and GeomAtt on MD17 ethanol side by side (the shipped *-md17-ethanol potentials)."""
    lines = ["", "## MD17 ethanol: the three models side by side", "",
             "Test split 1000-1999 (MD frames that follow the training window in time, unlike the papers' random",
             "splits: docs/md17_split.md); errors in kcal/mol and kcal/mol/A; training time from each model card",
             "(CPU-minutes of the training process where the card records them, else wall time; 2-core CPU, shared",
             "with other jobs); inference: median energy+forces call on one ethanol, CPU.", "",
             "| model | parameters | E MAE | F MAE | F RMSE | epochs | training time | float32 call | float64 call "
             "| paper (E, F MAE) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(n for n in list_potentials() if n.endswith("md17-ethanol")):
        calc = AttnCalculator.load(name, device="cpu", dtype="float64")
        card = calc.metadata["card"]
        test = card["metrics"]["test"]
        parameters = sum(p.numel() for p in calc.potential.parameters())
        model = calc.metadata["model"]
        lines.append(
            f"| {model} | {parameters:,} | {test['energy_mae_kcal_mol']:.3f} | {test['forces_mae_kcal_mol']:.3f} "
            f"| {test['forces_rmse_kcal_mol']:.3f} | {card['training']['epochs_run']} "
            f"| {_training_time(card['training'])} | {1e3 * seconds_per_call(name, 'float32'):.1f} ms "
            f"| {1e3 * seconds_per_call(name, 'float64'):.1f} ms | {PAPER.get(model, '')} |")
    return lines


def _training_time(training: dict) -> str:
    """CPU-minutes of the training epochs where the card has them (cards written since 2026-12-07), else wall."""
    if "cpu_time_minutes" in training:
        return f"{training['cpu_time_minutes']:.0f} CPU-min"
    return f"{training['wall_time_minutes']:.0f} min wall"


def ch2_table() -> list[str]:
    """CH2 potentials on the shared CH2 test file: errors and singlet-triplet ordering.

    The shared set labels 1000 geometries in both states, split at random between the train
    and test files; every test geometry whose other state is also labelled (in either file) is
    checked for the sign of the singlet-triplet gap, with the model evaluated in both states.
    """
    shared = ROOT.parent / "shared" / "data"

    def spec(name):
        return DataSpec(str(shared / name), energy_key="E", forces_key="F", spin_key="S")

    test = read_configurations(spec("ch2_2000_test.db"))
    def key(c):  # the geometry up to rotation and translation: both C-H lengths and the angle
        r1, r2 = c.positions[1] - c.positions[0], c.positions[2] - c.positions[0]
        lengths = sorted([np.linalg.norm(r1), np.linalg.norm(r2)])
        return tuple(np.round([*lengths, np.dot(r1, r2) / (lengths[0] * lengths[1])], 5))

    labelled = {}
    for c in read_configurations(spec("ch2_2000_train.db")) + test:
        labelled.setdefault(key(c), {})[c.multiplicity] = c.energy
    lines = ["", "## CH2: shared test file (500 points) and singlet-triplet ordering", "",
             "| potential | E MAE | F MAE | geometries with both states | correct ordering | gap MAE |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in sorted(n for n in list_potentials() if n.startswith("cmret-ch2")):
        calc = AttnCalculator.load(name, device="cpu", dtype="float64")
        m = evaluate(calc.potential, GraphDataset(test, calc.potential.cutoff))
        pairs = [(c, labelled[key(c)]) for c in test]
        pairs = [(c, ref) for c, ref in pairs if len(ref) == 2]
        both = [replace(c, multiplicity=mult, energy=None, forces=None) for c, _ in pairs for mult in (1, 3)]
        predicted = []
        for start in range(0, len(both), 100):
            batch = collate(both[start:start + 100], calc.potential.cutoff)
            predicted.append(calc.potential(batch, forces=False)["energy"].detach().numpy())
        predicted = np.concatenate(predicted).reshape(-1, 2)
        gap_pred = predicted[:, 1] - predicted[:, 0]
        gap_ref = np.array([ref[3] - ref[1] for _, ref in pairs])
        correct = np.mean(np.sign(gap_pred) == np.sign(gap_ref)) if len(pairs) else float("nan")
        lines.append(f"| {name} | {1e3 * m['energy_mae']:.2f} meV | {1e3 * m['forces_mae']:.1f} meV/A | {len(pairs)} "
                     f"| {100 * correct:.1f} % | {1e3 * np.abs(gap_pred - gap_ref).mean():.2f} meV |")
    lines += ["", "Anchor (authors' CMRET code, 40 min on this CPU): E MAE 0.15 meV, F MAE 1.4 meV/A, 100 % ordering."]
    return lines


def ean_table(potential: str = "jat-ean") -> list[str]:
    """``potential`` (jat-ean or a candidate file) on the EAN test file, split by sampling stage."""
    config = load_config(EAN_CONFIG)
    path = Path(config.data.test_path)
    stages = np.array([frame.info["stage"] for frame in read(path, ":")])
    configs = read_configurations(DataSpec(str(path)))
    calc = AttnCalculator.load(potential, device="cpu", dtype="float64")
    cap = replace(config.data, max_force=EAN_MAX_FORCE)
    within = np.array([cap.within_max_force(c) for c in configs])
    largest = max(float(np.linalg.norm(c.forces, axis=1).max()) for c in configs)
    lines = ["", "## jat-ean: EAN test file by sampling stage (GFN1-xTB reference, 8 ion pairs, 120 atoms)", "",
             "Reference MD: frames of GFN1-xTB Langevin MD (and its relaxation) at 300-500 K and 1.10-1.32 g/cm3.",
             "Active learning: frames of MD driven by a first, small JAT, labelled with GFN1-xTB; those with an",
             f"atomic force above {cap.max_force} eV/A (up to {largest:.0f} eV/A here) are near-collisions, left out",
             "of the first training stage (examples/ionic_liquid/pipeline.sh, stage base) and included from the "
             "second.",
             "Target: force MAE <= 80 meV/A (JAT thesis on EAN).",
             "",
             "| frames | count | E MAE (meV/atom) | F MAE (meV/A) | F RMSE (meV/A) | stress MAE (GPa) "
             "| stress RMSE (GPa) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    active = stages == "active"
    rows = (("reference MD", ~active), (f"active learning, below {cap.max_force} eV/A", active & within),
            ("active learning, near-collisions", active & ~within),
            (f"all below {cap.max_force} eV/A", within), ("all", np.ones(len(stages), bool)))
    for label, mask in rows:
        chosen = [c for c, keep in zip(configs, mask) if keep]
        if not chosen:
            continue
        lines.append(_ean_row(label, chosen, calc))
    if EAN_EQUILIBRATED_TEST.is_file():
        lines += ean_equilibrated_table(calc)
    return lines


EAN_HEADER = ("| frames | count | E MAE (meV/atom) | F MAE (meV/A) | F RMSE (meV/A) | stress MAE (GPa) "
              "| stress RMSE (GPa) |")


def _ean_row(label: str, configs: list, calc: AttnCalculator) -> str:
    """One Markdown row: count, E MAE per atom, F MAE and RMSE, stress MAE and RMSE of ``calc`` on ``configs``."""
    m = evaluate(calc.potential, GraphDataset(configs, calc.potential.cutoff))
    return (f"| {label} | {len(configs)} | {1e3 * m['energy_per_atom_mae']:.2f} | {1e3 * m['forces_mae']:.1f} "
            f"| {1e3 * m['forces_rmse']:.1f} | {GPA * m['stress_mae']:.3f} | {GPA * m['stress_rmse']:.3f} |")


def ean_equilibrated_table(calc: AttnCalculator) -> list[str]:
    """``calc`` on the equilibrated-liquid test file, by temperature and in all."""
    configs = read_configurations(DataSpec(str(EAN_EQUILIBRATED_TEST)))
    frames = read(EAN_EQUILIBRATED_TEST, ":")
    temperatures = np.array([frame.info["temperature_K"] for frame in frames])
    boxes = len({frame.info["segment"] for frame in frames})
    lines = ["", f"## jat-ean: equilibrated liquid ({EAN_EQUILIBRATED_TEST.relative_to(ROOT)}, {boxes} boxes)", "",
             "GFN1-xTB Langevin MD of boxes first equilibrated with a potential, frames labelled after a reference",
             "warm-up (docs/ionic_liquid.md): the kind of frames the JAT thesis' 80 meV/A was measured on",
             "(DFT labels of equilibrium MD snapshots).", "", EAN_HEADER, "| --- | --- | --- | --- | --- | --- | --- |"]
    for temperature in sorted(set(temperatures)):
        chosen = [c for c, t in zip(configs, temperatures) if t == temperature]
        lines.append(_ean_row(f"{temperature:.0f} K", chosen, calc))
    lines.append(_ean_row("all", configs, calc))
    return lines


def candidate_tables(paths: list[str]) -> None:
    """The EAN test table of each candidate potential file, printed and written to benchmarks/results/."""
    for path in paths:
        parameters = sum(p.numel() for p in AttnCalculator.load(path, device="cpu").potential.parameters())
        lines = [f"# EAN test file: {path}", "", f"Written by `python benchmarks/accuracy.py --ean {path}` (float64).",
                 "", f"Parameters: {parameters}"]
        lines += ean_table(path)
        stem = Path(path).stem if Path(path).stem != "model" else Path(path).parent.name  # potentials/<name>/model
        out = ROOT / "benchmarks" / "results" / f"ean_test_{stem}.md"
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ean", nargs="+", metavar="POTENTIAL",
                        help="only the EAN test table of these potential files")
    args = parser.parse_args()
    if args.ean:
        candidate_tables(args.ean)
        return
    lines = ["# Accuracy of the shipped potentials", "",
             "Written by `python benchmarks/accuracy.py` (float64 evaluation on each potential's test split;",
             "energies in meV and kcal/mol, forces in meV/A and kcal/mol/A). The MD17 ethanol targets are",
             "published numbers on random splits of the whole MD17 trajectory; the shipped potentials' test frames",
             "follow their training frames in time (docs/md17_split.md).", "",
             "| potential | test set | E MAE | E RMSE | F MAE | F RMSE | target F MAE | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(list_potentials()):
        config_path = ROOT / "examples" / "configs" / f"{name.replace('-', '_')}.yaml"
        if not config_path.is_file():
            continue
        config = load_example_config(config_path)
        if config.properties is not None:  # a property model (no energies): docs/pooling_results.md
            continue
        _, _, test_configs, _ = load_splits(config)
        calc = AttnCalculator.load(name, device="cpu", dtype="float64")
        m = evaluate(calc.potential, GraphDataset(test_configs, calc.potential.cutoff))
        target, source = TARGETS.get(name, (None, ""))
        met = "" if target is None else ("yes" if m["forces_mae_kcal_mol"] <= target else "no")
        lines.append(
            f"| {name} | {len(test_configs)} configs "
            f"| {1e3 * m['energy_mae']:.2f} meV ({m['energy_mae_kcal_mol']:.3f}) "
            f"| {1e3 * m['energy_rmse']:.2f} meV ({m['energy_rmse_kcal_mol']:.3f}) "
            f"| {1e3 * m['forces_mae']:.1f} meV/A ({m['forces_mae_kcal_mol']:.3f}) "
            f"| {1e3 * m['forces_rmse']:.1f} meV/A ({m['forces_rmse_kcal_mol']:.3f}) "
            f"| {'' if target is None else f'{target:.2f} ({source})'} | {met} |")
    lines += comparison_table()
    lines += ch2_table()
    if "jat-ean" in list_potentials():
        lines += ean_table()
    (ROOT / "docs" / "accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
