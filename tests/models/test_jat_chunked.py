"""JAT's edge-chunked force path (models/jat_chunked.py): the numbers and derivatives of the plain layer."""

import numpy as np
import pytest
import torch

from attnff import AttnCalculator
from attnff.models import jat_chunked
from attnff.models.jat import JATLayer
from attnff.nn import chunks, segment_sum
from tests.conftest import small_potential, small_water_box


def _random_graph(num_atoms=7, num_edges=40, width=8, heads=2, basis=5, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    edge_index = torch.randint(0, num_atoms, (2, num_edges), generator=gen)
    return {"h_recv": rand(num_atoms, width), "h_send": rand(num_atoms, width), "rbf": rand(num_edges, basis),
            "alpha": rand(num_edges, heads).abs(), "edge_index": edge_index, "edge_weight": rand(width, basis),
            "attention": rand(heads, width // heads), "filter_weight": rand(width, basis),
            "filter_bias": rand(width)}


def _plain_logits(g, cap):
    i, j = g["edge_index"]
    pre = g["h_recv"][i] + g["h_send"][j] + g["rbf"] @ g["edge_weight"].t()
    heads = g["attention"].shape[0]
    z = (torch.nn.functional.silu(pre).view(-1, heads, pre.shape[1] // heads) * g["attention"]).sum(-1)
    return cap * torch.tanh(z / cap) if cap else z


def _plain_messages(g):
    i, j = g["edge_index"]
    heads = g["alpha"].shape[1]
    values = g["h_send"][j] * (g["rbf"] @ g["filter_weight"].t() + g["filter_bias"])
    values = values.view(values.shape[0], heads, -1) * g["alpha"].unsqueeze(-1)
    return segment_sum(values, i, g["h_send"].shape[0])


@pytest.mark.parametrize("cap", [4.0, 0.0])
@pytest.mark.parametrize("chunk", [3, 16, 1000])
def test_edge_logits_match_the_plain_formula_in_value_and_gradient(cap, chunk):
    g = _random_graph()
    inputs = [g["h_recv"].requires_grad_(), g["h_send"].requires_grad_(), g["rbf"].requires_grad_()]
    chunked = jat_chunked.edge_logits(*inputs, g["edge_index"], g["edge_weight"], g["attention"], cap, chunk)
    plain = _plain_logits(g, cap)
    assert torch.allclose(chunked, plain, atol=1e-12)
    weights = torch.randn_like(plain)
    for got, want in zip(torch.autograd.grad((chunked * weights).sum(), inputs),
                         torch.autograd.grad((plain * weights).sum(), inputs)):
        assert torch.allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("chunk", [3, 16, 1000])
def test_edge_messages_match_the_plain_formula_in_value_and_gradient(chunk):
    g = _random_graph()
    inputs = [g["h_send"].requires_grad_(), g["rbf"].requires_grad_(), g["alpha"].requires_grad_()]
    chunked = jat_chunked.edge_messages(*inputs, g["edge_index"], g["filter_weight"], g["filter_bias"],
                                      g["h_send"].shape[0], chunk)
    plain = _plain_messages(g)
    assert torch.allclose(chunked, plain, atol=1e-12)
    weights = torch.randn_like(plain)
    for got, want in zip(torch.autograd.grad((chunked * weights).sum(), inputs),
                         torch.autograd.grad((plain * weights).sum(), inputs)):
        assert torch.allclose(got, want, atol=1e-12)


def test_edge_functions_pass_gradcheck():
    g = _random_graph(num_atoms=4, num_edges=9, width=4, heads=2, basis=3, seed=1)

    def logits(h_recv, h_send, rbf):
        return jat_chunked.edge_logits(h_recv, h_send, rbf, g["edge_index"], g["edge_weight"], g["attention"], 4.0, 4)

    def messages(h_send, rbf, alpha):
        return jat_chunked.edge_messages(h_send, rbf, alpha, g["edge_index"], g["filter_weight"], g["filter_bias"],
                                         4, 4)

    assert torch.autograd.gradcheck(logits, (g["h_recv"].requires_grad_(), g["h_send"].requires_grad_(),
                                             g["rbf"].requires_grad_()))
    assert torch.autograd.gradcheck(messages, (g["h_send"], g["rbf"], g["alpha"].requires_grad_()))


def _energy_forces_stress(potential_name, chunked, monkeypatch, **overrides):
    monkeypatch.setattr(JATLayer, "chunk_edges", chunked)
    monkeypatch.setattr(chunks, "MIN_CHUNKED_BYTES", 0)  # the small box takes the chunked path
    monkeypatch.setattr(chunks, "CPU_CHUNK_BYTES", 1)  # chunks of 16 edges, several even on the small box
    atoms = small_water_box()
    atoms.calc = AttnCalculator(small_potential(potential_name, **overrides), device="cpu", dtype="float64")
    assert atoms.calc.potential.model.layers[0].chunked_edges() == chunked
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


@pytest.mark.parametrize("name", ["jat", "jat-angular"])
def test_calculator_gives_the_plain_energy_forces_and_stress(name, monkeypatch):
    plain = _energy_forces_stress(name, False, monkeypatch)
    chunked = _energy_forces_stress(name, True, monkeypatch)
    assert abs(plain[0] - chunked[0]) < 1e-10
    np.testing.assert_allclose(chunked[1], plain[1], atol=1e-10)
    np.testing.assert_allclose(chunked[2], plain[2], atol=1e-10)


def test_chunked_path_serves_frozen_smooth_layers_only():
    potential = small_potential("jat")
    layer = potential.model.layers[0]
    assert not layer.chunked_edges()  # trainable weights: the plain, twice-differentiable layer
    calc = AttnCalculator(potential, device="cpu", dtype="float64")  # its potential's weights are frozen
    assert all(layer.chunked_edges() for layer in calc.potential.model.layers)
    thesis = small_potential("jat", attention="thesis")
    for parameter in thesis.parameters():
        parameter.requires_grad_(False)
    assert not thesis.model.layers[0].chunked_edges()


def test_chunks_are_small_on_the_cpu_and_large_elsewhere():
    assert chunks.edge_chunk(torch.zeros(1), 64) == chunks.CPU_CHUNK_BYTES // 256
    assert chunks.edge_chunk(torch.zeros(1, dtype=torch.float64), 64) == chunks.CPU_CHUNK_BYTES // 512
    assert chunks.edge_chunk(torch.zeros(1, device="meta"), 64) == chunks.DEVICE_EDGE_CHUNK
    assert list(chunks.edge_ranges(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(chunks.edge_ranges(0, 3)) == []


def test_small_pair_lists_keep_the_plain_layer(monkeypatch):
    calls = []
    monkeypatch.setattr(jat_chunked, "edge_logits", lambda *args, **kwargs: calls.append(1))
    atoms = small_water_box()
    atoms.calc = AttnCalculator(small_potential("jat"), device="cpu", dtype="float64")
    atoms.get_forces()  # a few hundred pairs, far below MIN_CHUNKED_BYTES
    assert not calls
    reference = torch.zeros(1, dtype=torch.float64)
    assert not chunks.worth_chunking(reference, chunks.MIN_CHUNKED_BYTES // 512 - 1, 64)
    assert chunks.worth_chunking(reference, chunks.MIN_CHUNKED_BYTES // 512, 64)
