"""Copy a trained property model into potentials/<name>/ with its card, a model-card README and (for QM9 gap
models) the parity plot of predicted against reference gaps on the test set.

    python scripts/ship_property_model.py runs/pooling/curve-jat-attention-20000/curve-jat-attention-20000.safetensors \
        --name jat-qm9-homo-lumo --parity docs/images/qm9_gap_parity.png

The README is generated from the card stored inside the model file, so its numbers are those the run measured.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from attnff.model_file import load_property_model, read_metadata, save_potential

ROOT = Path(__file__).resolve().parents[1]


def _value(value: float, unit: str) -> str:
    return f"{1e3 * value:.1f} meV" if unit == "eV" else f"{value:.4g} {unit}"


def model_card(meta: dict) -> str:
    card, training, data = meta["card"], meta["card"]["training"], meta["card"]["data"]
    props = meta["properties"]
    units = dict(zip(props["targets"], props["units"]))
    config = ", ".join(f"{k}={v}" for k, v in meta["config"].items())
    rows = ["| set | " + " | ".join(f"{t} MAE" for t in props["targets"]) + " |",
            "|---|" + "---|" * len(props["targets"])]
    for name in ("validation", "test"):
        metrics = card["metrics"].get(name)
        if metrics:
            rows.append(f"| {name} ({data['sizes'][name]}) | " +
                        " | ".join(_value(metrics[f"{t}_mae"], units[t]) for t in props["targets"]) + " |")
    return f"""# {card['name']}

{card['description']}

- Predicts, per molecule: {', '.join(f'{t} ({units[t]})' for t in props['targets'])}; no energies or forces
- Backbone: `{meta['model']}` ({config}); readout `{props['readout']}` (attnff.models.property,
  docs/models/pooling.md); {training['parameters']:,} parameters
- Species: {meta['species']}; neutral closed-shell molecules only (QM9: H, C, N, O, F, up to 9 heavy atoms)
- Reference data: {data['source']}; Ramakrishnan et al., Sci. Data 1, 140022 (2014)

## Use
```python
from attnff import AttnCalculator
calc = AttnCalculator.load("{card['name']}")
atoms.calc = calc
homo, lumo = calc.get_homo_lumo(atoms)     # eV
gap = calc.get_property("gap", atoms)      # eV
```
Many molecules at once: `attnff predict {card['name']} molecules.xyz -o out.csv`, or
`attnff.model_file.load_property_model(...)[0].predict(list_of_atoms)`.

## Data and split
- {data['molecules']} molecules; {data.get('excluded_failing_geometry_check', 0)} of QM9's 133,885 left out
  (they fail QM9's geometry consistency check)
- Split: {data['split']}
- Sizes: {data['sizes']}

## Errors (float64 evaluation of the shipped weights)
{chr(10).join(rows)}

## Training budget
- {training['epochs_run']} epochs (best validation at epoch {training['best_epoch']}),
  {training['wall_time_minutes']} minutes wall time on one thread of {training['cpu']}, torch {training['torch']}
- Batch {training['batch_size']}, AdamW lr {training['lr']} -> {training['lr_min']} (warm-up + cosine), loss
  {training['loss']} of standardised targets, EMA {training['ema_decay']}, seed {training['seed']}
- Command: `{training['command']}`

## Limits
A CPU-scale model (a fraction of QM9, a few epochs): its errors are several times those of models trained on
all of QM9 on a GPU (the paper's 20-40 meV). Outside QM9's chemistry (more than 9 heavy atoms, other elements,
ions, radicals, non-equilibrium geometries) its errors are unknown.
{"".join(chr(10) + "- " + line for line in card.get("notes", []))}
"""


def parity_plot(model_path: Path, image: Path) -> dict:
    """Predicted against reference HOMO-LUMO gaps on the whole QM9 test pool; returns the test statistics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnff.data.qm9 import load_qm9, qm9_split

    data = load_qm9()
    test = qm9_split(len(data.configs), {"train": 1, "validation": 1, "test": "all"})["test"]
    configs = [data.configs[k] for k in test]
    model, _ = load_property_model(model_path)
    predicted = model.predict(configs, batch_size=256)["gap"]
    reference = np.array([c.properties["gap"] for c in configs])
    mae = float(np.abs(predicted - reference).mean())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(reference, predicted, s=2, alpha=0.3, color="tab:blue", rasterized=True)
    span = [min(reference.min(), predicted.min()) - 0.2, max(reference.max(), predicted.max()) + 0.2]
    ax.plot(span, span, color="black", lw=0.8)
    ax.set(xlim=span, ylim=span, xlabel="reference gap, B3LYP (eV)", ylabel="predicted gap (eV)",
           title=f"{model_path.parent.name}: QM9 test set ({len(test)})")
    ax.text(0.04, 0.95, f"MAE {1e3 * mae:.0f} meV", transform=ax.transAxes, va="top")
    fig.tight_layout()
    image.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(image, dpi=120)
    return {"count": len(test), "gap_mae": mae}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="trained property model file")
    parser.add_argument("--name", required=True, help="shipped name (folder under potentials/)")
    parser.add_argument("--description", default=None, help="one-line description (default: the card's)")
    parser.add_argument("--note", action="append", default=[], help="a line for the card's notes (repeatable)")
    parser.add_argument("--parity", type=Path, default=None, help="write the test-set gap parity plot here")
    args = parser.parse_args()
    meta = read_metadata(args.model)
    model, _ = load_property_model(args.model)
    card = {**meta["card"], "name": args.name}
    if args.description:
        card["description"] = args.description
    if args.note:
        card["notes"] = args.note
    folder = ROOT / "potentials" / args.name
    folder.mkdir(parents=True, exist_ok=True)
    save_potential(model, folder / "model.safetensors", card)
    meta = read_metadata(folder / "model.safetensors")
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (folder / "README.md").write_text(model_card(meta))
    if args.parity:
        print(json.dumps(parity_plot(folder / "model.safetensors", args.parity)))
    print(f"shipped {folder}")


if __name__ == "__main__":
    main()
