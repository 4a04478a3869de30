"""Generate GFN-xTB reference data for ethylammonium nitrate (EAN) boxes with tblite.

Stages (each a list of independent, seeded segments, run on --workers processes):
  1. packed boxes at 1.10, 1.21 and 1.32 g/cm3, relaxed a little (labelled relax frames),
     then reference Langevin MD at 300, 400 and 500 K (a label every --stride steps);
  2. optional active learning (--active-potential): a packed box relaxed and run with a
     trained attnff potential, a reference label every --active-stride steps (100 fs by default);
  3. optional reference MD of equilibrated boxes (--equilibrated-configs, needs --active-potential):
     a packed box relaxed and equilibrated for --equilibrate-steps with the potential, then handed
     to the reference, which runs --warmup-steps and labels every --equilibrated-stride steps.
     Cheap frames of the liquid near equilibrium, free of packing strain and of the potential's bias
     in the local structure (the warm-up relaxes it with the reference).
Every label (energy, forces, stress) is written as soon as it exists, so the command
resumes after an interruption: run it again with the same arguments.

    python examples/ionic_liquid/generate_data.py --pairs 8 --configs 1000 --out data/ean.extxyz
"""

import argparse
from pathlib import Path

from attnff.datagen.ean import ion_pairs
from attnff.datagen.reference import XTB_METHODS
from attnff.datagen.sampling import Segment, generate

DENSITIES = (1.10, 1.21, 1.32)
TEMPERATURES = (300.0, 400.0, 500.0)


def plan(configs: int, frames_per_segment: int, stride: int, seed: int, first_index: int = 0,
         potential: str | None = None, relax_steps: int = 20, **handover) -> list[Segment]:
    """Segments that together label ``configs`` frames, cycling through densities and temperatures."""
    segments = []
    remaining = configs
    index = first_index
    while remaining > 0:
        frames = min(frames_per_segment, remaining)
        cycle = index - first_index
        segments.append(Segment(index=index, seed=seed + index, density_g_cm3=DENSITIES[cycle % 3],
                                temperature_K=TEMPERATURES[(cycle // 3) % 3], frames=frames, stride=stride,
                                relax_steps=relax_steps, potential=potential, **handover))
        remaining -= frames
        index += 1
    return segments


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=8, help="ion pairs per box (15 atoms each)")
    parser.add_argument("--configs", type=int, default=1000, help="labelled frames from reference MD")
    parser.add_argument("--out", type=Path, default=Path("data/ean.extxyz"))
    parser.add_argument("--method", choices=XTB_METHODS, default="GFN1-xTB")
    parser.add_argument("--frames-per-segment", type=int, default=40)
    parser.add_argument("--stride", type=int, default=2, help="reference MD steps (1 fs) between labels")
    parser.add_argument("--relax-steps", type=int, default=20)
    parser.add_argument("--active-potential", help="attnff potential that drives the active-learning MD")
    parser.add_argument("--active-configs", type=int, default=0, help="labelled frames from active learning")
    parser.add_argument("--active-stride", type=int, default=100, help="MD steps (1 fs) between active labels")
    parser.add_argument("--equilibrated-configs", type=int, default=0,
                        help="labelled frames from reference MD of boxes equilibrated with --active-potential")
    parser.add_argument("--equilibrated-frames-per-segment", type=int, default=5)
    parser.add_argument("--equilibrate-steps", type=int, default=5000, help="MD steps (1 fs) with the potential")
    parser.add_argument("--warmup-steps", type=int, default=200, help="reference MD steps before the first label")
    parser.add_argument("--equilibrated-stride", type=int, default=20, help="reference MD steps between labels")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (one thread each)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if (args.active_configs or args.equilibrated_configs) and not args.active_potential:
        parser.error("--active-configs and --equilibrated-configs need --active-potential")
    counts = (args.configs, args.active_configs, args.equilibrated_configs)
    if min(counts) < 0 or sum(counts) == 0:
        parser.error("nothing to label: give --configs, --active-configs and/or --equilibrated-configs")

    segments = plan(args.configs, args.frames_per_segment, args.stride, args.seed, relax_steps=args.relax_steps)
    if args.active_configs:
        segments += plan(args.active_configs, max(1, args.frames_per_segment // 2), args.active_stride, args.seed,
                         first_index=10_000, potential=args.active_potential, relax_steps=200)
    if args.equilibrated_configs:
        segments += plan(args.equilibrated_configs, args.equilibrated_frames_per_segment, args.equilibrated_stride,
                         args.seed, first_index=20_000, potential=args.active_potential, relax_steps=200,
                         equilibrate_steps=args.equilibrate_steps, warmup_steps=args.warmup_steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = generate(segments, ion_pairs(args.pairs), args.method, args.out, workers=args.workers)
    print(f"wrote {args.out} (sha256 {digest})")
    return digest


if __name__ == "__main__":
    main()
