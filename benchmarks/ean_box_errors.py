"""jat-ean's force error box by box: how much one EAN box differs from the next.

    python benchmarks/ean_box_errors.py                                   # shipped jat-ean on data/ean_test.extxyz
    python benchmarks/ean_box_errors.py --potential runs/x/x.safetensors --data data/ean_mixed_seed5026.extxyz

Each generator segment (``info["segment"]``) is one independently packed box; its frames are a short
trajectory of that box, so they are strongly correlated and the number of boxes, not of frames, sets
how well a test file measures the error on boxes the potential has not seen. For every box the force
MAE (float64, frames whose largest reference force is at most --max-force eV/A) is listed with the
box's density and temperature and the share of its cations that have lost their proton to a nitrate; the mean
over boxes and its standard error close the table. Written to
benchmarks/results/ean_box_errors_<potential stem>_on_<data stem>.md.
"""

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def box_errors(potential: str, path: Path, max_force: float) -> dict[int, dict]:
    """segment -> {"density", "temperature", "frames", "mae"} (force MAE in meV/A)."""
    from ase.io import read

    from attnff import AttnCalculator
    from attnff.datagen.ean import neutral_cation_fraction

    calc = AttnCalculator.load(potential, device="cpu", dtype="float64")
    boxes: dict[int, dict] = {}
    for frame in read(path, ":"):
        reference = frame.get_forces()
        if np.abs(reference).max() > max_force:
            continue
        box = boxes.setdefault(int(frame.info["segment"]), {
            "density": float(frame.info.get("density_target", np.nan)),
            "temperature": float(frame.info.get("temperature_K", np.nan)),
            "driver": str(frame.info.get("driver", "")), "errors": [], "neutral": []})
        box["errors"].append(1e3 * np.abs(calc.get_forces(frame) - reference).mean())
        box["neutral"].append(neutral_cation_fraction(frame))
    for box in boxes.values():
        box["frames"], box["mae"] = len(box["errors"]), float(np.mean(box.pop("errors")))
        box["neutral"] = 100 * float(np.mean(box["neutral"]))
    return boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--potential", default="jat-ean")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ean_test.extxyz")
    parser.add_argument("--max-force", type=float, default=15.0, help="leave out frames with a larger reference force")
    args = parser.parse_args()

    boxes = box_errors(args.potential, args.data, args.max_force)
    maes = np.array([box["mae"] for box in boxes.values()])
    frames = sum(box["frames"] for box in boxes.values())
    data = args.data.resolve()
    shown = data.relative_to(ROOT) if data.is_relative_to(ROOT) else data
    command = "python benchmarks/ean_box_errors.py" + (f" --potential {args.potential}" if args.potential != "jat-ean"
                                                        else "") + f" --data {shown}"
    scope = (f"Potential: {args.potential}; {shown}: {len(boxes)} boxes, {frames} frames with all |F| <= "
             f"{args.max_force} eV/A; float64. Force MAE in meV/A.")
    lines = [f"# jat-ean force error by box (`{command}`)", "", scope, "",
             "| box (segment) | driver | density (g/cm3) | T (K) | frames | neutral cations (%) | force MAE |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for segment, box in sorted(boxes.items()):
        lines.append(f"| {segment} | {box['driver']} | {box['density']:.2f} | {box['temperature']:.0f} "
                     f"| {box['frames']} | {box['neutral']:.1f} | {box['mae']:.1f} |")
    spread = maes.std(ddof=1) if len(maes) > 1 else float("nan")
    summary = (f"Mean over boxes {maes.mean():.1f} meV/A, standard error {spread / np.sqrt(len(maes)):.1f} "
               f"(box-to-box standard deviation {spread:.1f}); range {maes.min():.1f}-{maes.max():.1f}.")
    lines += ["", summary, ""]
    text = "\n".join(lines)
    print(text)
    source = Path(args.potential)
    name = source.parent.name if source.stem == "model" else source.stem  # potentials/<name>/model.safetensors
    out = ROOT / "benchmarks" / "results" / f"ean_box_errors_{name}_on_{args.data.stem}.md"
    out.write_text(text)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
