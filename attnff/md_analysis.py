"""After an MD run: molecules intact over the trajectory, and radial distribution functions."""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import iread

from .analysis import broken_molecule_frames, rdf, rdf_radius_limit
from .md import TRAJECTORY
from .plots import rdf_plot

__all__ = ["md_analysis"]


def md_analysis(out: Path, rdf_pairs: Sequence[str], labile: Sequence[str] = ()) -> dict:
    """Check that molecules stay intact over OUT/md.traj; write rdf.csv/rdf.png for element pairs "A-B".

    Bonds between the element pairs in ``labile`` (e.g. N-H, O-H) are left out of the check; the
    frames where they changed are counted apart (``labile_changed_frames``). Writes analysis.json.
    """
    frames: list[Atoms] = list(iread(out / TRAJECTORY))
    broken = broken_molecule_frames(frames, labile=labile)
    result = {"analysed_frames": len(frames), "broken_molecule_frames": len(broken),
              "first_broken_step": frames[broken[0]].info.get("md_step") if broken else None}
    if labile:
        result["labile_bonds"] = list(labile)
        result["labile_changed_frames"] = len(set(broken_molecule_frames(frames)) - set(broken))
    if rdf_pairs:
        equilibrated = frames[len(frames) // 2:]
        symbols = np.array(frames[0].get_chemical_symbols())
        r_max = min(rdf_radius_limit(equilibrated), 8.0)
        curves = {}
        for pair in rdf_pairs:
            a, b = pair.split("-")
            curves[pair] = rdf(equilibrated, np.flatnonzero(symbols == a).tolist(),
                               np.flatnonzero(symbols == b).tolist(), r_max=r_max, bins=150)
        header = "r_A," + ",".join(f"g_{p}" for p in curves)
        table = np.column_stack([next(iter(curves.values()))[0]] + [g for _, g in curves.values()])
        np.savetxt(out / "rdf.csv", table, delimiter=",", header=header, comments="", fmt="%.6g")
        rdf_plot(curves, out / "rdf.png", title="intermolecular g(r), second half of the run")
        result["rdf"] = {"pairs": list(curves), "frames": len(equilibrated), "files": ["rdf.csv", "rdf.png"]}
    (out / "analysis.json").write_text(json.dumps(result, indent=2))
    return result
