"""Envelopes: 1 at 0, exactly 0 from the cutoff on, value and slope continuous at the cutoff."""

import pytest
import torch

from attnff.nn import CosineEnvelope, PolynomialEnvelope


@pytest.mark.parametrize("envelope", [CosineEnvelope(4.0), PolynomialEnvelope(4.0)], ids=["cosine", "polynomial"])
def test_envelope_contract(envelope):
    envelope = envelope.double()
    d = torch.tensor([0.0, 2.0, 4.0 - 1e-6, 4.0, 4.5, 100.0], dtype=torch.float64, requires_grad=True)
    phi = envelope(d)
    assert phi[0] == 1.0 and (phi[3:] == 0).all()
    assert abs(phi[2]) < 1e-9 and 0 < phi[1] < 1
    (grad,) = torch.autograd.grad(phi.sum(), d)
    assert abs(grad[2]) < 1e-5 and (grad[3:] == 0).all()
    assert torch.isfinite(grad).all()


def test_envelope_monotonic():
    d = torch.linspace(0, 5, 200, dtype=torch.float64)
    for envelope in (CosineEnvelope(5.0), PolynomialEnvelope(5.0)):
        assert (envelope.double()(d).diff() <= 1e-15).all()
