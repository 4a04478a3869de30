"""attnff.attention_maps and plots.attention_plot over every registry model (small random weights, float64)."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from attnff import AttnCalculator, plots
from attnff.attention_maps import attention_maps
from attnff.errors import ChargeSpinError
from attnff.nn import record_attention
from tests.conftest import SMALL_CONFIGS, small_potential

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _calc(name, **overrides):
    return AttnCalculator(small_potential(name, **overrides), device="cpu", dtype="float64")


def test_shapes_and_labels(model_name):
    maps = attention_maps(_calc(model_name), molecule("CH3CH2OH"))
    config = SMALL_CONFIGS[model_name]
    if model_name == "geomatt":
        orders = (2, 3, 4)  # the config default
        assert maps.labels == [f"stream order {k}, layer {m}" for k in orders for m in (1, 2)]
        assert maps.per_head.shape == (6, 1, 9, 9)
        assert not maps.softmax
    else:
        assert maps.labels == ["layer 1", "layer 2"]
        assert maps.per_head.shape == (config["num_layers"], config["num_heads"], 9, 9)
        assert maps.softmax
    assert maps.model == model_name
    np.testing.assert_allclose(maps.matrices, maps.per_head.mean(axis=1))
    assert np.isfinite(maps.per_head).all()


@pytest.mark.parametrize("name, overrides", [("jat", {}), ("jat", {"attention": "thesis"}), ("cmret", {}),
                                             ("cmret", {"attention": "global"})])
def test_softmax_rows_sum_to_one(name, overrides):
    maps = attention_maps(_calc(name, **overrides), molecule("CH3CH2OH"))
    assert (maps.per_head >= 0).all()
    np.testing.assert_allclose(maps.per_head.sum(-1), 1.0, atol=1e-12)
    assert (np.diagonal(maps.per_head, axis1=-2, axis2=-1) > 0).all()  # the self edge always takes part


def test_periodic_images_summed(model_name):
    """A cell smaller than the cutoff: several images of each atom, folded into one column."""
    atoms = Atoms("OH2", positions=[[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]],
                  cell=[[2.6, 0.0, 0.0], [0.3, 2.7, 0.0], [0.2, 0.1, 2.8]], pbc=True)
    maps = attention_maps(_calc(model_name), atoms)
    assert maps.per_head.shape[-2:] == (3, 3)
    if maps.softmax:
        np.testing.assert_allclose(maps.per_head.sum(-1), 1.0, atol=1e-12)


def test_permuted_molecule_gives_permuted_map(model_name):
    atoms = molecule("CH3CH2OH")
    calc = _calc(model_name)
    order = np.random.default_rng(3).permutation(len(atoms))
    original = attention_maps(calc, atoms).per_head
    permuted = attention_maps(calc, atoms[order]).per_head
    np.testing.assert_allclose(permuted, original[:, :, order][:, :, :, order], atol=1e-12, rtol=0)


def test_recording_leaves_outputs_bit_identical(model_name):
    atoms = molecule("CH3CH2OH")
    calc = _calc(model_name)
    batch = calc.batch_for(atoms)
    plain = calc.potential(batch, forces=True)
    with record_attention(calc.potential.model) as records:
        recorded = calc.potential(batch, forces=True)
    assert all(len(calls) == 1 for calls in records.values())
    again = calc.potential(batch, forces=True)
    for key in ("energy", "energies", "forces"):
        assert torch.equal(recorded[key], plain[key])
        assert torch.equal(again[key], plain[key])
    assert all(getattr(m, "recording", None) is None for m in calc.potential.modules())
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    attention_maps(calc, atoms)
    atoms.calc = _calc(model_name)
    assert atoms.get_potential_energy() == energy


def test_charge_and_spin_from_atoms_info():
    ch2 = Atoms("CH2", positions=[[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [-0.46, 1.0, 0.0]])
    calc = _calc("cmret")
    ch2.info["multiplicity"] = 3
    triplet = attention_maps(calc, ch2).per_head
    ch2.info["multiplicity"] = 1
    assert not np.allclose(attention_maps(calc, ch2).per_head, triplet)
    ch2.info["multiplicity"] = 3
    with pytest.raises(ChargeSpinError):
        attention_maps(_calc("jat"), ch2)


def test_attention_plot(model_name, tmp_path):
    atoms = molecule("CH3CH2OH")
    maps = attention_maps(_calc(model_name), atoms)
    plots.attention_plot(maps, atoms, tmp_path / "all.png")
    plots.attention_plot(maps, atoms, tmp_path / "one.png", layers=[maps.labels[-1]], bonds=False)
    for name in ("all.png", "one.png"):
        path = tmp_path / name
        assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    with pytest.raises(ValueError, match="layers"):
        plots.attention_plot(maps, atoms, tmp_path / "bad.png", layers=["no such layer"])
    with pytest.raises(ValueError, match="atoms"):
        plots.attention_plot(maps, atoms[:5], tmp_path / "bad.png")
