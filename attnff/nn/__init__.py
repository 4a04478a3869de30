"""Layers shared by attnff models: radial bases, envelopes, segment operations, MLPs."""

from .envelope import CosineEnvelope, PolynomialEnvelope, make_envelope
from .mlp import MLP
from .radial import BesselBasis, ExpNormalBasis, GaussianBasis
from .scatter import segment_softmax_with_self, segment_sum

__all__ = [
    "BesselBasis",
    "CosineEnvelope",
    "ExpNormalBasis",
    "GaussianBasis",
    "MLP",
    "PolynomialEnvelope",
    "make_envelope",
    "segment_softmax_with_self",
    "segment_sum",
]
