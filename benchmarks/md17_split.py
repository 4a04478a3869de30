"""How hard the race's MD17 ethanol split is: consecutive MD frames, and errors against distance from training.

    python benchmarks/md17_split.py          # writes docs/md17_split.md and benchmarks/results/md17_split.json

The 2000-frame ethanol file holds consecutive frames of one MD trajectory, and the project's split
(frames 0-949 train, 950-999 validation, 1000-1999 test) cuts it in time: the test frames follow the
training window instead of being drawn from the whole trajectory, as the published MD17 benchmarks draw
theirs. This script measures what that means, with each shipped ethanol potential in float64:

- frame spacing: the RMS change of the 36 interatomic distances between consecutive frames and between
  random pairs of frames (seed 0);
- force MAE on the training, validation and test windows (the test in blocks of 250 frames);
- force MAE of the test frames by their distance to the nearest training frame (the RMS difference of the
  interatomic distances), in quartiles.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from ase import Atoms

from attnff import AttnCalculator
from attnff.units import ENERGY_UNITS
from reference_data import reference_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "external" / "md17_ethanol_2000.npz"
RESULTS = ROOT / "benchmarks" / "results" / "md17_split.json"
DOC = ROOT / "docs" / "md17_split.md"
POTENTIALS = ["jat-md17-ethanol", "cmret-md17-ethanol", "geomatt-md17-ethanol"]
KCAL_MOL = ENERGY_UNITS["kcal/mol"]  # in eV
#: (label, first frame, end frame) of the race's split, the test in four blocks
WINDOWS = [("train", 0, 950), ("validation", 950, 1000), ("test 1000-1249", 1000, 1250),
           ("test 1250-1499", 1250, 1500), ("test 1500-1749", 1500, 1750), ("test 1750-1999", 1750, 2000)]
TRAIN_END, TEST_START = 950, 1000


def pair_distances(positions: np.ndarray) -> np.ndarray:
    """(frames, atoms, 3) A -> (frames, pairs) interatomic distances in A, i < j."""
    i, j = np.triu_indices(positions.shape[1], 1)
    return np.linalg.norm(positions[:, i] - positions[:, j], axis=-1)


def rms_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS difference (A) of pair-distance rows a (n, P) and b (n, P)."""
    return np.sqrt(((a - b) ** 2).mean(-1))


def nearest_training_distance(distances: np.ndarray) -> np.ndarray:
    """(frames,) RMS pair-distance difference (A) of every frame to its nearest training frame."""
    train = distances[:TRAIN_END]
    return np.array([rms_change(train, row[None]).min() for row in distances])


def force_errors(name: str, numbers: np.ndarray, positions: np.ndarray, forces: np.ndarray) -> np.ndarray:
    """(frames,) force MAE per frame in kcal/mol/A of a shipped potential in float64."""
    calc = AttnCalculator.load(name, device="cpu", dtype="float64")
    errors = np.empty(len(positions))
    for k, frame in enumerate(positions):
        atoms = Atoms(numbers=numbers, positions=frame)
        atoms.calc = calc
        errors[k] = np.abs(atoms.get_forces() / KCAL_MOL - forces[k]).mean()
    return errors


def measure() -> dict:
    data = np.load(reference_path(DATA))
    positions, numbers, forces = data["R"], data["z"], data["F"]
    distances = pair_distances(positions)
    shuffled = np.random.default_rng(0).permutation(len(distances))
    nearest = nearest_training_distance(distances)
    test_nearest = nearest[TEST_START:]
    edges = np.quantile(test_nearest, [0.0, 0.25, 0.5, 0.75, 1.0])
    quartile = np.clip(np.searchsorted(edges, test_nearest, side="right") - 1, 0, 3)
    result = {
        "consecutive_rms_A": float(rms_change(distances[1:], distances[:-1]).mean()),
        "random_pairs_rms_A": float(rms_change(distances, distances[shuffled]).mean()),
        "validation_nearest_A": float(nearest[TRAIN_END:TEST_START].mean()),
        "quartile_edges_A": [float(e) for e in edges],
        "potentials": {},
    }
    for name in POTENTIALS:
        errors = force_errors(name, numbers, positions, forces)
        test = errors[TEST_START:]
        result["potentials"][name] = {
            "windows": {label: float(errors[a:b].mean()) for label, a, b in WINDOWS},
            "test_quartiles": [float(test[quartile == q].mean()) for q in range(4)],
        }
        print(name, {k: round(v, 3) for k, v in result["potentials"][name]["windows"].items()}, flush=True)
    return result


def report(result: dict) -> str:
    edges = result["quartile_edges_A"]
    lines = [
        "# The MD17 ethanol split: how far the test frames lie from the training frames",
        "",
        "The ethanol data of the accuracy race and of the shipped ethanol potentials (docs/accuracy_race.md, "
        "docs/accuracy.md) are 2000 consecutive frames of one MD trajectory, split in time: frames 0-949 train, "
        "950-999 validation, 1000-1999 test. The published MD17 numbers (SchNet 0.39, PaiNN 0.23 kcal/mol/A "
        "and others) train on 1000 frames drawn at random from the whole trajectory of about 555000 frames and "
        "test on others drawn likewise. Measured here with each shipped ethanol potential, in float64:",
        "",
        "```bash",
        "python benchmarks/md17_split.py     # this page and benchmarks/results/md17_split.json",
        "```",
        "",
        f"- Neighbouring frames differ by {result['consecutive_rms_A']:.4f} A (RMS change of the 36 interatomic "
        f"distances), random pairs of frames by {result['random_pairs_rms_A']:.3f} A: the training window is "
        "one stretch of the trajectory, not a sample of it.",
        f"- The validation frames lie {result['validation_nearest_A']:.3f} A from their nearest training frame "
        "on average (they continue the training window); the test frames "
        f"{edges[0]:.3f} to {edges[4]:.3f} A.",
        "",
        "## Force MAE by window (kcal/mol/A)",
        "",
        "| potential | " + " | ".join(label for label, _, _ in WINDOWS) + " |",
        "|---|" + "---|" * len(WINDOWS),
    ]
    for name, entry in result["potentials"].items():
        lines.append(f"| {name} | " + " | ".join(f"{entry['windows'][label]:.3f}" for label, _, _ in WINDOWS) + " |")
    lines += [
        "",
        "## Test force MAE by distance to the nearest training frame (kcal/mol/A)",
        "",
        "The 1000 test frames in quartiles of their RMS pair-distance difference to the nearest training frame.",
        "",
        "| potential | " + " | ".join(f"{lo:.3f}-{hi:.3f} A" for lo, hi in zip(edges[:-1], edges[1:])) + " |",
        "|---|---|---|---|---|",
    ]
    for name, entry in result["potentials"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in entry["test_quartiles"]) + " |")
    lines += [
        "",
        "What it means: every potential reproduces its training frames far better than the test frames, and "
        "its test error grows with a frame's distance from its nearest training frame (not with time: the "
        "1500-1749 block is the easiest for all three). On this split the test error "
        "measures how far a potential carries from one stretch of 950 consecutive frames, not how well it "
        "interpolates between frames spread over the whole trajectory as in the published benchmark; the "
        "published numbers are orientation, not a like-for-like target (this data set has no frames from the "
        "rest of the trajectory to measure the random split with). "
        "The race (docs/accuracy_race.md) is like-for-like: every package trains and tests on this same split.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    result = measure()
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    DOC.write_text(report(result))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
