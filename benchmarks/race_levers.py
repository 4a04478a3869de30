"""Which training levers pay at a fixed CPU budget: short runs of attnff's race recipes, one change each.

    nice python benchmarks/race_levers.py                    # every lever, 10 CPU-minutes each, two at a time
    nice python benchmarks/race_levers.py --only jat-angular jat-angular-wd --budget 10

Each lever is the race's recipe (benchmarks/training_race.py) with one change. Its epochs are sized so that
its learning-rate schedule ends at the budget: a two-epoch probe measures its CPU seconds per epoch (one
thread), then the run trains that many epochs in one process and one thread and reports the test errors
of its final (EMA) weights on the race's 1000 test frames, with the CPU time of its epochs (from its log,
validation included). A rerun reads back the runs already finished. A lever that wins here earns a line
of its own in the race, which is where a kept change must show its effect.
Results: benchmarks/results/race_levers.json (merged per lever); run state under runs/race-levers/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_data import reference_path  # noqa: E402
from training_race import (  # noqa: E402
    ANGULAR_PRODUCTS,
    CMRET_ANGULAR,
    CMRET_BEFORE,
    CONTESTANTS,
    DATA,
    GEOMATT_BEFORE,
    JAT_ANGULAR,
    KCAL_MOL_EV,
    ROOT,
)

RESULTS = ROOT / "benchmarks" / "results" / "race_levers.json"
#: the shipped CMRET recipe (examples/configs/cmret_md17_ethanol.yaml) from the race's pinned earlier one
CMRET_SHIPPED = [*CMRET_BEFORE, *CMRET_ANGULAR]
#: name -> (race contestant whose config it trains, the lever it changes (None: a recipe), overrides, the change)
LEVERS: dict[str, tuple[str, str | None, list[str], str]] = {
    "jat-angular": ("jat", None, JAT_ANGULAR, "JAT + angular, the race's recipe"),
    "jat-angular-wd": ("jat", "jat-angular", [*JAT_ANGULAR, "training.weight_decay=0.05"], "AdamW weight decay 0.05"),
    "jat-angular-lr3": ("jat", "jat-angular", [*JAT_ANGULAR, "training.lr=3.0e-3"],
                        "peak learning rate 3e-3 (from 1e-3)"),
    "jat-angular-huber": ("jat", "jat-angular", [*JAT_ANGULAR, "training.loss=huber"],
                          "Huber loss (delta 0.01) instead of MSE"),
    "jat-angular-products": ("jat", "jat-angular", [*JAT_ANGULAR, "model.angular_products=true"],
                             "four-body angular products (bispectrum) added to the power spectrum"),
    "jat-products": ("jat", "jat-angular", [], "the shipped recipe: products, lr 3e-3 and weight decay 0.05 together"),
    "cmret": ("cmret", None, CMRET_BEFORE, "CMRET, the race's recipe"),
    "cmret-lr3": ("cmret", "cmret", [*CMRET_BEFORE, "training.lr=3.0e-3"], "peak learning rate 3e-3 (from 1e-3)"),
    "cmret-lr3-wd": ("cmret", "cmret-lr3", [*CMRET_BEFORE, "training.lr=3.0e-3", "training.weight_decay=0.05"],
                     "peak learning rate 3e-3 and AdamW weight decay 0.05"),
    "cmret-lr3-angular": ("cmret", "cmret-lr3", [*CMRET_BEFORE, "training.lr=3.0e-3", *ANGULAR_PRODUCTS],
                          "angular invariants with four-body products in every layer (16 channels, degree 3, "
                          "mixed), as in JAT"),
    "cmret-lr3-angular-poly": ("cmret", "cmret-lr3-angular", CMRET_SHIPPED,
                               "polynomial envelope (from cosine) for the filters and the attention weights"),
    "cmret-basis16": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "model.num_basis=16"],
                      "16 radial basis functions (from 32): smoother radial filters"),
    "cmret-energy1e4": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "training.energy_weight=1.0e4"],
                        "energy weight 1e4 (from 1; forces 100), per-atom energies"),
    "cmret-angular32": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "model.angular=32"],
                        "32 angular channels (from 16)"),
    "cmret-ema999": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "training.ema_decay=0.999"],
                     "EMA decay 0.999 (from 0.99): weights averaged over about ten epochs instead of one"),
    "cmret-huber": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "training.loss=huber"],
                    "Huber loss (delta 0.01) instead of MSE"),
    "cmret-float64": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "training.dtype=float64"],
                      "float64 training (from float32; evaluation is in float64 either way)"),
    "cmret-degree2": ("cmret", "cmret-lr3-angular-poly", [*CMRET_SHIPPED, "model.angular_degree=2"],
                      "angular degree 2 (from 3): smoother angular functions, fewer Gaunt triples"),
    "geomatt": ("geomatt", None, GEOMATT_BEFORE, "GeomAtt, the race's recipe"),
    "geomatt-angular": ("geomatt", "geomatt", ANGULAR_PRODUCTS,
                        "angular invariants with four-body products in every interaction (16 channels, degree 3, "
                        "mixed), as in JAT"),
}


def train(config: str, output: Path, overrides: list[str], epochs: int) -> dict:
    """One attnff training run in one thread; returns its card's test metrics and its training CPU seconds.

    A run already finished in ``output`` with these epochs is read back instead of repeated.
    """
    card_path = output / "card.json"
    if card_path.exists() and json.loads(card_path.read_text())["training"]["epochs"] == epochs:
        return _finished(output)
    settings = [f"output={output}", f"data.path={reference_path(DATA)}", "training.max_minutes=0",
                "training.threads=1", f"training.epochs={epochs}", f"training.patience={epochs}",
                f"training.warmup_epochs={min(5, max(epochs // 20, 1))}", *overrides]
    command = [sys.executable, "-m", "attnff", "train", str(ROOT / config), "--no-progress",
               *[a for s in settings for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return _finished(output)


def _finished(output: Path) -> dict:
    """Test metrics of a finished run and the CPU seconds of its epochs (from its log)."""
    card = json.loads((output / "card.json").read_text())
    log = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    return {"test": card["metrics"]["test"], "cpu_s": sum(row["epoch_cpu_s"] for row in log)}


def run_lever(name: str, budget_min: float, workdir: Path) -> dict:
    contestant, base, overrides, change = LEVERS[name]
    config = CONTESTANTS[contestant].args[0]
    train(config, workdir / name / "probe", overrides, 2)
    rows = [json.loads(line) for line in (workdir / name / "probe" / "metrics.jsonl").read_text().splitlines()]
    epoch_cpu_s = rows[-1]["epoch_cpu_s"]  # the second epoch: no first-call overheads
    epochs = max(int(budget_min * 60 / epoch_cpu_s), 2)
    result = train(config, workdir / name / "run", overrides, epochs)
    test = result["test"]
    row = {"contestant": contestant, "base": base, "change": change, "overrides": overrides,
           "budget_cpu_min": budget_min, "epoch_cpu_s": epoch_cpu_s, "epochs": epochs,
           "cpu_min": round(result["cpu_s"] / 60, 2), "energy_mae": test["energy_mae"],
           "forces_mae": test["forces_mae"], "date": time.strftime("%Y-%m-%d")}
    print(f"{name}: {epochs} epochs, forces {test['forces_mae'] / KCAL_MOL_EV:.3f} kcal/mol/A", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    parser.add_argument("--budget", type=float, default=10.0, help="CPU-minutes per lever")
    parser.add_argument("--parallel", type=int, default=2, help="levers at a time (one thread each)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "race-levers")
    args = parser.parse_args()
    with ThreadPoolExecutor(args.parallel) as pool:
        for name, row in zip(args.only, pool.map(lambda n: run_lever(n, args.budget, args.workdir), args.only),
                             strict=True):
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            results[name] = row
            RESULTS.write_text(json.dumps({n: results[n] for n in LEVERS if n in results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
