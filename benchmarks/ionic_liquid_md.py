"""NVT and NPT of an EAN box twice the size of the training boxes with jat-ean, through `attnff md`.

    python benchmarks/ionic_liquid_md.py                  # 16 ion pairs, 50 ps each at 1 fs, 300 K / 1 bar
    python benchmarks/ionic_liquid_md.py --resume         # continue runs that were cut off
    python benchmarks/ionic_liquid_md.py --steps 200 --out /tmp/ean_md --no-docs   # a quick look
    python benchmarks/ionic_liquid_md.py --potential runs/x/x.safetensors --compile   # a candidate, compiled

The box is packed at the experimental 1.21 g/cm3 and relaxed with the potential (the examples'
build_box.py). Both runs start from it and run side by side, one thread each, as two
`attnff md` processes; each writes its trajectory, log, md.png (energies, temperature, density)
and rdf.png (N-O, N-N, O-O, intermolecular pairs, second half of the run) into OUT/nvt and
OUT/npt. The bond check of `attnff md` compares the molecules of every trajectory frame with
those of the first, leaving out N-H and O-H bonds (the ammonium protons move between N and O
in the GFN1-xTB reference MD too; the percentage of cations that lost their proton is reported
beside the reference's). The script then writes docs/ionic_liquid_md.md with the results and copies
the plots to docs/images/ean_{nvt,npt}_{md,rdf}.png.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "ionic_liquid"))
LABILE = ["N-H", "O-H"]  # exchangeable protons: GFN1-xTB's own MD moves them between N and O
RUNS = {"nvt": ["--ensemble", "nvt"], "npt": ["--ensemble", "npt", "--pressure", "1"]}


def _done_steps(run_dir: Path) -> int:
    """MD steps already in ``run_dir/md.traj`` (0 when there is none)."""
    trajectory = run_dir / "md.traj"
    return int(read(trajectory, -1).info.get("md_step", 0)) if trajectory.exists() else 0


def _command(args, ensemble: str, structure: Path, run_dir: Path, steps: int, restart: bool) -> list[str]:
    command = [sys.executable, "-c", "from attnff.cli import main; raise SystemExit(main())", "md", str(structure),
               "--potential", args.potential, "--device", "cpu", "--dtype", "float32", "--out", str(run_dir),
               "--temperature", "300", "--timestep", str(args.timestep), "--steps", str(steps),
               "--log-interval", str(args.interval), "--traj-interval", str(args.interval), "--no-progress",
               "--seed", "0", "--rdf", "N-O", "N-N", "O-O", "--labile-bonds", *LABILE, *RUNS[ensemble]]
    command += ["--compile"] if args.compile else []
    return command + ["--restart"] if restart else command


def neutral_cation_percent(frames) -> float:
    """Mean over frames of the percentage of ethylammonium cations that have lost their proton."""
    from attnff.datagen.ean import neutral_cation_fraction

    return 100 * sum(map(neutral_cation_fraction, frames)) / len(frames)


def reference_neutral_cation_percent() -> tuple[float, int]:
    """The same over the GFN1-xTB reference MD frames of data/ean.extxyz, and their count."""
    frames = [f for f in read(ROOT / "data" / "ean.extxyz", ":") if f.info.get("stage") == "md"]
    return neutral_cation_percent(frames), len(frames)


def _options(args) -> str:
    """The non-default options of this run, as typed on the command line."""
    text = "" if args.potential == "jat-ean" else f" --potential {args.potential}"
    return text + (" --compile" if args.compile else "")


def _report(args, results: dict) -> str:
    from attnff.datagen.ean import EXPERIMENTAL_DENSITY

    reference_percent, reference_frames = reference_neutral_cation_percent()

    lines = [
        "# jat-ean: NVT and NPT of liquid EAN",
        "",
        f"Written by `python benchmarks/ionic_liquid_md.py{_options(args)}` on {time.strftime('%Y-%m-%d')} "
        f"({os.cpu_count()} cores, both runs side by side, one thread each, float32"
        f"{', compiled model' if args.compile else ''}).",
        "",
        f"Box: {args.pairs} ion pairs ({15 * args.pairs} atoms, twice the 120-atom training boxes), packed at "
        f"{EXPERIMENTAL_DENSITY} g/cm3 and relaxed with the potential; 300 K, time step {args.timestep} fs, "
        "Maxwell-Boltzmann start (seed 0). NVT: Langevin, friction 0.01/fs. NPT: Nose-Hoover chain thermostat "
        "(100 fs) with the isotropic MTK barostat (1000 fs) at 1 bar.",
        "",
        "Bond check (`attnff md --labile-bonds N-H O-H`): the molecules (bond graph, 1.2 x covalent radii) of every "
        "saved frame against those of the first, with N-H and O-H bonds left out, so every C-C, C-N, C-H and N-O "
        "bond is checked and the ammonium protons may move. They do in the reference: over the GFN1-xTB MD frames "
        f"of data/ean.extxyz ({reference_frames} frames, 8 ion pairs), {reference_percent:.1f} % of the cations "
        "have lost a proton to a nitrate (or share it with one), and the skeleton check passes in every frame. "
        "The column 'neutral cations' gives the same percentage for the MD frames.",
        "",
        "| run | steps | time (ps) | NaN | frames checked | frames with broken or new bonds (C, N-O skeleton) "
        "| frames where only N-H/O-H changed | neutral cations (% of cations) | mean T (K) "
        "| mean density, second half (g/cm3) | wall time (min) | ms per step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        density = f"{r['mean_density_g_cm3']:.3f}" if r.get("mean_density_g_cm3") else "-"
        lines.append(f"| {name.upper()} | {r['steps']} | {r['time_ps']:.1f} | {r['has_nan']} | {r['analysed_frames']} "
                     f"| {r['broken_molecule_frames']} | {r['labile_changed_frames']} "
                     f"| {r['neutral_cation_percent']:.2f} "
                     f"| {r['mean_temperature_K']:.1f} | {density} "
                     f"| {r['wall_minutes']:.1f} | {r['ms_per_step']:.1f} |")
    npt = results.get("npt", {})
    if npt.get("mean_density_g_cm3"):
        deviation = 100 * (npt["mean_density_g_cm3"] / EXPERIMENTAL_DENSITY - 1)
        lines += ["", f"NPT mean density {npt['mean_density_g_cm3']:.3f} g/cm3 against the experimental "
                      f"{EXPERIMENTAL_DENSITY} g/cm3 ({deviation:+.1f} %; information, the reference is GFN1-xTB, "
                      "not experiment)."]
    lines += ["", "Wall time is that of the last invocation (a resumed run counts only its own part).", ""]
    for name in results:
        lines += [f"![{name} energies, temperature, density](images/ean_{name}_md.png)",
                  f"![{name} radial distribution functions](images/ean_{name}_rdf.png)", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--interval", type=int, default=100, help="steps between log rows and saved frames")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ean_md")
    parser.add_argument("--resume", action="store_true", help="continue the runs in OUT where they stopped")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/ionic_liquid_md.md and images")
    parser.add_argument("--compile", action="store_true", help="run the potential compiled (attnff md --compile)")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    structure = args.out / "ean_box.xyz"
    if not structure.exists():
        from build_box import main as build_box

        build_box(["--pairs", str(args.pairs), "--potential", args.potential, "--out", str(structure)])
    environment = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    processes, started = {}, {}
    for name in RUNS:
        run_dir = args.out / name
        done = _done_steps(run_dir) if args.resume else 0
        remaining = args.steps - done
        if remaining <= 0:
            continue
        started[name] = (time.perf_counter(), done)
        with open(args.out / f"{name}.log", "a") as log:  # the child keeps its own copy of the handle
            processes[name] = subprocess.Popen(_command(args, name, structure, run_dir, remaining, done > 0),
                                               stdout=log, stderr=subprocess.STDOUT, env=environment)
    wall_minutes = {}
    while len(wall_minutes) < len(processes):  # each run's own end time, whichever finishes first
        for name, process in processes.items():
            if name not in wall_minutes and process.poll() is not None:
                wall_minutes[name] = (time.perf_counter() - started[name][0]) / 60
                print(f"{name}: exit {process.returncode} after {wall_minutes[name]:.1f} min")
                steps_run = _done_steps(args.out / name) - started[name][1]
                timing = {"wall_minutes": wall_minutes[name], "steps_run": steps_run}
                (args.out / name / "timing.json").write_text(json.dumps(timing))
        time.sleep(1.0)
    results = {}
    for name in RUNS:
        run_dir = args.out / name
        if not (run_dir / "summary.json").exists() or not (run_dir / "analysis.json").exists():
            print(f"{name}: no results, see {args.out / (name + '.log')}")
            continue
        result = json.loads((run_dir / "summary.json").read_text())
        result |= json.loads((run_dir / "analysis.json").read_text())
        # the last invocation that ran steps (timing.json), so a rerun of finished runs still reports it
        timing = json.loads((run_dir / "timing.json").read_text()) if (run_dir / "timing.json").exists() else {}
        result["wall_minutes"] = timing.get("wall_minutes", float("nan"))
        steps_run = timing.get("steps_run", 0)
        result["ms_per_step"] = 6e4 * result["wall_minutes"] / steps_run if steps_run > 0 else float("nan")
        result["neutral_cation_percent"] = neutral_cation_percent(read(run_dir / "md.traj", ":"))
        results[name] = result
        print(name, json.dumps({k: result[k] for k in ("steps", "time_ps", "has_nan", "broken_molecule_frames",
                                                       "labile_changed_frames", "neutral_cation_percent",
                                                       "mean_temperature_K", "mean_density_g_cm3")}))
    if not args.no_docs and results:
        for name in results:
            for plot in ("md", "rdf"):
                shutil.copyfile(args.out / name / f"{plot}.png", ROOT / "docs" / "images" / f"ean_{name}_{plot}.png")
        (ROOT / "docs" / "ionic_liquid_md.md").write_text(_report(args, results))
        print("wrote docs/ionic_liquid_md.md")


if __name__ == "__main__":
    main()
