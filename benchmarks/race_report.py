"""docs/accuracy_race.md and its plot from benchmarks/results/training_race.json (see training_race.py)."""

from __future__ import annotations

import time
from pathlib import Path

from attnff.units import ENERGY_UNITS

KCAL_MOL_EV = ENERGY_UNITS["kcal/mol"]


def peer_of(name: str) -> str:
    """The peer an attnff contestant is measured against: PaiNN (message passing) for the JAT and GeomAtt
    lines, MACE (an equivariant network) for the CMRET lines."""
    return "mace" if name.startswith("cmret") else "painn"


HEADER = """# Accuracy per CPU-minute: attnff against MACE and PaiNN

Which package gives the most accurate ethanol potential for a given amount of compute? Every contestant
trains on the same MD17 ethanol split (frames 0-949 train, 950-999 validation, 1000-1999 test) in one
process with one thread, with its package's own training command and documented small-molecule recipe. Its
CPU time (user + system of the process tree) is read every 2 s; each checkpoint the package writes is
copied with the CPU seconds spent so far. The model a contestant has at B CPU-minutes is its last checkpoint
before B; its errors on the 1000 test frames are computed afterwards, in float64, through the package's
own ASE calculator (attnff: its training command's final evaluation). Validation runs inside each
package's loop and counts as training time.

Rerun (one CPU core per contestant; two at a time by default, resumable after any interruption):

```bash
python benchmarks/training_race.py --setup                   # peer venvs: benchmarks/.peers-venv*
nice python benchmarks/training_race.py --run                 # 5 contestants x 80 CPU-minutes
python benchmarks/training_race.py --evaluate --report        # this page
```

The data file is the MD17 ethanol npz (docs/data.md), in data/external/.

Conditions and limits: one machine with 2 cores (x86-64), torch 2.13.0+cpu everywhere, up to seven
processes at once (load average 5 to 8), so each contestant's CPU-seconds include the slowdown of shared
caches, about alike for all (the JAT + angular products line had a core to itself for most of its run). The
effect is large: a CMRET epoch took 6.5 CPU-seconds alone and 9.2 beside a second training run, so a schedule
sized under one load ends earlier or later under another (said in each recipe).
attnff's checkpoints are judged by the weights its training command writes: the best validation epoch so
far (EMA weights), as a user of `attnff train` would get them; schnetpack's likewise (its best model). The
"final weights" lines judge the same attnff runs by their last epoch's EMA weights (`training.keep: final`).
A package that checkpoints rarely is judged by its older checkpoint: MACE
writes one per epoch (about 3 CPU-minutes each here), schnetpack only when the validation loss improves.
schnetpack 2.0.4 needs two names that torch 2.13 dropped, and its resume loads checkpoints that torch 2.13
reads only with weights_only=False (benchmarks/schnetpack_shim.py handles the three; training is unchanged).
MACE and schnetpack live in separate venvs: mace-torch 0.3.16 fails in its
evaluation with the torchmetrics 1.0.1 that schnetpack 2.0.4 pins.
"""


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_report(results: dict, doc: Path, plot: Path, checkpoints: tuple[int, ...], published: dict,
                 levers: dict | None = None) -> None:
    """The results table (force and energy MAE at each checkpoint), the plot, the recipes, the state and
    the short lever runs (benchmarks/race_levers.py)."""
    names = list(results)
    lines = [HEADER, "## Test errors at each CPU budget", "",
             "Force MAE in kcal/mol/A (energy MAE in kcal/mol in brackets); '-': budget not reached yet; 'stopped': "
             "the run failed before it (its recipe says why).", "",
             "| contestant | " + " | ".join(f"{m} CPU-min" for m in checkpoints) + " |",
             "|---|" + "---|" * len(checkpoints)]
    for name in names:
        rows = results[name]["checkpoints"]
        cells = []
        for minutes in checkpoints:
            row = rows.get(str(minutes))
            if row is None:
                cells.append("stopped" if results[name].get("ended") else "-")
            else:
                cells.append(f"{row['forces_mae'] / KCAL_MOL_EV:.3f} ({row['energy_mae'] / KCAL_MOL_EV:.2f})")
        lines.append(f"| {results[name]['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Most accurate model at each budget (force MAE), among the contestants that reached it:", ""]
    for minutes in checkpoints:
        reached = {n: r["checkpoints"][str(minutes)]["forces_mae"] for n, r in results.items()
                   if str(minutes) in r["checkpoints"]}
        missing = [results[n]["label"] for n in names if n not in reached and not results[n].get("ended")]
        if not reached:
            lines.append(f"- {minutes} CPU-min: no contestant has reached it yet.")
            continue
        best = min(reached, key=reached.get)
        lines.append(f"- {minutes} CPU-min: {results[best]['label']} ({reached[best] / KCAL_MOL_EV:.3f} kcal/mol/A)"
                     + (f"; not yet run this far: {', '.join(missing)}" if missing else ""))
    lines += ["", "Each attnff model against the peer of its kind (JAT and GeomAtt against PaiNN, CMRET against MACE), "
              "force MAE at 40 and 80 CPU-minutes:", ""]
    for name, result in results.items():
        peer = peer_of(name)
        if result.get("kind") != "attnff" or peer not in results:
            continue
        cells = []
        for minutes in (40, 80):
            ours, theirs = (results[n]["checkpoints"].get(str(minutes)) for n in (name, peer))
            if ours is None and result.get("ended"):
                cells.append(f"{minutes} CPU-min: stopped before it ({result['ended']})")
                continue
            if ours is None or theirs is None:
                cells.append(f"{minutes} CPU-min: not run this far")
                continue
            verdict = "wins" if ours["forces_mae"] < theirs["forces_mae"] else "loses"
            cells.append(f"{minutes} CPU-min: {verdict}, {ours['forces_mae'] / KCAL_MOL_EV:.3f} against "
                         f"{theirs['forces_mae'] / KCAL_MOL_EV:.3f}")
        lines.append(f"- {result['label']} against {results[peer]['label']}: " + "; ".join(cells))
    lines += ["", f"![test force MAE against CPU-minutes]({plot.relative_to(doc.parent)})", "",
              "The plot leaves out the lines that judge another line's run by other weights (final weights).", "",
              "Published full-budget MD17 ethanol force MAEs (1000 training configurations, GPU-days, drawn as "
              "reference lines): " + ", ".join(f"{k} {v}" for k, v in published.items()) + " kcal/mol/A. They train "
              "and test on frames drawn at random from the whole MD17 trajectory; this race's split is one stretch "
              "of consecutive frames cut in time, and its test errors grow with a frame's distance from its "
              "nearest training frame (docs/md17_split.md), so the published numbers are orientation, not a "
              "like-for-like reference.", "",
              "## Recipes", ""]
    for name in names:
        lines.append(f"- **{results[name]['label']}**: {results[name]['recipe']}")
    lines += ["", "## Checkpoints copied", "",
              "CPU-minutes at which each contestant wrote a checkpoint (the last one below a budget is its "
              "model at that budget):", ""]
    for name in names:
        marks, count = results[name]["checkpoints_at_cpu_min"], results[name]["checkpoints_written"]
        shown = ", ".join(f"{m:g}" for m in marks[:12]) + (f", ... ({count} in all, last {marks[-1]:g})"
                                                            if count > 12 else "")
        lines.append(f"- {results[name]['label']}: {shown or 'none yet'}")
    lines += _levers_section(levers or {})
    lines += ["", f"Results: benchmarks/results/training_race.json, written {time.strftime('%Y-%m-%d')}.", ""]
    doc.write_text("\n".join(lines))
    _plot(results, plot, checkpoints, published)


def _levers_section(levers: dict) -> list[str]:
    """One row per lever: its change to the race recipe and its test errors at the end of its short schedule."""
    if not levers:
        return []
    budget = {row["budget_cpu_min"] for row in levers.values()}
    lines = ["", "## Levers", "",
             f"Each lever is one change to a race recipe, trained with its schedule sized to end at "
             f"{'/'.join(f'{b:g}' for b in sorted(budget))} CPU-minutes (`python benchmarks/race_levers.py`; "
             "its docstring says how), so that levers can be compared before one earns a race line. Test errors "
             "of the final weights; CPU-minutes of the training epochs. Force MAE in kcal/mol/A, energy MAE in "
             "kcal/mol; change against the lever's base (the same recipe without the change).", "",
             "| lever | change | epochs | CPU-min | force MAE | energy MAE | force change |",
             "|---|---|---|---|---|---|---|"]
    for name, row in levers.items():
        base = levers.get(row["base"] or "")
        change = "-" if base is None else f"{100 * (row['forces_mae'] / base['forces_mae'] - 1):+.1f} %"
        lines.append(f"| {name} | {row['change']} | {row['epochs']} | {row['cpu_min']:.1f} | "
                     f"{row['forces_mae'] / KCAL_MOL_EV:.3f} | {row['energy_mae'] / KCAL_MOL_EV:.3f} | {change} |")
    return lines


def _plot(results: dict, path: Path, checkpoints: tuple[int, ...], published: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 4.2))
    for result in results.values():
        if result.get("trained_by"):  # another line's run judged by other weights: in the table only
            continue
        points = sorted((int(m), row["forces_mae"] / KCAL_MOL_EV) for m, row in result["checkpoints"].items())
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=result["label"],
                    linestyle="-" if result.get("kind") == "attnff" else "--")
    for k, (label, value) in enumerate(published.items()):
        ax.axhline(value, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(f"{label} (published)", (checkpoints[0], value), fontsize=7, color="grey",
                    xytext=(2, 2 + 7 * (k % 2)), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(checkpoints), [str(m) for m in checkpoints])
    ax.set_yticks([0.2, 0.3, 0.5, 1.0, 2.0], ["0.2", "0.3", "0.5", "1", "2"])
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training CPU-minutes (one thread)")
    ax.set_ylabel("test force MAE (kcal/mol/A)")
    ax.set_title("MD17 ethanol, 950 training frames")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: the lines stay visible
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
