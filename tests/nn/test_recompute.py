"""Layer recomputation (attnff.nn.recompute): same numbers, fewer tensors kept for the backward pass."""

import numpy as np
import torch

from attnff import AttnCalculator
from attnff.nn import record_attention
from tests.conftest import small_potential, small_water_box


def _results(model_name, recompute):
    atoms = small_water_box()
    atoms.calc = AttnCalculator(small_potential(model_name), device="cpu", dtype="float64",
                                recompute_layers=recompute)
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


def test_recomputed_layers_give_the_same_energy_forces_stress(model_name):
    plain, recomputed = _results(model_name, False), _results(model_name, True)
    assert abs(plain[0] - recomputed[0]) < 1e-10
    np.testing.assert_allclose(recomputed[1], plain[1], atol=1e-10)
    np.testing.assert_allclose(recomputed[2], plain[2], atol=1e-10)


def _saved_bytes(potential, batch) -> int:
    """Bytes autograd keeps for the backward pass of one energy evaluation."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        potential(batch, forces=False)
    return total


def test_recomputation_keeps_fewer_tensors(model_name):
    calc = AttnCalculator(small_potential(model_name, num_layers=3), device="cpu", dtype="float64")
    atoms = small_water_box()
    batch = calc.batch_for(atoms)
    batch.positions.requires_grad_(True)
    potential = calc.potential
    plain = _saved_bytes(potential, batch)
    potential.recompute_layers = True
    recomputed = _saved_bytes(potential, batch)
    assert recomputed < 0.6 * plain


def test_recording_is_not_doubled_by_recomputation():
    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64", recompute_layers=True)
    atoms = small_water_box()
    atoms.calc = calc
    with record_attention(calc.potential.model) as records:
        atoms.get_forces()
    assert sorted(records) == ["layers.0", "layers.1"]
    assert all(len(calls) == 1 for calls in records.values())
