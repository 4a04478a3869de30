"""CH2 singlet and triplet along C-H dissociation and bending to 180 degrees, at the level of
theory of the shipped CH2 set: B3LYP (VWN5, PySCF xc="b3lyp5") / cc-pVDZ.

    python scripts/ch2_dissociation_data.py --validate 20      # reproduce shared points first
    python scripts/ch2_dissociation_data.py                    # writes data/ch2_dissociation.db

Resumable: every labelled point is written to the database at once, keyed by its
index in a fixed list, and a rerun skips the points already there.

Singlet description: an RKS singlet dissociates to the wrong limit (CH + H are
two radicals). Singlets with both C-H bonds up to RKS_UP_TO = 1.5 A are RKS, as
in the shipped set. Longer ones are UKS started from a broken-symmetry guess
that mixes the highest occupied and lowest virtual in-plane orbitals (the C-H
sigma and sigma* of the breaking bond), computed with the molecule in the xy
plane so that in-plane and out-of-plane orbitals cannot mix. This solution
equals RKS up to the Coulson-Fischer point (about 1.8 A) and branches off
continuously beyond it towards the CH + H limit (``--check-switch`` shows the
two agree at the switch). Letting the out-of-plane p orbital mix in lands on the
open-shell 1B1 / 1A'' singlet instead, a different state that lies below the
closed-shell branch even at equilibrium. The stored ``method`` key (with <S^2>)
says which solution each point used.

Units written: energies eV, forces eV/A (CODATA 2018 Hartree and Bohr, which
reproduce the shipped set), spin quantum number S in data["S"].
"""

import argparse
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.db import connect
from scipy.constants import physical_constants
from tqdm import tqdm

HARTREE = physical_constants["Hartree energy in eV"][0]
BOHR = physical_constants["Bohr radius"][0] * 1e10
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def ch2(r1: float, r2: float, angle_deg: float) -> Atoms:
    """C at the origin, H1 on x at r1, H2 in the xy plane at r2 and the H-C-H angle."""
    a = np.radians(angle_deg)
    return Atoms("CH2", positions=[[0, 0, 0], [r1, 0, 0], [r2 * np.cos(a), r2 * np.sin(a), 0]])


def point_list(seed: int = 7) -> list[tuple[float, float, float, int, str]]:
    """Fixed list of (r1, r2, angle, S, kind); the order never changes, so indices identify points."""
    rng = np.random.default_rng(seed)
    points = []
    for spin in (0, 1):
        for angle in (100.0, 130.0):
            points += [(r, 1.1, angle, spin, "stretch") for r in np.linspace(0.9, 4.0, 32)]
        points += [(r, r, angle, spin, "bend") for r in (1.0, 1.1, 1.2) for angle in np.linspace(140, 180, 9)]
        points += [(rng.uniform(1.2, 4.0), rng.uniform(0.95, 1.25), rng.uniform(90, 180), spin, "random-stretch")
                   for _ in range(30)]
        r = rng.uniform(0.95, 1.25, size=(15, 2))
        points += [(a, b, rng.uniform(140, 180), spin, "random-bend") for a, b in r]
    return [(float(a), float(b), float(c), s, k) for a, b, c, s, k in points]


def _molecule(atoms: Atoms, spin: int):
    from pyscf import gto

    return gto.M(atom=[(s, p) for s, p in zip(atoms.get_chemical_symbols(), atoms.positions)],
                 basis="cc-pvdz", spin=2 * spin, unit="Angstrom", verbose=0)


def _converge(mf, dm0=None) -> tuple[float, np.ndarray]:
    """Run the SCF (second-order solver if plain DIIS fails); (energy eV, forces eV/A)."""
    mf.xc = "b3lyp5"
    mf.max_cycle = 100
    mf.kernel(dm0=dm0)
    if not mf.converged:
        mf = mf.newton()
        mf.kernel(dm0=mf.make_rdm1())
    if not mf.converged:
        raise RuntimeError("SCF did not converge")
    gradient = mf.nuc_grad_method().kernel()
    return float(mf.e_tot) * HARTREE, -np.asarray(gradient) * HARTREE / BOHR, mf


def _out_of_plane_fraction(mol, coefficients: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Per MO, the weight of its p-shell coefficients along the molecular-plane normal.

    In-plane (a') orbitals have none; out-of-plane (a'') orbitals are dominated by it.
    Computed in the molecule's own orientation, so the DFT grid is the same as the
    shipped data's.
    """
    labels = mol.ao_labels()
    px = [k for k, label in enumerate(labels) if label.strip().endswith("px")]  # then py, pz (PySCF order)
    projection = sum(normal[a] * coefficients[[k + a for k in px]] for a in range(3))  # (p shells, MOs)
    return (projection**2).sum(0) / (coefficients**2).sum(0)


def _broken_symmetry_guess(mol, rks, normal: np.ndarray) -> np.ndarray:
    """UKS density with the highest occupied and lowest virtual in-plane (a') orbitals mixed by +-45 deg.

    Orbitals odd under reflection through the molecular plane (a'') are skipped, so the guess
    breaks the C-H sigma bond rather than promoting into the out-of-plane p orbital (that gives
    the open-shell 1B1 / 1A'' state, a different singlet).
    """
    c = rks.mo_coeff
    out_of_plane = _out_of_plane_fraction(mol, c, normal) > 0.01  # a' orbitals have exactly none
    occupied = int(np.count_nonzero(rks.mo_occ > 0))
    homo = max(k for k in range(occupied) if not out_of_plane[k])
    lumo = min(k for k in range(occupied, c.shape[1]) if not out_of_plane[k])
    alpha, beta = c.copy(), c.copy()
    alpha[:, homo] = (c[:, homo] + c[:, lumo]) / np.sqrt(2)
    beta[:, homo] = (c[:, homo] - c[:, lumo]) / np.sqrt(2)
    occ = np.zeros_like(rks.mo_occ)
    occ[:occupied] = 1
    return rks.make_rdm1(mo_coeff=alpha, mo_occ=2 * occ), rks.make_rdm1(mo_coeff=beta, mo_occ=2 * occ)


#: Longest C-H bond (A) up to which singlets are computed as RKS in the structure's own
#: orientation; the closed-shell solution is stable up to the Coulson-Fischer point (about 1.8 A),
#: so both descriptions agree there (checked by --check-switch).
RKS_UP_TO = 1.5


def label(atoms: Atoms, spin: int) -> tuple[float, np.ndarray, str]:
    """(energy eV, forces eV/A, method) at B3LYP(VWN5)/cc-pVDZ.

    Triplet: UKS. Singlet with every C-H <= RKS_UP_TO: RKS (the shipped set's method, same
    orientation and grid). Longer: UKS from the in-plane broken-symmetry guess, computed with the
    molecule in the xy plane, where the in-plane/out-of-plane separation is exact; it equals RKS
    below the Coulson-Fischer point and branches off continuously beyond it.
    """
    from pyscf import dft

    mol = _molecule(atoms, spin)
    if spin:
        energy, forces, _ = _converge(dft.UKS(mol))
        return energy, forces, "UKS"
    if max(atoms.get_distance(0, 1), atoms.get_distance(0, 2)) <= RKS_UP_TO:
        energy, forces, _ = _converge(dft.RKS(mol))
        return energy, forces, "RKS"
    centred = atoms.positions - atoms.positions.mean(0)
    rotation = np.linalg.svd(centred)[2]  # rows: two in-plane axes, then the plane normal
    planar = atoms.copy()
    planar.positions = centred @ rotation.T
    energy, forces, s2 = _broken_symmetry_singlet(planar)
    return energy, forces @ rotation, "RKS-equivalent UKS" if s2 < 1e-3 else f"BS-UKS <S2>={s2:.2f}"


def _broken_symmetry_singlet(planar: Atoms) -> tuple[float, np.ndarray, float]:
    """Singlet UKS from the in-plane broken-symmetry guess; the molecule must lie in the xy plane."""
    from pyscf import dft

    mol = _molecule(planar, 0)
    rks = dft.RKS(mol)
    rks.xc = "b3lyp5"
    rks.max_cycle = 15  # only its orbitals are needed, for the guess
    rks.kernel()
    density = np.array(_broken_symmetry_guess(mol, rks, np.array([0.0, 0.0, 1.0]))) / 2.0
    energy, forces, uks = _converge(dft.UKS(mol), density)
    return energy, forces, float(uks.spin_square()[0])


def check_switch() -> None:
    """Singlet energies of both descriptions around RKS_UP_TO along a C-H stretch (continuity)."""
    from pyscf import dft

    for r in (RKS_UP_TO - 0.1, RKS_UP_TO, RKS_UP_TO + 0.1):
        atoms = ch2(r, 1.1, 110.0)
        e_rks, _, _ = _converge(dft.RKS(_molecule(atoms, 0)))
        e_bs, _, s2 = _broken_symmetry_singlet(atoms)
        print(f"C-H {r:.2f} A: RKS {e_rks:.6f} eV, broken-symmetry UKS {e_bs:.6f} eV "
              f"(difference {e_bs - e_rks:+.2e} eV, <S2> {s2:.3f})")


def validate(count: int) -> None:
    """Recompute shared CH2 points and report the energy and force differences."""
    with connect(SHARED / "ch2_2000_train.db") as db:
        rows = list(db.select(limit=count))
    de, df = [], []
    for row in tqdm(rows, desc="validate"):
        spin = int(row.data["S"][0])
        energy, forces, method = label(row.toatoms(), spin)
        de.append(energy - row.data["E"][0])
        df.append(np.abs(forces - row.data["F"]).max())
        tqdm.write(f"S={spin} {method:6s} dE = {de[-1]:+.2e} eV  max|dF| = {df[-1]:.2e} eV/A")
    print(f"{count} shared points: max |dE| {np.abs(de).max():.2e} eV, mean |dE| {np.abs(de).mean():.2e} eV, "
          f"max |dF| {max(df):.2e} eV/A")


def generate(path: Path) -> None:
    points = point_list()
    started = time.perf_counter()
    db = connect(path)  # no "with": each write is its own committed transaction, so a kill loses nothing
    done = {row.point for row in db.select()}
    todo = [k for k in range(len(points)) if k not in done]
    for k in tqdm(todo, desc="CH2 points"):
        r1, r2, angle, spin, kind = points[k]
        atoms = ch2(r1, r2, angle)
        energy, forces, method = label(atoms, spin)
        db.write(atoms, point=k, kind=kind, method=method, r1=r1, r2=r2, angle=angle,
                 data={"E": np.array([energy]), "F": forces, "S": np.array([float(spin)])})
    print(f"{len(points)} points in {path} ({len(todo)} new, {time.perf_counter() - started:.0f} s)")


def report(path: Path) -> None:
    """Counts by kind and method, and the continuity check along every stretch path.

    Along a stretch only H1 moves (along x), so dE/dr1 = -F_x(H1): the energy change between
    neighbouring points must match the trapezoid integral of that force. A jump between
    electronic solutions would show as a large mismatch.
    """
    db = connect(path)
    rows = list(db.select())
    kinds: dict[str, int] = {}
    for row in rows:
        key = f"S={int(row.data['S'][0])} {row.kind}: {row.method.split(' <')[0]}"
        kinds[key] = kinds.get(key, 0) + 1
    for key in sorted(kinds):
        print(f"{kinds[key]:4d}  {key}")
    worst = 0.0
    for spin in (0, 1):
        for angle in (100.0, 130.0):
            path_rows = sorted((r for r in rows if r.kind == "stretch" and r.angle == angle
                                and int(r.data["S"][0]) == spin), key=lambda r: r.r1)
            r1 = np.array([r.r1 for r in path_rows])
            energy = np.array([r.data["E"][0] for r in path_rows])
            force = np.array([r.data["F"][1, 0] for r in path_rows])
            predicted = -0.5 * (force[1:] + force[:-1]) * np.diff(r1)
            mismatch = np.abs(np.diff(energy) - predicted)
            outer = r1[:-1] >= 1.3  # beyond the steep repulsive wall, where the trapezoid rule is exact enough
            if len(mismatch):
                worst = max(worst, mismatch[outer].max())
                print(f"S={spin} angle {angle:.0f}: {len(r1)} points, r1 {r1.min():.2f}-{r1.max():.2f} A, "
                      f"max |dE - trapezoid(F)| {mismatch.max() * 1e3:.1f} meV overall (curvature of the "
                      f"wall at 0.9-1.0 A), {mismatch[outer].max() * 1e3:.1f} meV from 1.3 A on; "
                      f"E(4 A) - E(min) {energy[-1] - energy.min():.3f} eV")
    print(f"worst continuity mismatch from 1.3 A on: {worst * 1e3:.1f} meV")
    for angle in (100.0, 130.0):
        last = {int(r.data["S"][0]): r.data["E"][0] for r in rows
                if r.kind == "stretch" and r.angle == angle and abs(r.r1 - 4.0) < 1e-9}
        if len(last) == 2:
            print(f"angle {angle:.0f}, C-H 4.0 A: E(singlet) - E(triplet) = {1e3 * (last[0] - last[1]):.1f} meV "
                  "(CH + H radicals: near-degenerate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validate", type=int, metavar="N", help="recompute N shared points and compare")
    parser.add_argument("--report", action="store_true", help="counts and continuity check of the written data")
    parser.add_argument("--check-switch", action="store_true", help="compare RKS and BS-UKS around RKS_UP_TO")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "ch2_dissociation.db")
    args = parser.parse_args()
    if args.report:
        report(args.out)
    elif args.check_switch:
        check_switch()
    elif args.validate:
        validate(args.validate)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        generate(args.out)


if __name__ == "__main__":
    main()
