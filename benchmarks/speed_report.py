"""Tables, scaling fits and the log-log plot of benchmarks/speed.py results (docs/performance.md).

Only the part of the doc between the two markers below is rewritten, so hand-written
sections (profiles, training throughput, discussion) outside them survive a rerun.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

BEGIN, END = "<!-- speed.py: begin generated part -->", "<!-- speed.py: end generated part -->"
SIZES = (9, 96, 768, 6144, 49152)
ATTNFF = ("jat", "cmret", "geomatt")
PEERS = ("schnet", "painn", "nequip", "mace", "torchmd-et")
LABELS = {"jat": "JAT", "cmret": "CMRET", "geomatt": "GeomAtt", "schnet": "SchNet", "painn": "PaiNN",
          "nequip": "NequIP", "mace": "MACE", "torchmd-et": "TorchMD-NET ET"}
ANGULAR = "angular invariants with four-body products (16 channels, degree 3)"
ATTNFF_SETTINGS = {
    "jat": f"shipped jat-md17-ethanol: width 64, 4 layers, 4 heads, 16 Bessels, {ANGULAR}, cutoff 5 A",
    "cmret": "shipped cmret-md17-ethanol: width 64, 4 layers, 4 heads, 32 expnorm RBF, local attention, "
             f"{ANGULAR}, cutoff 5 A",
    "geomatt": f"shipped geomatt-md17-ethanol: width 64, 3 layers, orders 2-4, 100 Gaussians, {ANGULAR}, cutoff 5 A",
}
BASELINE_SETTINGS = ("the potential of the same name in the --baseline-root checkout (named in the text above the "
                     "tables)")


def label(model: str) -> str:
    base, _, tag = model.partition("@")
    return LABELS.get(base, base) + (f" ({tag})" if tag else "")


def _get(cases: dict, model: str, n: int, dtype: str, allocator: str) -> dict | None:
    return cases.get(f"{model}|{n}|{dtype}|{allocator}")


def _main(cases: dict, model: str, n: int, dtype: str) -> dict | None:
    """The row's case: the default allocator; for a baseline (no keep_memory yet) its glibc case."""
    if model.endswith("@baseline"):
        return _get(cases, model, n, dtype, "glibc") or _get(cases, model, n, dtype, "default")
    return _get(cases, model, n, dtype, "default")


def _cell(result: dict | None, what: str = "time") -> str:
    if result is None:
        return ""
    if result.get("status") != "ok":
        labels = {"oom": "OOM", "skipped": "skipped", "timeout": "timeout", "killed": "stopped"}
        return labels.get(result.get("status"), "error")
    if what == "rss":
        return f"{result['peak_rss_mib'] / 1024:.2f}"
    us = 1e3 * result["ms_per_call"] / result["n_atoms"]
    auto = result.get("recomputed") and not result["model"].endswith("@recompute")
    return f"{result['ms_per_call']:.4g} ms / {us:.4g} us" + (" (auto: recomputed)" if auto else "")


def scaling_exponent(cases: dict, model: str, dtype: str) -> tuple[float, list[int]] | None:
    """Least-squares slope of log(ms/call) on log(atoms) over the water boxes of >= 768 atoms measured."""
    points = [(n, r["ms_per_call"]) for n in SIZES if n >= 768
              for r in [_main(cases, model, n, dtype)] if r and r.get("status") == "ok"]
    if len(points) < 2:
        return None
    xs, ys = [math.log(n) for n, _ in points], [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, [n for n, _ in points]


def models_present(cases: dict) -> list[str]:
    found = {r["model"] for r in cases.values()}
    order = [*ATTNFF, *(f"{m}@compile" for m in ATTNFF), *(f"{m}@recompute" for m in ATTNFF),
             *(f"{m}@plain" for m in ATTNFF), *PEERS,
             *(f"{m}@baseline" for m in ATTNFF)]
    return [m for m in order if m in found] + sorted(found - set(order))


def _load_range(cases: list[dict]) -> str:
    loads = []
    for r in cases:
        match = re.search(r"load average: ([\d.]+)", r.get("load", ""))
        if match:
            loads.append(float(match.group(1)))
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "unknown"


def generated_text(results: dict, plot_path: Path, allocator_results: dict | None = None) -> str:
    cases = results.get("cases", {})
    allocator_cases = (allocator_results or results).get("cases", {})
    models = models_present(cases)
    lines = [BEGIN, ""]
    lines += [f"Machine: {results.get('machine', 'unknown')}; 1-minute load average while measuring "
              f"{_load_range(list(cases.values()))} (the 2 cores are shared with other jobs: compare ratios "
              "measured in the same run, see the run column of benchmarks/results/speed.json).", ""]
    for dtype in ("float32", "float64"):
        lines += [f"### {dtype}, default allocator: ms per call / microseconds per atom per step", "",
                  "| model | hyperparameters | " + " | ".join(f"{n} atoms" for n in SIZES) + " |",
                  "| --- | --- | " + " | ".join("---" for _ in SIZES) + " |"]
        for model in models:
            row = [_main(cases, model, n, dtype) for n in SIZES]
            if not any(row):
                continue
            settings = next((r.get("settings") for r in row if r and r.get("settings")), None)
            settings = settings or (BASELINE_SETTINGS if model.endswith("@baseline")
                                    else ATTNFF_SETTINGS.get(model.split("@")[0], ""))
            lines.append(f"| {label(model)} | {settings} | " + " | ".join(_cell(r) for r in row) + " |")
        lines.append("")
    lines += ["### Peak RSS (GiB), float32, default allocator", "",
              "| model | " + " | ".join(f"{n} atoms" for n in SIZES) + " |",
              "| --- | " + " | ".join("---" for _ in SIZES) + " |"]
    for model in models:
        row = [_main(cases, model, n, "float32") for n in SIZES]
        if any(row):
            lines.append(f"| {label(model)} | " + " | ".join(_cell(r, "rss") for r in row) + " |")
    lines += ["", "### Allocator: ms per call (peak RSS GiB)", "",
              "From " + ("benchmarks/results/speed_allocators.json, the three variants of each case run back to back"
                         if allocator_results else "the main results") + ".",
              "default: what a user gets (attnff raises glibc's thresholds itself; peers: plain glibc); "
              "glibc: attnff with `keep_memory=False`; env: glibc plus MALLOC_MMAP_THRESHOLD_ and "
              "MALLOC_TRIM_THRESHOLD_ of 32 GiB.", "",
              "| model | atoms | dtype | default | glibc | env |", "| --- | --- | --- | --- | --- | --- |"]
    for model in models_present(allocator_cases):
        for n in SIZES:
            for dtype in ("float32", "float64"):
                trio = [_get(allocator_cases, model, n, dtype, a) for a in ("default", "glibc", "env")]
                if sum(1 for r in trio if r and r.get("status") == "ok") < 2:
                    continue
                cells = [f"{r['ms_per_call']:.4g} ({r['peak_rss_mib'] / 1024:.2f})" if r and r.get("status") == "ok"
                         else _cell(r) for r in trio]
                lines.append(f"| {label(model)} | {n} | {dtype} | " + " | ".join(cells) + " |")
    lines += ["", "### Scaling exponent (time per call ~ atoms^k, water boxes of 768 atoms and more)", "",
              "| model | dtype | k | sizes used |", "| --- | --- | --- | --- |"]
    for model in models:
        for dtype in ("float32", "float64"):
            fit = scaling_exponent(cases, model, dtype)
            if fit:
                lines.append(f"| {label(model)} | {dtype} | {fit[0]:.3f} | {', '.join(map(str, fit[1]))} |")
    lines += ["", ratio_section(cases), "", before_after_section(cases), "", skipped_section(cases), "",
              f"![time per call vs atoms]({Path('images') / plot_path.name})", "", END]
    return "\n".join(lines)


def ratio_section(cases: dict) -> str:
    """JAT and CMRET against each peer per atom, from cases of the same size, dtype and run."""
    lines = ["### Ratios in one run (peer time / attnff time; > 1: attnff faster), default allocator", "",
             "| atoms | dtype | attnff model | " + " | ".join(LABELS[p] for p in PEERS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in PEERS) + " |"]
    any_row = False
    for n in SIZES:
        for dtype in ("float32", "float64"):
            for model in ("jat", "cmret", "jat@compile", "cmret@compile", "jat@recompute", "cmret@recompute"):
                mine = _get(cases, model, n, dtype, "default")
                if not mine or mine.get("status") != "ok":
                    continue
                cells = []
                for peer in PEERS:
                    other = _get(cases, peer, n, dtype, "default")
                    if other and other.get("status") == "ok" and other.get("run") == mine.get("run"):
                        cells.append(f"{other['ms_per_call'] / mine['ms_per_call']:.2f}")
                    else:
                        cells.append(_cell(other) if other and other.get("status") != "ok" else "")
                if any(cells):
                    any_row = True
                    lines.append(f"| {n} | {dtype} | {label(model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if any_row else ""


def before_after_section(cases: dict) -> str:
    """attnff now against the baseline checkout (``--baseline-root``): ms per call and speed-up."""
    lines = ["### Against an earlier checkout (ms per call; speed-up = before / after, below 1: slower now)", "",
             "before: the checkout given as --baseline-root (named in the text above the tables), its code and shipped "
             "potentials with its own defaults, timed in the same run; after: this checkout with its default "
             "(keep_memory) and, where measured, with keep_memory=False.", "",
             "| model | atoms | dtype | before | after, default | speed-up | after, glibc | speed-up | "
             "peak RSS before / after (GiB) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    any_row = False
    for model in ATTNFF:
        for n in SIZES:
            for dtype in ("float32", "float64"):
                before = _main(cases, f"{model}@baseline", n, dtype)
                if not before or before.get("status") != "ok":
                    continue
                after = [_get(cases, model, n, dtype, a) for a in ("default", "glibc")]
                cells = []
                for r in after:
                    ok = r and r.get("status") == "ok"
                    cells += [f"{r['ms_per_call']:.4g}" if ok else _cell(r),
                              f"{before['ms_per_call'] / r['ms_per_call']:.2f}x" if ok else ""]
                rss = after[0] if after[0] and after[0].get("status") == "ok" else None
                rss_after = f"{rss['peak_rss_mib'] / 1024:.2f}" if rss else ""
                rss_text = f"{before['peak_rss_mib'] / 1024:.2f} / " + rss_after
                any_row = True
                lines.append(f"| {label(model)} | {n} | {dtype} | {before['ms_per_call']:.4g} | "
                             + " | ".join(cells) + f" | {rss_text} |")
    return "\n".join(lines) if any_row else ""


def skipped_section(cases: dict) -> str:
    notes = sorted({(r["model"], r["n_atoms"], r["dtype"], r["allocator"], r.get("status"), r.get("note", ""))
                    for r in cases.values() if r.get("status") != "ok"})
    if not notes:
        return ""
    lines = ["### Cases not measured", "", "| model | atoms | dtype | allocator | status | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {label(m)} | {n} | {d} | {a} | {s} | {note} |" for m, n, d, a, s, note in notes]
    return "\n".join(lines)


def write_plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = results.get("cases", {})
    fig, ax = plt.subplots(figsize=(7, 5))
    for model in models_present(cases):
        points = [(n, r["ms_per_call"]) for n in SIZES for r in [_main(cases, model, n, "float32")]
                  if r and r.get("status") == "ok"]
        if not points:
            continue
        style = ("-o" if model in ATTNFF else "-.^" if model.endswith("@recompute")
                 else "-v" if model.endswith("@compile") else ":x" if model.endswith("@baseline") else "--s")
        ax.plot(*zip(*points), style, label=label(model), markersize=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("atoms (9: ethanol; others: water at 1.0 g/cm$^3$)")
    ax.set_ylabel("energy + forces, ms per call (float32, CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(results: dict, doc: Path, plot: Path, allocator_results: dict | None = None) -> None:
    """Rewrite the generated part of ``doc`` (creating it if needed) and the plot."""
    write_plot(results, plot)
    text = generated_text(results, plot, allocator_results)
    if doc.exists() and BEGIN in doc.read_text() and END in doc.read_text():
        old = doc.read_text()
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = ("# Performance\n\nWritten by `python benchmarks/speed.py` (see its docstring for every option).\n\n"
               + text + "\n")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new)
