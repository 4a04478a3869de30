"""nn.pair_kernels: chunked gather-multiply-scatter kernels against the plain formulas, and GeomAtt's use of them."""

import numpy as np
import pytest
import torch

from attnff import AttnCalculator
from attnff.models.geomatt import GeomAttention
from attnff.nn import angular, chunks, receiver_slots, segment_sum
from attnff.nn.pair_kernels import angular_density, product_gather_sum
from attnff.nn.recompute import receiver_blocks
from tests.conftest import small_potential, small_water_box


def _inputs(pairs=7, triplets=40, width=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(pairs, width, generator=gen, dtype=torch.float64, requires_grad=True)
    factor = torch.randn(pairs, width, generator=gen, dtype=torch.float64, requires_grad=True)
    return weights, factor, torch.randint(0, pairs, (3, triplets), generator=gen)


@pytest.mark.parametrize("chunk", [3, 16, 1000])
def test_triplet_sum_matches_the_plain_sum_in_value_and_gradient(chunk):
    weights, factor, triplets = _inputs()
    a, b, c = triplets
    chunked = product_gather_sum(weights, factor, triplets, chunk)
    plain = segment_sum(weights[a] * factor[b], c, weights.shape[0])
    assert torch.allclose(chunked, plain, atol=1e-12)
    grad_out = torch.randn_like(plain)
    for got, want in zip(torch.autograd.grad((chunked * grad_out).sum(), (weights, factor)),
                         torch.autograd.grad((plain * grad_out).sum(), (weights, factor))):
        assert torch.allclose(got, want, atol=1e-12)


def test_triplet_sum_passes_gradcheck():
    weights, factor, triplets = _inputs(pairs=4, triplets=10, width=2, seed=1)
    assert torch.autograd.gradcheck(lambda w, f: product_gather_sum(w, f, triplets, 3), (weights, factor))


def _energy_forces_stress(chunked, monkeypatch):
    monkeypatch.setattr(GeomAttention, "chunk_triplets", chunked)
    monkeypatch.setattr(chunks, "MIN_CHUNKED_BYTES", 0)  # the small box takes the chunked path
    monkeypatch.setattr(chunks, "CPU_CHUNK_BYTES", 1)  # chunks of 16 triplets
    atoms = small_water_box(repeat=(1, 1, 1))
    atoms.calc = AttnCalculator(small_potential("geomatt"), device="cpu", dtype="float64")
    streams = atoms.calc.potential.model.streams
    assert streams[-1][0].attention.chunked_triplets() == chunked
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


def test_calculator_gives_the_plain_energy_forces_and_stress(monkeypatch):
    plain, chunked = _energy_forces_stress(False, monkeypatch), _energy_forces_stress(True, monkeypatch)
    assert abs(plain[0] - chunked[0]) < 1e-10
    np.testing.assert_allclose(chunked[1], plain[1], atol=1e-10)
    np.testing.assert_allclose(chunked[2], plain[2], atol=1e-10)


def test_training_weights_keep_the_plain_sum():
    potential = small_potential("geomatt")
    assert not potential.model.streams[-1][0].attention.chunked_triplets()


@pytest.mark.parametrize("max_edges", [1, 7, 1000])
def test_angular_density_matches_the_plain_sum_in_value_and_gradient(max_edges):
    gen = torch.Generator().manual_seed(2)
    atoms, pairs, basis, channels, columns = 6, 30, 4, 3, 8
    sender = torch.randn(atoms, channels, generator=gen, dtype=torch.float64, requires_grad=True)
    rbf = torch.randn(pairs, basis, generator=gen, dtype=torch.float64, requires_grad=True)
    harmonics = torch.randn(pairs, columns, generator=gen, dtype=torch.float64, requires_grad=True)
    radial_weight = torch.randn(channels, basis, generator=gen, dtype=torch.float64)
    edges = torch.randint(1, atoms, (2, pairs), generator=gen)  # atom 0 receives nothing
    edges = edges[:, torch.argsort(edges[0], stable=True)]
    slots, blocks = receiver_slots(edges[0], atoms), receiver_blocks(edges[0], atoms, max_edges)
    chunked = angular_density(sender, rbf, radial_weight, harmonics, edges, slots, blocks)
    weights = (rbf @ radial_weight.T) * sender[edges[1]]
    plain = segment_sum(harmonics.unsqueeze(-1) * weights.unsqueeze(1), edges[0], atoms)
    assert torch.allclose(chunked, plain, atol=1e-12)
    grad_out = torch.randn_like(plain)
    inputs = (sender, rbf, harmonics)
    for got, want in zip(torch.autograd.grad((chunked * grad_out).sum(), inputs),
                         torch.autograd.grad((plain * grad_out).sum(), inputs), strict=True):
        assert torch.allclose(got, want, atol=1e-12)
    assert torch.autograd.gradcheck(lambda s, r, y: angular_density(s, r, radial_weight, y, edges, slots, blocks),
                                    inputs)


@pytest.mark.parametrize("kind", ["jat", "cmret", "geomatt"])
def test_angular_potentials_give_the_plain_energy_forces_and_stress_chunked(kind, monkeypatch):
    results, calls = {}, []
    monkeypatch.setattr(angular, "angular_density", lambda *args: calls.append(1) or angular_density(*args))
    for chunked in (False, True):
        monkeypatch.setattr(chunks, "MIN_CHUNKED_BYTES", 0 if chunked else 1 << 62)
        monkeypatch.setattr(chunks, "CPU_CHUNK_BYTES", 1)  # chunks of 16 pairs
        atoms = small_water_box(repeat=(1, 1, 1))
        atoms.calc = AttnCalculator(small_potential(kind, angular=4, angular_degree=3, angular_mixing=True,
                                                    angular_products=True), device="cpu", dtype="float64")
        results[chunked] = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        assert bool(calls) == chunked  # the angular densities of every layer took the chunked path, or none did
    assert abs(results[False][0] - results[True][0]) < 1e-10
    np.testing.assert_allclose(results[True][1], results[False][1], atol=1e-10)
    np.testing.assert_allclose(results[True][2], results[False][2], atol=1e-10)
