"""CMRET's edge-chunked force path (models/cmret_chunked.py): the numbers and derivatives of the plain layer."""

import numpy as np
import pytest
import torch

from attnff import AttnCalculator
from attnff.models import cmret_chunked
from attnff.models.cmret import CMRETLayer
from attnff.nn import chunks, segment_sum
from attnff.nn.pair_kernels import pair_dot, weighted_gather_sum
from tests.conftest import ANGULAR, small_potential, small_water_box


def _random_graph(num_atoms=6, num_edges=30, width=4, basis=5, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    unit = rand(num_edges, 3)
    return {"s_hat": rand(num_atoms, width), "basis": rand(num_edges, basis), "envelope": rand(num_edges).abs(),
            "unit": unit / unit.norm(dim=-1, keepdim=True),
            "edge_index": torch.randint(0, num_atoms, (2, num_edges), generator=gen),
            "filter_weight": rand(2 * width, basis), "filter_bias": rand(2 * width),
            "mix_weight": rand(3 * width, 2 * width), "mix_bias": rand(3 * width)}


def _plain_convolution(g):
    i, j = g["edge_index"]
    width, phi = g["s_hat"].shape[1], g["envelope"].unsqueeze(-1)
    filters = torch.nn.functional.silu(g["basis"] @ g["filter_weight"].t() + g["filter_bias"])
    pair = torch.cat([g["s_hat"][i], g["s_hat"][j]], dim=-1) * filters * phi
    mixed = (pair @ g["mix_weight"].t() + g["mix_bias"]) * phi
    s12, s3 = mixed[:, :2 * width], mixed[:, 2 * width:]
    num_atoms = g["s_hat"].shape[0]
    return segment_sum(s12, i, num_atoms), segment_sum(s3.unsqueeze(1) * g["unit"].unsqueeze(-1), i, num_atoms)


def _convolution(g, inputs, chunk):
    return cmret_chunked.edge_convolution(*inputs, g["edge_index"], g["filter_weight"], g["filter_bias"],
                                        g["mix_weight"], g["mix_bias"], chunk)


@pytest.mark.parametrize("chunk", [4, 7, 1000])
def test_edge_convolution_matches_the_plain_formula_in_value_and_gradient(chunk):
    g = _random_graph()
    inputs = [g[name].requires_grad_() for name in ("s_hat", "basis", "envelope", "unit")]
    chunked, plain = _convolution(g, inputs, chunk), _plain_convolution(g)
    weights = [torch.randn_like(x) for x in plain]
    for got, want in zip(chunked, plain):
        assert torch.allclose(got, want, atol=1e-12)
    got = torch.autograd.grad(sum((x * w).sum() for x, w in zip(chunked, weights)), inputs)
    want = torch.autograd.grad(sum((x * w).sum() for x, w in zip(plain, weights)), inputs)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-12)


def test_edge_convolution_passes_gradcheck():
    g = _random_graph(num_atoms=4, num_edges=9, width=2, basis=3, seed=1)
    inputs = tuple(g[name].requires_grad_() for name in ("s_hat", "basis", "envelope", "unit"))
    assert torch.autograd.gradcheck(lambda *x: _convolution(g, x, 4), inputs)


@pytest.mark.parametrize("chunk", [4, 1000])
def test_attention_functions_match_the_plain_formulas_in_value_and_gradient(chunk):
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(6, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    att_index = torch.randint(0, 6, (2, 25), generator=gen)
    alpha = torch.rand(25, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    i, j = att_index
    for chunked, plain, inputs in (
        (pair_dot(q, k, att_index, 0.3, chunk), (q[i] * k[j]).sum(-1) * 0.3, (q, k)),
        (weighted_gather_sum(v, alpha, att_index, 6, chunk), segment_sum(alpha.unsqueeze(-1) * v[j], i, 6),
         (v, alpha)),
    ):
        assert torch.allclose(chunked, plain, atol=1e-12)
        weights = torch.randn_like(plain)
        for a, b in zip(torch.autograd.grad((chunked * weights).sum(), inputs),
                        torch.autograd.grad((plain * weights).sum(), inputs)):
            assert torch.allclose(a, b, atol=1e-12)


def _energy_forces_stress(chunked, monkeypatch, **overrides):
    monkeypatch.setattr(CMRETLayer, "chunk_edges", chunked)
    monkeypatch.setattr(chunks, "MIN_CHUNKED_BYTES", 0)  # the small box takes the chunked path
    monkeypatch.setattr(chunks, "CPU_CHUNK_BYTES", 1)  # chunks of 16 edges, several even on the small box
    atoms = small_water_box()
    atoms.calc = AttnCalculator(small_potential("cmret", **overrides), device="cpu", dtype="float64")
    assert atoms.calc.potential.model.layers[0].chunked_edges() == chunked
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


@pytest.mark.parametrize("options", [{"attention": "local"}, {"attention": "global"},
                                     {"attention": "global", **ANGULAR}])
def test_calculator_gives_the_plain_energy_forces_and_stress(options, monkeypatch):
    plain = _energy_forces_stress(False, monkeypatch, **options)
    chunked = _energy_forces_stress(True, monkeypatch, **options)
    assert abs(plain[0] - chunked[0]) < 1e-10
    np.testing.assert_allclose(chunked[1], plain[1], atol=1e-10)
    np.testing.assert_allclose(chunked[2], plain[2], atol=1e-10)


def test_training_weights_keep_the_plain_layer():
    potential = small_potential("cmret")
    assert not potential.model.layers[0].chunked_edges()
    calc = AttnCalculator(potential, device="cpu", dtype="float64")
    assert all(layer.chunked_edges() for layer in calc.potential.model.layers)
