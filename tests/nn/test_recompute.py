"""Layer recomputation (attnff.nn.recompute): same numbers, fewer tensors kept for the backward pass."""

import sys

import numpy as np
import pytest
import torch

from attnff import AttnCalculator
from attnff.nn import blocks_for, record_attention
from attnff.nn.recompute import receiver_blocks
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


def _blocked_results(model_name, block_edges):
    atoms = small_water_box()
    calc = AttnCalculator(small_potential(model_name), device="cpu", dtype="float64", recompute_layers=True)
    calc.potential.model.recompute_block_edges = block_edges
    if block_edges:
        batch = calc.batch_for(atoms)
        assert len(blocks_for(calc.potential.model, batch.edge_index, len(atoms))) > 1  # the blocks are exercised
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


@pytest.mark.parametrize("model_name", ["jat", "cmret"])
def test_receiver_blocks_give_the_same_energy_forces_stress(model_name):
    whole = _blocked_results(model_name, 0)
    blocked = _blocked_results(model_name, 16)  # the small box's 64 edges in several blocks
    assert abs(whole[0] - blocked[0]) < 1e-10
    np.testing.assert_allclose(blocked[1], whole[1], atol=1e-10)
    np.testing.assert_allclose(blocked[2], whole[2], atol=1e-10)


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("name", ["jat-angular", "cmret-angular"])
def test_receiver_blocks_of_angular_models_with_and_without_receiver_slots(name, padded, monkeypatch):
    """Angular JAT and CMRET in blocks: the padded densities (CPU) and the direct sum (GPU, compile: slots None)
    agree."""
    from attnff import models

    if not padded:
        monkeypatch.setattr(getattr(models, name.split("-")[0]), "receiver_slots", lambda receivers, num_atoms: None)
    whole = _blocked_results(name, 0)
    blocked = _blocked_results(name, 16)
    assert abs(whole[0] - blocked[0]) < 1e-10
    np.testing.assert_allclose(blocked[1], whole[1], atol=1e-10)
    np.testing.assert_allclose(blocked[2], whole[2], atol=1e-10)


def test_receiver_blocks_cover_every_atom_and_edge_once():
    receivers = torch.tensor([0, 0, 0, 1, 3, 3, 3, 3, 3, 4])  # atom 2 receives nothing
    blocks = receiver_blocks(receivers, 6, max_edges=4)
    assert blocks == [(0, 3, 0, 4), (3, 4, 4, 9), (4, 6, 9, 10)]  # atom 3 alone exceeds 4 edges: a block of its own
    assert receiver_blocks(torch.tensor([1, 0]), 2, max_edges=4) is None  # unsorted: no blocks


def test_blocks_are_used_only_above_the_edge_limit():
    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64", recompute_layers=True)
    model = calc.potential.model
    batch = calc.batch_for(small_water_box())
    edges = batch.edge_index.shape[1]
    model.recompute_block_edges = edges
    assert blocks_for(model, batch.edge_index, len(batch.numbers)) is None
    model.recompute_block_edges = edges // 3
    blocks = blocks_for(model, batch.edge_index, len(batch.numbers))
    assert len(blocks) >= 3 and blocks[-1][1] == len(batch.numbers) and blocks[-1][3] == edges
    model.recompute_layers = False
    assert blocks_for(model, batch.edge_index, len(batch.numbers)) is None


def test_blocks_are_kept_for_the_same_edge_tensor_only():
    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64", recompute_layers=True)
    model = calc.potential.model
    batch = calc.batch_for(small_water_box())
    model.recompute_block_edges = batch.edge_index.shape[1] // 3
    blocks = blocks_for(model, batch.edge_index, len(batch.numbers))
    assert blocks_for(model, batch.edge_index.clone(), len(batch.numbers)) == blocks
    model.recompute_block_edges //= 2
    assert len(blocks_for(model, batch.edge_index, len(batch.numbers))) > len(blocks)


def test_auto_recomputes_only_when_a_plain_call_would_not_fit(monkeypatch):
    from attnff import memory

    calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    assert calc.recompute_policy == "auto" and not calc.potential.recompute_layers
    model = calc.potential.model
    per_pair = model.autograd_values_per_pair() * 8  # bytes, float64
    pairs = int(4 * memory.AUTO_RECOMPUTE_FLOOR / per_pair)  # a plain call would keep about 4 GiB

    def needed(num_pairs):
        return memory.recompute_needed(model, num_pairs, torch.float64, torch.device("cpu"))

    monkeypatch.setattr(memory, "memory_budget", lambda device: 20 << 30)
    assert not needed(pairs)
    monkeypatch.setattr(memory, "memory_budget", lambda device: 6 << 30)
    assert needed(pairs)
    assert not needed(pairs // 8)  # under the floor: never recomputed
    monkeypatch.setattr(memory, "memory_budget", lambda device: None)
    assert not needed(pairs)  # no budget known: plain call


def test_auto_switches_the_calculator_and_keeps_the_numbers(monkeypatch):
    from attnff import memory

    monkeypatch.setattr(memory, "AUTO_RECOMPUTE_FLOOR", 0)
    monkeypatch.setattr(memory, "memory_budget", lambda device: 1)
    atoms = small_water_box()
    atoms.calc = AttnCalculator(small_potential("cmret"), device="cpu", dtype="float64")
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert atoms.calc.potential.recompute_layers
    plain = _results("cmret", False)
    assert abs(energy - plain[0]) < 1e-10
    np.testing.assert_allclose(forces, plain[1], atol=1e-10)


def test_auto_leaves_global_attention_plain(monkeypatch):
    from attnff import memory

    monkeypatch.setattr(memory, "AUTO_RECOMPUTE_FLOOR", 0)
    monkeypatch.setattr(memory, "memory_budget", lambda device: 1)
    calc = AttnCalculator(small_potential("cmret", attention="global"), device="cpu", dtype="float64")
    model = calc.potential.model
    assert model.autograd_values_per_pair() is None
    assert not memory.recompute_needed(model, 10**9, torch.float64, torch.device("cpu"))


def test_recompute_layers_must_be_a_known_choice():
    with pytest.raises(ValueError, match="recompute_layers must be True, False or 'auto'"):
        AttnCalculator(small_potential("jat"), device="cpu", recompute_layers="sometimes")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_memory_budget_of_the_cpu_counts_what_the_process_holds():
    from attnff.memory import _own_resident, memory_budget

    held = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB, touched: resident
    assert _own_resident() > held.numel()
    assert _own_resident() < memory_budget(torch.device("cpu")) < 1 << 50


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_memory_budget_respects_the_address_space_limit():
    import resource

    from attnff.memory import _own_mapped, _own_resident, memory_budget

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _own_mapped() + (1 << 30)
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip("the hard address-space limit is already below the test's")
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        budget = memory_budget(torch.device("cpu"))
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert 0 < budget <= (1 << 30) + _own_resident()
    assert budget < memory_budget(torch.device("cpu"))
