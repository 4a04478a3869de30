import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from attnff.analysis import broken_molecule_frames, molecule_ids, rdf, select
from attnff.datagen.packing import pack_box


def test_molecules_found_across_the_periodic_boundary():
    box = pack_box([molecule("H2O") for _ in range(8)], 1.0, seed=0)
    labels = molecule_ids(box)
    assert len(set(labels)) == 8
    assert all(len(set(box.arrays["molecule_id"][labels == k])) == 1 for k in set(labels))
    assert len(select(box, "O", "H2O")) == 8 and len(select(box, "H")) == 16


def test_broken_and_formed_bonds_are_reported():
    frames = [molecule("H2O"), molecule("H2O"), molecule("H2O")]
    frames[1].positions[1] += [3.0, 0.0, 0.0]  # an O-H bond broken
    assert broken_molecule_frames(frames) == [1]


def test_labile_bonds_are_left_out_of_the_check():
    """A proton moving from N to O is a change only when N-H and O-H bonds are checked."""
    before = Atoms("NHON", positions=[[0, 0, 0], [1.0, 0, 0], [2.6, 0, 0], [3.8, 0, 0]])  # N-H ... O-N
    proton_moved = before.copy()
    proton_moved.positions[1] = [1.63, 0, 0]  # 0.97 A from O, 1.63 A from N
    skeleton_broken = proton_moved.copy()
    skeleton_broken.positions[3] = [6.0, 0, 0]  # the O-N bond
    assert broken_molecule_frames([before, proton_moved]) == [1]
    assert broken_molecule_frames([before, proton_moved, skeleton_broken], labile=("N-H", "O-H")) == [2]
    with pytest.raises(ValueError, match="not an element pair"):
        molecule_ids(before, labile=("N-Xx",))


def test_rdf_of_an_ideal_gas_is_one_and_of_a_crystal_peaks_at_the_shell():
    rng = np.random.default_rng(0)
    gas = [Atoms("Ar400", positions=rng.random((400, 3)) * 20.0, cell=[20.0] * 3, pbc=True) for _ in range(10)]
    r, g = rdf(gas, range(400), range(400), r_max=8.0, bins=16, exclude_same_molecule=False)
    assert np.all(np.abs(g[4:] - 1.0) < 0.1)
    copper = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    r, g = rdf([copper], range(len(copper)), range(len(copper)), r_max=5.0, bins=100, exclude_same_molecule=False)
    assert r[np.argmax(g)] == pytest.approx(3.6 / np.sqrt(2), abs=0.05)
    assert np.all(g[r < 2.3] == 0)
    with pytest.raises(ValueError, match="half the shortest cell height"):
        rdf([copper], [0], [1], r_max=6.0)
