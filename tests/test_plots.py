"""attnff.plots: each figure is written as a PNG; wrong inputs are refused."""

import numpy as np
import pytest
from ase.build import molecule

from attnff import AttnCalculator, plots, scan
from attnff.md import LOG, run
from tests.conftest import small_potential

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def calc():
    return AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


@pytest.mark.parametrize("periodic", [False, True])
def test_md_plot(calc, tmp_path, periodic):
    atoms = molecule("CH3CH2OH")
    if periodic:  # adds the density panel
        atoms.set_cell([7.0, 7.0, 7.0])
        atoms.pbc = True
    run(atoms, calc, ensemble="nvt-bussi", steps=6, timestep_fs=0.25, log_interval=2, out_dir=tmp_path,
        progress=False)
    plots.md_plot(tmp_path / LOG, tmp_path / "md.png")
    assert _is_png(tmp_path / "md.png")


def test_scan_plot_marks_nonconverged_points(calc, tmp_path):
    with pytest.warns(RuntimeWarning):
        result = scan.bond(molecule("CH3CH2OH"), calc, 0, 1, [1.3, 1.5, 1.7], relax=True, steps=1, fmax=1e-6)
    plots.scan_plot(result, tmp_path / "scan.png")
    assert _is_png(tmp_path / "scan.png")


def test_grid_plot_with_training_domain(calc, tmp_path):
    result = scan.grid2d(molecule("CH3CH2OH"), calc, (0, 1), np.linspace(1.3, 1.7, 5), (0, 1, 2),
                         np.linspace(95, 135, 5), move="fragment")
    plots.grid_plot(result, tmp_path / "grid.png", training_domain={"bond_0_1_A": [1.4, 1.6]})
    assert _is_png(tmp_path / "grid.png")
    with pytest.warns(UserWarning, match="names none"):
        plots.grid_plot(result, tmp_path / "other.png", training_domain={"bond_5_6_A": [1.0, 2.0]})
    with pytest.warns(UserWarning, match="outside the training domain"):
        plots.grid_plot(result, tmp_path / "outside.png", training_domain={"bond_0_1_A": [2.0, 3.0]})
    with pytest.raises(ValueError, match="grid_plot"):
        plots.scan_plot(result, tmp_path / "wrong.png")
    # a model card's domain by coordinate kind applies to every bond / angle of the grid
    assert plots._domain_bounds(result, {"bond": [1.4, 1.6], "angle": [100, 120]}) == [(1.4, 1.6), (100, 120)]


def test_grid_plot_refuses_1d(calc, tmp_path):
    result = scan.bond(molecule("CH3CH2OH"), calc, 0, 1, [1.4, 1.5])
    with pytest.raises(ValueError, match="2-D"):
        plots.grid_plot(result, tmp_path / "wrong.png")


def test_axis_labels():
    assert plots.axis_label("bond_0_1_A") == "r(0–1) (Å)"
    assert plots.axis_label("dihedral_3_0_1_2_deg") == "dihedral 3–0–1–2 (°)"
    assert plots.axis_label("com_distance_A") == "centre-of-mass distance (Å)"
    assert plots.axis_label("something") == "something"


def test_scan_plot_with_reference_points(calc, tmp_path):
    result = scan.bond(molecule("CH3CH2OH"), calc, 0, 1, [1.4, 1.5, 1.6])
    reference = {result.states[0]: ([1.45, 1.55], result.energies[0, :2] + 0.01)}
    plots.scan_plot(result, tmp_path / "scan.png", reference=reference)
    assert _is_png(tmp_path / "scan.png")
    with pytest.raises(ValueError, match="reference states"):
        plots.scan_plot(result, tmp_path / "wrong.png", reference={(1, 2): ([1.5], [0.0])})


def test_gap_plot(tmp_path):
    calc = AttnCalculator(small_potential("cmret"), device="cpu", dtype="float64")
    result = scan.grid2d(molecule("CH2_s1A1d"), calc, (0, 1), [1.0, 1.1, 1.2], (1, 0, 2), [100.0, 120.0, 140.0],
                         states=[(0, 1), (0, 3)])
    plots.gap_plot(result, tmp_path / "gap.png", upper=(0, 1), lower=(0, 3),
                   training_domain={"bond_0_1_A": [1.05, 1.15]})
    assert _is_png(tmp_path / "gap.png")
    with pytest.raises(ValueError, match="not among"):
        plots.gap_plot(result, tmp_path / "wrong.png", upper=(0, 5), lower=(0, 3))


def test_spectrum_plot(tmp_path):
    plots.spectrum_plot(np.array([120j, 0.5, 450.0, 1100.0, 3050.0]), tmp_path / "spectrum.png")
    assert _is_png(tmp_path / "spectrum.png")
