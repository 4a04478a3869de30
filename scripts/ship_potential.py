"""Copy a trained potential into potentials/<name>/ with its card and a model-card README.

    python scripts/ship_potential.py runs/jat-md17-ethanol/jat-md17-ethanol.safetensors
    python scripts/ship_potential.py FILE --card 'domain={"bond": [0.95, 1.2]}'   # add a card entry
    python scripts/ship_potential.py FILE --card 'training.command="attnff train CONFIG"'   # a nested entry

The README is generated from the card stored inside the potential file, so the
numbers it states are the ones the training run measured.
"""

import argparse
import json
import shutil
from pathlib import Path

from attnff.model_file import load_potential, read_metadata, save_potential

ROOT = Path(__file__).resolve().parents[1]
SETS = ("validation", "test", "test_within_max_force")  # the last only for runs with data.max_force


def _metrics_table(metrics: dict) -> str:
    rows = ["| set | energy MAE | energy RMSE | force MAE | force RMSE |", "| --- | --- | --- | --- | --- |"]
    for name in SETS:
        m = metrics.get(name) or {}
        if "energy_mae" not in m:
            continue
        force = (f"{1e3 * m['forces_mae']:.1f} meV/A ({m['forces_mae_kcal_mol']:.3f} kcal/mol/A)",
                 f"{1e3 * m['forces_rmse']:.1f} meV/A ({m['forces_rmse_kcal_mol']:.3f} kcal/mol/A)") \
            if "forces_mae" in m else ("-", "-")
        rows.append(f"| {name} ({int(m['count'])}) | {1e3 * m['energy_mae']:.2f} meV ({m['energy_mae_kcal_mol']:.3f} "
                    f"kcal/mol) | {1e3 * m['energy_rmse']:.2f} meV ({m['energy_rmse_kcal_mol']:.3f} kcal/mol) | "
                    f"{force[0]} | {force[1]} |")
    stress = [(name, metrics[name]) for name in SETS if "stress_mae" in (metrics.get(name) or {})]
    if stress:
        rows += ["", "| set | energy MAE per atom | stress MAE | stress RMSE |", "| --- | --- | --- | --- |"]
        rows += [f"| {name} ({int(m['count'])}) | {1e3 * m['energy_per_atom_mae']:.2f} meV/atom | "
                 f"{1e3 * m['stress_mae']:.3f} meV/A^3 ({160.21766 * m['stress_mae']:.3f} GPa) | "
                 f"{1e3 * m['stress_rmse']:.3f} meV/A^3 ({160.21766 * m['stress_rmse']:.3f} GPa) |"
                 for name, m in stress]
    return "\n".join(rows)


def _notes(card: dict) -> str:
    """An optional "notes" card entry (list of lines) as its own section."""
    notes = card.get("notes")
    return "" if not notes else "\n## Notes\n" + "\n".join(f"- {line}" for line in notes) + "\n"


def _max_force(data: dict) -> str:
    if data.get("max_force") is None:
        return ""
    return (f"\n- Frames with an atomic force above {data['max_force']} eV/A left out of training and validation: "
            f"{data['dropped_above_max_force']}; test_within_max_force scores the {data['test_within_max_force']} "
            "test frames within that cap, test scores them all")


def _schedule(training: dict) -> str:
    decay = f", weight decay {training['weight_decay']}" if training.get("weight_decay") else ""
    return f"lr {training['lr']} -> {training['lr_min']} (warm-up + cosine){decay}"


def _kept(training: dict) -> str:
    """Which epoch's weights were shipped (training.keep; earlier cards kept the best one)."""
    if training.get("keep", "best") == "final":
        return f"the final epoch's weights; best validation at epoch {training['best_epoch']}"
    return f"best validation at epoch {training['best_epoch']}"


def _budget(training: dict) -> str:
    """Wall time, and CPU time where the run recorded it (training epochs, one process)."""
    wall = f"{training['wall_time_minutes']} minutes wall time"
    cpu = training.get("cpu_time_minutes")
    return wall if cpu is None else f"{cpu} CPU-minutes of training ({wall})"


def model_card(meta: dict) -> str:
    card, training, data = meta["card"], meta["card"]["training"], meta["card"]["data"]
    config = ", ".join(f"{k}={v}" for k, v in meta["config"].items())
    test_file = f", test file `{data['test_file']}`" if data.get("test_file") else ""
    return f"""# {card['name']}

{card['description']}

- Model: `{meta['model']}` ({config})
- Species: {meta['species']}; cutoff {meta['cutoff']} A; charge/spin aware: {meta['supports_charge_spin']}
- Units: energies eV, forces eV/A (calculator results); data file units: {data['units_in_file']}
- Reference: {card.get('reference', '')}

## Data
- File `{data['file']}` (sha256 `{data['sha256'][:16]}...`){test_file}
- Split {data['split']}; sizes {data['sizes']}{_max_force(data)}

## Errors (float64 evaluation of the shipped weights)
{_metrics_table(card['metrics'])}

## Training budget
- {training['epochs_run']} epochs ({_kept(training)}),
  {_budget(training)} on {training['cpu']}, torch {training['torch']}, {training['dtype']}
- Batch {training['batch_size']}, AdamW {_schedule(training)},
  loss {training['loss']} (energy weight {training['energy_weight']}, force weight {training['forces_weight']}),
  EMA {training['ema_decay']}, seed {training['seed']}
- Reproduce: `{training['command']}`
{_notes(card)}
## Limits
Trained on the configurations above only: outside their range of geometries, elements
and charge/spin states the errors are unknown. See docs/ for the model's equations.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("potential_file")
    parser.add_argument("--card", action="append", default=[], metavar="KEY=JSON",
                        help="set a model-card entry, dotted for a nested one (e.g. the training domain of a run made "
                             "before it was recorded)")
    args = parser.parse_args()
    meta = read_metadata(args.potential_file)
    if args.card:
        potential, meta = load_potential(args.potential_file)
        for item in args.card:
            key, value = item.split("=", 1)
            *parents, leaf = key.split(".")  # training.command=... sets a nested entry
            entry = meta["card"]
            for parent in parents:
                entry = entry[parent]
            entry[leaf] = json.loads(value)
    target = ROOT / "potentials" / meta["card"]["name"]  # a --card name=... ships under that name
    target.mkdir(parents=True, exist_ok=True)
    if args.card:
        save_potential(potential, target / "model.safetensors", meta["card"])
        meta = read_metadata(target / "model.safetensors")
    else:
        shutil.copyfile(args.potential_file, target / "model.safetensors")
    (target / "card.json").write_text(json.dumps(meta["card"], indent=2) + "\n")
    (target / "README.md").write_text(model_card(meta))
    print(f"shipped {target}")


if __name__ == "__main__":
    main()
