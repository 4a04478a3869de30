"""nn.pair_kernels: chunked gather-multiply-scatter kernels against the plain formulas, and GeomAtt's use of them."""

import numpy as np
import pytest
import torch

from attnff import AttnCalculator
from attnff.models.geomatt import GeomAttention
from attnff.nn import chunks, segment_sum
from attnff.nn.pair_kernels import product_gather_sum
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
