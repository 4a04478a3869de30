"""jat-ean: stress and forces consistent with the energy on EAN boxes, and a short NPT run."""

import json

import numpy as np
from ase.io import write

from attnff import AttnCalculator
from attnff.cli import main
from attnff.datagen import ean
from tests.physics import assertions as check


def _ean_box(pairs, seed=0):
    return ean.ean_box(pairs, seed=seed)


def test_card_states_test_errors_with_stress():
    card = AttnCalculator.load("jat-ean", device="cpu").metadata["card"]
    errors = card["metrics"]["test"]
    for key in ("energy_mae", "forces_mae", "forces_rmse", "stress_mae", "stress_rmse"):
        assert np.isfinite(errors[key])
    assert "GFN1-xTB" in card["description"]


def test_stress_and_forces_match_finite_differences():
    calc = AttnCalculator.load("jat-ean", device="cpu", dtype="float64", skin=0.0)
    box = _ean_box(2, seed=3)
    check.assert_stress_matches_finite_differences(box, calc, h=1e-5, atol=1e-6)
    check.assert_forces_match_finite_differences(box, calc, atol=1e-4)
    # stress of the 2x2x2 supercell equals that of the cell (intensive)
    box.calc = calc
    stress = box.get_stress()
    big = box.repeat(2)
    big.calc = calc
    np.testing.assert_allclose(big.get_stress(), stress, atol=1e-8)


def test_short_npt_run_keeps_ions_intact(tmp_path, capsys):
    """A packed, unrelaxed 120-atom box: no bond of the C, C-N, C-H or N-O skeleton breaks (protons may move)."""
    structure = tmp_path / "ean_box.xyz"
    box = _ean_box(8, seed=1)
    del box.arrays["molecule_id"]
    write(structure, box)
    out = tmp_path / "npt"
    assert main(["md", str(structure), "--potential", "jat-ean", "--device", "cpu", "--out", str(out),
                 "--ensemble", "npt", "--temperature", "300", "--pressure", "1", "--timestep", "0.5",
                 "--steps", "40", "--log-interval", "5", "--traj-interval", "5", "--no-progress",
                 "--rdf", "N-O", "O-O", "--labile-bonds", "N-H", "O-H"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["has_nan"] is False and report["broken_molecule_frames"] == 0
    assert 0.8 < report["mean_density_g_cm3"] < 1.6
    assert (out / "rdf.png").is_file() and (out / "md.png").is_file()
