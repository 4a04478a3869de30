"""Radial bases: shapes, finite values and gradients over the working range."""

import pytest
import torch

from attnff.nn import BesselBasis, ExpNormalBasis, GaussianBasis


@pytest.mark.parametrize("basis", [BesselBasis(5.0, 8), GaussianBasis(0.0, 5.0, 8), ExpNormalBasis(5.0, 8)],
                         ids=["bessel", "gaussian", "expnormal"])
def test_basis_shapes_and_gradients(basis):
    d = torch.linspace(0.1, 6.0, 50, dtype=torch.float64, requires_grad=True)
    values = basis.double()(d)
    assert values.shape == (50, 8) and torch.isfinite(values).all()
    (grad,) = torch.autograd.grad(values.sum(), d)
    assert torch.isfinite(grad).all()


def test_bessel_matches_formula():
    d = torch.tensor([1.3], dtype=torch.float64)
    values = BesselBasis(5.0, 3).double()(d)
    n = torch.arange(1, 4, dtype=torch.float64)
    expected = (2 / 5.0) ** 0.5 * torch.sin(n * torch.pi * 1.3 / 5.0) / 1.3
    torch.testing.assert_close(values[0], expected)
