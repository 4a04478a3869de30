import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from attnff.datagen.packing import box_length, pack_box
from attnff.units import density_g_cm3


def _waters(n):
    return [molecule("H2O") for _ in range(n)]


def test_box_has_the_requested_density_and_no_close_contacts():
    box = pack_box(_waters(20), 0.9, seed=3, min_distance=1.6)
    assert density_g_cm3(box) == pytest.approx(0.9, rel=1e-9)
    assert box.pbc.all() and len(box) == 60
    ids = box.arrays["molecule_id"]
    distances = box.get_all_distances(mic=True)
    between = ids[:, None] != ids[None, :]
    assert distances[between].min() > 1.6
    # molecules keep their internal geometry (bond lengths under the minimum image)
    water = molecule("H2O")
    for i in range(20):
        atoms = box[ids == i]
        assert atoms.get_distance(0, 1, mic=True) == pytest.approx(water.get_distance(0, 1), abs=1e-9)


def test_same_seed_same_box_other_seed_other_box():
    a, b, c = (pack_box(_waters(5), 1.0, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_impossible_packing_names_the_problem():
    with pytest.raises(ValueError, match="could not place molecule"):
        pack_box(_waters(30), 3.0, seed=0, min_distance=2.5, tries_per_molecule=50)
    with pytest.raises(ValueError, match="density must be positive"):
        box_length([Atoms("H")], 0.0)
