"""JAT: sparse graph attention (GATv2) potential (Hoedl, TU Wien thesis, 2022; docs/models/jat.md).

Default (``attention="smooth"``): edge logits see a Bessel radial basis times a
smooth envelope inside the GATv2 nonlinearity, the envelope also weights the
softmax, and every atom keeps its self edge, so E and F are smooth as atoms
cross the cutoff. ``attention="thesis"`` reproduces the thesis: hard cutoff,
distance only as a linear logit term g(d) = (d^2)^(k+1) for head k, self loops.
``angular=C`` (not in the thesis; 0 by default) adds C channels of three-body angular invariants
(nn.angular) to every layer's update, for data whose forces depend on bond angles; ``angular_degree``
and ``angular_mixing`` refine them.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..nn import (
    MLP,
    AngularInvariants,
    BesselBasis,
    RecordsAttention,
    blocks_for,
    check_angular_options,
    chunkable,
    make_envelope,
    receiver_slots,
    run_layer,
    run_layer_by_receivers,
    segment_softmax_with_self,
    segment_sum,
    unit_harmonics,
    worth_chunking,
)
from . import jat_chunked
from .base import AttnModel
from .inputs import ModelInputs

__all__ = ["JATConfig", "JAT"]


@dataclass(frozen=True)
class JATConfig:
    """Hyperparameters of JAT.

    Attributes:
        cutoff: graph cutoff r_c in Angstrom (thesis: 5 for ionic liquids, 3 for ANI).
        width: feature width F (thesis: 48).
        num_layers: attention layers (thesis: 4-7).
        num_heads: attention heads H; width must divide by it.
        num_basis: Bessel functions K for the smooth attention.
        envelope: "polynomial" or "cosine".
        attention: "smooth" (default, continuous) or "thesis" (hard cutoff, reproduction only).
        radial_values: multiply each message by a learned radial filter (default True);
            False sends W_s h_j unfiltered, as in the thesis.
        readout: hidden widths of the per-atom readout MLP (thesis: 64, 32, 16, 16).
        logit_cap: soft cap c on the attention logits, e -> c tanh(e / c) (0 disables, as in the
            thesis). Without it a trained model can make exp(e_ij) so large that an edge keeps a
            sizeable weight until the last hundredth of an Angstrom before the cutoff, where the
            envelope then switches it off steeply: smooth in principle, stiff in MD.
        angular: channels C of angular invariants added to each layer's update (0: distances only,
            as in the thesis). The invariants' output map starts at zero, so a distance-only potential
            can be continued with this term (training.init_from).
        angular_degree: highest degree l of the angular invariants, 1 to 3 (default 2).
        angular_mixing: recombine the angular densities over channels for each degree before squaring
            (nn.angular; identity at start, so a potential can be continued with it switched on).
        angular_products: add the four-body bispectrum of the angular densities (needs angular_degree
            >= 2; its output map starts at zero, so a potential can be continued with it switched on).
    """

    cutoff: float = 5.0
    width: int = 64
    num_layers: int = 4
    num_heads: int = 4
    num_basis: int = 16
    envelope: Literal["polynomial", "cosine"] = "polynomial"
    attention: Literal["smooth", "thesis"] = "smooth"
    radial_values: bool = True
    readout: tuple[int, ...] = (64, 32, 16, 16)
    logit_cap: float = 4.0
    angular: int = 0
    angular_degree: int = 2
    angular_mixing: bool = False
    angular_products: bool = False

    @property
    def supports_charge_spin(self) -> bool:
        """JAT describes neutral structures in their lowest spin state only."""
        return False

    def __post_init__(self):
        if self.attention not in ("smooth", "thesis"):
            raise ValueError(f"JAT attention must be 'smooth' or 'thesis', not {self.attention!r}")
        if self.width % self.num_heads:
            raise ValueError(f"JAT width {self.width} is not divisible by num_heads {self.num_heads}")
        check_angular_options("JAT", self.angular_degree, self.angular_products)
        object.__setattr__(self, "readout", tuple(self.readout))


class JATLayer(RecordsAttention, nn.Module):
    """One GATv2 message-passing layer with enveloped segment softmax (its alpha recordable, see nn.recording).

    logit e_ij = a_h . swish(W_r h_i + W_s h_j + W_e rbf_ij)     (smooth)
               = a_h . swish(W_r h_i + W_s h_j) + c_h (d_ij^2)^(h+1)  (thesis)
    m_i = alpha_ii W_s h_i + sum_j alpha_ij (W_s h_j [* W_v rbf_ij])
    h_i <- LayerNorm(h_i + swish(m_i) [+ angular_i])  (no LayerNorm in the last layer)

    Force calls with frozen weights run the per-edge part in chunks (``jat_chunked``; ``chunk_edges = False``
    switches it off, for comparison).
    """

    chunk_edges: bool = True

    def __init__(self, config: JATConfig, last: bool):
        super().__init__()
        width, heads = config.width, config.num_heads
        self.heads, self.head_width = heads, width // heads
        self.smooth = config.attention == "smooth"
        self.receiver = nn.Linear(width, width)
        self.sender = nn.Linear(width, width)
        self.attention = nn.Parameter(torch.randn(heads, self.head_width) / self.head_width**0.5)
        if self.smooth:
            self.edge = nn.Linear(config.num_basis, width, bias=False)
            self.self_edge = nn.Parameter(torch.zeros(width))
        else:
            self.distance_weight = nn.Parameter(torch.zeros(heads))
        self.value_filter = nn.Linear(config.num_basis, width) if config.radial_values else None
        self.angular = AngularInvariants(width, config.num_basis, config.angular, config.angular_degree,
                                         config.angular_mixing, config.angular_products) if config.angular else None
        self.norm = None if last else nn.LayerNorm(width)
        self.act = nn.SiLU()
        self.logit_cap = config.logit_cap

    def _logits(self, pre: torch.Tensor) -> torch.Tensor:
        """pre: (M, F) -> (M, H) logits a_h . swish(pre_h), soft-capped.

        A broadcast product and a sum over each head's D features: on the CPU this is about 1.7x
        faster, forward and backward, than one (M, F) @ (F, H) product with a block-diagonal matrix.
        """
        logits = (self.act(pre).view(-1, self.heads, self.head_width) * self.attention).sum(-1)
        return jat_chunked.soft_cap(logits, self.logit_cap)

    def forward(self, h, edge_index, d_ij, rbf, weights, harmonics=None, slots=None):
        """h: (N, F); d_ij, weights: (E,); rbf: (E, K) enveloped basis; harmonics: (E, M) and slots: (E,)
        (``receiver_slots``) when angular -> (N, F)."""
        i, j = edge_index
        h_recv, h_send = self.receiver(h), self.sender(h)
        chunked = self.chunked_edges() and worth_chunking(rbf, rbf.shape[0], h.shape[1])
        if chunked:  # per-edge tensors made chunk by chunk, not kept for the backward pass
            edge_logits = jat_chunked.edge_logits(h_recv, h_send, rbf, edge_index, self.edge.weight, self.attention,
                                                self.logit_cap)
            self_logits = self._logits(h_recv + h_send + self.self_edge)
        elif self.smooth:
            send_j = h_send.index_select(0, j)  # (E, F), used by the logits and the values
            # W_r h_i + W_s h_j + W_e rbf_ij, the last term added by the matrix product itself (addmm)
            pre = torch.addmm(h_recv.index_select(0, i) + send_j, rbf, self.edge.weight.t())
            edge_logits = self._logits(pre)
            self_logits = self._logits(h_recv + h_send + self.self_edge)
        else:
            send_j = h_send.index_select(0, j)
            powers = torch.arange(1, self.heads + 1, device=d_ij.device, dtype=d_ij.dtype)
            distance_term = (d_ij * d_ij).unsqueeze(-1).pow(powers) * self.distance_weight
            edge_logits = self._logits(h_recv.index_select(0, i) + send_j) + distance_term
            self_logits = self._logits(h_recv + h_send)  # d_ii = 0, so g(0) = 0
        alpha_edges, alpha_self = segment_softmax_with_self(edge_logits, weights, i, self_logits)
        if self.recording is not None:
            self.record_with_self(edge_index, alpha_edges, alpha_self)

        if chunked:
            incoming = jat_chunked.edge_messages(h_send, rbf, alpha_edges, edge_index, self.value_filter.weight,
                                               self.value_filter.bias, h.shape[0])
        else:
            values = send_j
            if self.value_filter is not None:
                values = values * self.value_filter(rbf)
            values = values.view(-1, self.heads, self.head_width) * alpha_edges.unsqueeze(-1)
            incoming = segment_sum(values, i, h.shape[0])
        own = h_send.view(-1, self.heads, self.head_width) * alpha_self.unsqueeze(-1)
        update = self.act((own + incoming).reshape(h.shape))
        if self.angular is not None:
            update = update + self.angular(h, edge_index, rbf, harmonics, slots)
        h = h + update
        return h if self.norm is None else self.norm(h)

    def chunked_edges(self) -> bool:
        """Whether this layer may take the edge-chunked path of ``jat_chunked`` (force calls with frozen weights),
        which it does for pair lists above ``nn.chunks.MIN_CHUNKED_BYTES`` per (E, F) tensor.

        Smooth attention with radial values only, and not under torch.compile, which fuses the plain
        layer itself; training (weights that require gradients) keeps the plain, twice-differentiable layer.
        """
        return (self.chunk_edges and self.smooth and self.value_filter is not None
                and chunkable(self.edge, self.attention, self.value_filter))


class JAT(AttnModel):
    """JAT potential: species embedding, attention layers, per-atom readout MLP.

    Args:
        config: JATConfig.
        num_species: number of species the potential knows.

    forward(inputs) returns {"energies": (N,)} per-atom energies in model units (the Potential scales them).
    Set ``recompute_layers`` to recompute each layer in the backward pass (less memory, see nn.recompute);
    above ``recompute_block_edges`` edges (sorted by receiver) each layer then also runs in blocks of receivers.
    """

    supports_recompute = True
    energy_head = ("readout",)
    recompute_block_edges = 1 << 18

    config: JATConfig

    def __init__(self, config: JATConfig, num_species: int):
        super().__init__(config)
        self.embedding = nn.Embedding(num_species, config.width)
        self.basis = BesselBasis(config.cutoff, config.num_basis)
        self.envelope = make_envelope(config.envelope, config.cutoff)
        self.layers = nn.ModuleList(
            JATLayer(config, last=k == config.num_layers - 1) for k in range(config.num_layers)
        )
        self.readout = MLP((config.width, *config.readout, 1), layer_norm=True)

    def autograd_values_per_pair(self) -> float:
        """Numbers a force call keeps per pair it evaluates.

        Plain layers (training weights, ``JATLayer.chunk_edges = False``): about 12 per feature and layer,
        measured from the peak RSS on 6144 water atoms, about 315000 pairs within the cutoff, width 64,
        4 layers (docs/performance.md: 11.8 in float32, 11.3 in float64). Edge-chunked layers (a
        force call with frozen weights, ``jat_chunked``): about 2 per feature and layer (float32: 1.5 at 6144
        atoms, 1.7 at 49152). With ``angular`` about 3 more per channel and layer (the three (E, C)
        tensors autograd keeps; derived, not measured).
        """
        per_feature = 2.0 if self.layers[0].chunked_edges() else 12.0
        return (per_feature * self.config.width + 3.0 * self.config.angular) * self.config.num_layers

    def edge_weights(self, d_ij: torch.Tensor) -> torch.Tensor:
        """Softmax weights w_ij (E,): the envelope (smooth) or a hard 0/1 cut (thesis)."""
        if self.config.attention == "smooth":
            return self.envelope(d_ij)
        return (d_ij < self.cutoff).to(d_ij.dtype)

    @property
    def feature_width(self) -> int:
        return self.config.width

    def forward(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        return {"energies": self.readout(self.represent(inputs)["features"]).squeeze(-1)}

    def represent(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        weights = self.edge_weights(inputs.d_ij)
        rbf = self.basis(inputs.d_ij) * self.envelope(inputs.d_ij).unsqueeze(-1)
        edges = (inputs.d_ij, rbf, weights)
        h = self.embedding(inputs.species)
        if self.config.angular:
            edges += (unit_harmonics(inputs.vec_ij, inputs.d_ij, self.config.angular_degree),
                      receiver_slots(inputs.edge_index[0], h.shape[0]))
        blocks = blocks_for(self, inputs.edge_index, h.shape[0])
        for layer in self.layers:
            if blocks:
                h = run_layer_by_receivers(layer, (h,), inputs.edge_index, edges, blocks)
            else:
                h = run_layer(layer, h, inputs.edge_index, *edges, recompute=self.recompute_layers)
        return {"features": h}
