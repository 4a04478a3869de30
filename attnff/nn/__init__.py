"""Layers shared by attnff models: radial bases, envelopes, segment operations, MLPs, attention recording."""

from .angular import AngularInvariants, check_angular_options, degree_columns, gaunt_couplings, unit_harmonics
from .chunks import chunkable, edge_chunk, edge_ranges, worth_chunking
from .envelope import CosineEnvelope, PolynomialEnvelope, make_envelope
from .mlp import MLP
from .radial import BesselBasis, ExpNormalBasis, GaussianBasis
from .recompute import blocks_for, run_layer, run_layer_by_receivers
from .recording import AttentionRecord, RecordsAttention, record_attention
from .scatter import receiver_slots, segment_outer_sum, segment_softmax_with_self, segment_sum

__all__ = [
    "AngularInvariants",
    "AttentionRecord",
    "BesselBasis",
    "check_angular_options",
    "chunkable",
    "CosineEnvelope",
    "ExpNormalBasis",
    "GaussianBasis",
    "degree_columns",
    "gaunt_couplings",
    "MLP",
    "PolynomialEnvelope",
    "RecordsAttention",
    "make_envelope",
    "edge_chunk",
    "edge_ranges",
    "blocks_for",
    "receiver_slots",
    "record_attention",
    "run_layer",
    "run_layer_by_receivers",
    "segment_outer_sum",
    "segment_softmax_with_self",
    "segment_sum",
    "unit_harmonics",
    "worth_chunking",
]
