"""Attention pooling against sum and mean pooling on QM9 HOMO/LUMO/gap at CPU scale (Buterez et al. 2023).

Every backbone (JAT, CMRET) is trained with every readout (sum, mean, attention) on the same fixed QM9 split
(attnff.data.qm9) and budget, for several seeds; then a learning curve of the best JAT readout, and CMRET's
dipole magnitude from its equivariant vector head against a scalar head. Runs go through ``attnff train``'s
library function, one at a time; each run's folder keeps its checkpoint, so an interrupted benchmark
continues where it stopped (finished runs are read back from their card.json). docs/pooling_results.md is
rewritten from whatever has finished.

    OMP_NUM_THREADS=1 nohup nice -n 10 python benchmarks/pooling.py > pooling.log &
    python benchmarks/pooling.py --report        # only rewrite docs/pooling_results.md
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from attnff.train import parse_config, train

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "pooling"
RESULTS = ROOT / "benchmarks" / "results" / "pooling.json"
REPORT = ROOT / "docs" / "pooling_results.md"
#: the hand-written reading of the numbers, appended to the report
VERDICT = ROOT / "benchmarks" / "results" / "pooling_verdict.md"

TARGETS = ["homo", "lumo", "gap"]
READOUTS = ["sum", "mean", "attention"]
SEEDS = [0, 1, 2]
BACKBONES = {
    "jat": {"name": "jat", "width": 64, "num_layers": 3, "num_heads": 4, "cutoff": 5.0},
    "cmret": {"name": "cmret", "width": 64, "num_layers": 2, "num_heads": 4, "num_basis": 16, "cutoff": 5.0},
}
#: the comparison's budget: training molecules, epochs, validation and test molecules (first n of each pool)
TRAIN, EPOCHS, VALIDATION, TEST = 5000, 15, 1000, 5000
CURVE_SIZES = [1000, 5000, 20000]
#: hidden width of the per-atom MLP of the capacity control: about the attention readout's parameter count
CONTROL_HIDDEN = 1472
CONTROL_SEEDS = [0]  # one seed: what the CPU budget allowed
TRAINING = {"batch_size": 32, "lr": 1e-3, "lr_min": 1e-5, "warmup_epochs": 1, "ema_decay": 0.99, "threads": 1,
            "eval_batch_size": 128, "patience": 1000, "loss": "mse"}
#: the paper's numbers (full QM9, GPU; meV): (backbone, target) -> (sum, attention)
PAPER = {("SchNet", "HOMO"): (36.0, 29.6), ("SchNet", "LUMO"): (33.5, 27.0),
         ("DimeNet++", "HOMO"): (23.7, 21.6), ("DimeNet++", "LUMO"): (20.8, 20.5)}


def run(name: str, backbone: str, readout: str, seed: int, targets=TARGETS, train_size=TRAIN, test="5000",
        dipole_head: str = "scalar", model_extra: dict | None = None, properties_extra: dict | None = None) -> dict:
    """Train one setting (or read its finished card); returns the result record."""
    output = RUNS / name
    card_path = output / "card.json"
    if not card_path.exists():
        raw = {"name": name, "output": str(output), "seed": seed,
               "data": {"path": "qm9pack", "format": "qm9",
                        "split": {"train": train_size, "validation": VALIDATION,
                                  "test": "all" if test == "all" else int(test)}},
               "model": {**BACKBONES[backbone], **(model_extra or {})},
               "properties": {"targets": list(targets), "readout": readout, "dipole_head": dipole_head,
                              **(properties_extra or {})},
               "training": {**TRAINING, "epochs": EPOCHS},
               "description": f"QM9 {', '.join(targets)} from {backbone} with {readout} pooling"}
        started = time.perf_counter()
        train(parse_config(raw), resume=True, progress=False, command="benchmarks/pooling.py")
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    card = json.loads(card_path.read_text())
    return {"name": name, "backbone": backbone, "readout": readout, "seed": seed, "train": train_size,
            "dipole_head": dipole_head, "epochs": card["training"]["epochs_run"],
            "minutes": card["training"]["wall_time_minutes"], "parameters": card["training"]["parameters"],
            "test": card["metrics"]["test"], "validation": card["metrics"]["validation"],
            "test_size": card["data"]["sizes"]["test"]}


def _save(records: list[dict]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(records, indent=1) + "\n")


def _comparison(records):
    return [r for r in records if r["train"] == TRAIN and r["dipole_head"] == "scalar" and "homo_mae" in r["test"]
            and r["name"].startswith("cmp-")]


def best_jat_readout(records: list[dict]) -> str:
    """The JAT readout with the lowest mean HOMO+LUMO+gap test MAE over the finished comparison runs."""
    means = {}
    for readout in READOUTS:
        found = [r for r in _comparison(records) if r["backbone"] == "jat" and r["readout"] == readout]
        if found:
            means[readout] = np.mean([sum(r["test"][f"{t}_mae"] for t in TARGETS) for r in found])
    return min(means, key=means.get) if means else "attention"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only rewrite the report from finished runs")
    parser.add_argument("--control", action="store_true",
                        help="only the capacity control: JAT sum and mean with a per-atom MLP as large as the "
                             "attention readout")
    parser.add_argument("--curve", type=int, default=None, metavar="N",
                        help="only one more learning-curve point: the best JAT readout on N training molecules")
    args = parser.parse_args()
    records = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    done = {r["name"] for r in records}

    def add(record):
        if record["name"] not in done:
            records.append(record)
            done.add(record["name"])
        _save(records)
        write_report(records)

    if args.report:
        write_report(records)
        return
    if args.control:
        for seed in CONTROL_SEEDS:
            for readout in ("sum", "mean"):
                add(run(f"control-jat-{readout}-wide-s{seed}", "jat", readout, seed,
                        properties_extra={"hidden": CONTROL_HIDDEN}))
        return
    if args.curve:
        best = best_jat_readout(records)
        add(run(f"curve-jat-{best}-{args.curve}", "jat", best, 0, train_size=args.curve, test="all"))
        return
    for seed in SEEDS:
        for backbone in BACKBONES:
            for readout in READOUTS:
                add(run(f"cmp-{backbone}-{readout}-s{seed}", backbone, readout, seed))
        if seed == 0:
            best = best_jat_readout(records)
            for size in CURVE_SIZES:
                if size != TRAIN:
                    add(run(f"curve-jat-{best}-{size}", "jat", best, 0, train_size=size, test="all"))
    for head in ("scalar", "vector"):
        add(run(f"dipole-cmret-{head}", "cmret", "attention", 0, targets=["dipole"], dipole_head=head,
                model_extra={"dipole": head == "vector"}))


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{values.mean():.1f} +- {values.std(ddof=1):.1f}"


def write_report(records: list[dict]) -> None:
    """docs/pooling_results.md from the finished runs."""
    lines = ["# Attention pooling against sum and mean pooling on QM9 (CPU scale)", "",
             "Written by `benchmarks/pooling.py` (raw numbers: `benchmarks/results/pooling.json`). Setting: QM9 from "
             "qm9pack (130,831 molecules; the 3,054 failing the geometry check excluded), the fixed split of "
             f"`attnff.data.qm9` (first {TRAIN} of the training pool, {VALIDATION} validation, first {TEST} of the "
             f"test pool), one shared three-output head for HOMO, LUMO and gap, {EPOCHS} epochs, batch 32, AdamW "
             "lr 1e-3 with one warm-up epoch and cosine decay, EMA 0.99, best validation epoch kept; JAT width 64 x 3 "
             "layers, CMRET width 64 x 2 layers; attention readout: SAB x 2, PMA with 4 seeds, SAB, width 64, "
             "4 heads. One CPU thread per run on a shared 2-core machine (times are wall time of that thread).", ""]
    cmp = _comparison(records)
    if cmp:
        lines += ["## Test MAE (meV, mean +- sd over seeds)", "",
                  "| backbone | readout | seeds | HOMO | LUMO | gap | parameters | minutes per run |",
                  "|---|---|---|---|---|---|---|---|"]
        table = {}
        for backbone in BACKBONES:
            for readout in READOUTS:
                found = [r for r in cmp if r["backbone"] == backbone and r["readout"] == readout]
                if not found:
                    continue
                maes = {t: [1e3 * r["test"][f"{t}_mae"] for r in found] for t in TARGETS}
                table[backbone, readout] = {t: float(np.mean(v)) for t, v in maes.items()}
                lines.append(f"| {backbone} | {readout} | {len(found)} | " +
                             " | ".join(_mean_sd(maes[t]) for t in TARGETS) +
                             f" | {found[0]['parameters']:,} | {np.mean([r['minutes'] for r in found]):.1f} |")
        lines += ["", "## Attention pooling relative to sum and mean (change of the mean test MAE)", "",
                  "| backbone | against | HOMO | LUMO | gap |", "|---|---|---|---|---|"]
        for backbone in BACKBONES:
            for other in ("sum", "mean"):
                if (backbone, "attention") in table and (backbone, other) in table:
                    a, b = table[backbone, "attention"], table[backbone, other]
                    lines.append(f"| {backbone} | {other} | " +
                                 " | ".join(f"{100 * (a[t] / b[t] - 1):+.1f} %" for t in TARGETS) + " |")
        lines += ["", "Paper (Buterez et al. 2023, full QM9 training set, GPU), sum -> attention-based pooling:", ""]
        for (model, target), (s, a) in PAPER.items():
            lines.append(f"- {model} {target}: {s} -> {a} meV ({100 * (a / s - 1):+.1f} %)")
    curve = sorted([r for r in records if r["name"].startswith("curve-") or
                    (r["name"].startswith("cmp-jat-") and r["seed"] == 0 and
                     r["readout"] == best_jat_readout(records))], key=lambda r: r["train"])
    if curve:
        lines += ["", f"## Learning curve: JAT with {curve[0]['readout']} pooling (seed 0, {EPOCHS} epochs)", "",
                  "| training molecules | test molecules | HOMO | LUMO | gap | minutes |", "|---|---|---|---|---|---|"]
        for r in curve:
            lines.append(f"| {r['train']} | {r['test_size']} | " +
                         " | ".join(f"{1e3 * r['test'][f'{t}_mae']:.1f}" for t in TARGETS) + f" | {r['minutes']:.1f} |")
    control = [r for r in records if r["name"].startswith("control-")]
    if control:
        lines += ["", "## Capacity control: sum and mean with a per-atom MLP as large as the attention readout", "",
                  f"JAT, per-atom MLP 64 -> {CONTROL_HIDDEN} -> 3 (same split and budget as above; seed 0 only).", "",
                  "| readout | seeds | HOMO | LUMO | gap | parameters | minutes per run |",
                  "|---|---|---|---|---|---|---|"]
        for readout in ("sum", "mean"):
            found = [r for r in control if r["readout"] == readout]
            if found:
                lines.append(f"| {readout} (wide) | {len(found)} | " +
                             " | ".join(_mean_sd([1e3 * r["test"][f"{t}_mae"] for r in found]) for t in TARGETS) +
                             f" | {found[0]['parameters']:,} | {np.mean([r['minutes'] for r in found]):.1f} |")
    dipole = [r for r in records if r["name"].startswith("dipole-")]
    if dipole:
        lines += ["", "## Dipole moment magnitude: CMRET's equivariant vector head against a scalar head", "",
                  f"Attention readout for the scalar head; {TRAIN} training molecules, seed 0, {EPOCHS} epochs.", "",
                  "| head | test MAE (Debye) | test RMSE (Debye) | minutes |", "|---|---|---|---|"]
        for r in dipole:
            lines.append(f"| {r['dipole_head']} | {r['test']['dipole_mae']:.3f} | {r['test']['dipole_rmse']:.3f} | "
                         f"{r['minutes']:.1f} |")
    if VERDICT.exists():
        lines += ["", VERDICT.read_text().strip()]
    REPORT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
