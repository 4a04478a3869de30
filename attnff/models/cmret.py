"""CMRET: equivariant transformer with charge and spin (Tao, Morimoto, Leoni, arXiv 2308.10752, 2023;
docs/models/cmret.md).

Defaults fix the paper's defects; paper behaviour stays available:
- ``charge_spin="invariant"`` (default): Q/sum(Z) and S/sum(Z) enter the scalar
  embedding through a learned map, so the energy is rotation-invariant and
  (Q, S) = (1, 1) differs from (0, 0). ``"paper"`` fills the initial vector
  features with -(Q - S)/sum(Z) along the lab-fixed (1, 1, 1) direction (Eq. 9),
  which breaks rotation invariance whenever Q != S. ``"none"``: a neutral-only model.
- ``angular=C`` (not in the paper; 0 by default) adds the angular invariants of ``nn.angular`` (power
  spectrum up to ``angular_degree``, optionally mixed over channels and with four-body products) to each
  layer's scalar message, as JAT does; their output maps start at zero.
- ``attention="local"`` (default): self-attention over the neighbours within
  ``attention_radius`` with a smooth envelope weighting the softmax (self edge
  always kept), so fragments farther apart than every radius are exactly
  additive. ``"global"`` attends over all atoms of the structure with
  distance-independent weights, as in the paper (molecules only).
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..nn import (
    AngularInvariants,
    BesselBasis,
    ExpNormalBasis,
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
from ..nn.embedding import ElectronConfigurationEmbedding
from ..nn.equivariant import GatedEquivariantBlock
from ..nn.pair_kernels import pair_dot, weighted_gather_sum
from ..nn.scatter import expand_ranges
from . import cmret_chunked
from .base import AttnModel
from .inputs import ModelInputs

__all__ = ["CMRETConfig", "CMRET"]


@dataclass(frozen=True)
class CMRETConfig:
    """Hyperparameters of CMRET: the paper's sizes (CH2 study: 5 layers, 1 head, 20 basis functions),
    with the fixed attention and charge/spin as defaults (paper behaviour: attention="global",
    charge_spin="paper").

    Attributes:
        cutoff: r_c of the filter convolution in Angstrom.
        width: feature width F.
        num_layers: interaction layers T.
        num_heads: attention heads; width must divide by it.
        num_basis: radial basis functions K.
        basis: "expnormal" (Gaussians in exp(-d), trainable) or "bessel".
        envelope: cutoff function of the filters and of the local attention weights: "polynomial"
            (DimeNet, p = 5; the energy is twice differentiable at the cutoff) or "cosine" (the paper's;
            once: forces are continuous, their slope jumps).
        attention: "local" (default, bounded and smooth) or "global" (paper).
        attention_radius: radius of local attention in Angstrom (None: the cutoff); at most the cutoff.
        temperature_factor: tau = sqrt(temperature_factor * d), d the per-head width (paper: 2).
        charge_spin: "invariant" (default), "paper" (Eq. 9) or "none".
        output_blocks: gated equivariant blocks in the output (paper: 2).
        dipole: add the paper's dipole head, mu = sum_i (mu_i + q_i (r_i - r_0)), r_0 the
            nuclear-charge centre; the charges q_i are shifted to sum to the net charge.
        angular: channels C of angular invariants (nn.angular) added to each layer's scalar message m_i
            (0: the paper's layer). Their output map starts at zero, so a potential can be continued
            with this term switched on (training.init_from).
        angular_degree: highest degree l of the angular invariants, 1 to 3.
        angular_mixing: recombine the angular densities over channels for each degree before squaring.
        angular_products: add the four-body bispectrum of the angular densities (angular_degree >= 2).
    """

    cutoff: float = 5.0
    width: int = 128
    num_layers: int = 6
    num_heads: int = 4
    num_basis: int = 50
    basis: Literal["expnormal", "bessel"] = "expnormal"
    envelope: Literal["polynomial", "cosine"] = "polynomial"
    attention: Literal["local", "global"] = "local"
    attention_radius: float | None = None
    temperature_factor: float = 2.0
    charge_spin: Literal["invariant", "paper", "none"] = "invariant"
    output_blocks: int = 2
    dipole: bool = False
    angular: int = 0
    angular_degree: int = 2
    angular_mixing: bool = False
    angular_products: bool = False

    @property
    def supports_charge_spin(self) -> bool:
        return self.charge_spin != "none"

    def __post_init__(self):
        if self.width % self.num_heads:
            raise ValueError(f"CMRET width {self.width} is not divisible by num_heads {self.num_heads}")
        for name, allowed in (("basis", ("expnormal", "bessel")), ("attention", ("local", "global")),
                              ("charge_spin", ("invariant", "paper", "none"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"CMRET {name} must be one of {allowed}, not {getattr(self, name)!r}")
        if self.attention_radius is not None and not 0 < self.attention_radius <= self.cutoff:
            raise ValueError(f"attention_radius {self.attention_radius} must lie in (0, cutoff={self.cutoff}]")
        if self.output_blocks < 1:
            raise ValueError("CMRET needs at least one output block")
        check_angular_options("CMRET", self.angular_degree, self.angular_products)


class CMRETLayer(RecordsAttention, nn.Module):
    """One interaction layer: filter convolution with self term, self-attention, equivariant update.

    The self-attention weights can be recorded (see nn.recording).

    [s1|s2|s3]_ij = phi_ij (W_o [s^_i f2(e_ij) phi_ij || s^_j f1(e_ij) phi_ij] + b_o),  s^ = SiLU(W s + b)
    m_i = sum_j s1_ij + s_i + attention(s)_i [+ angular(s)_i];  [a1|a2|a3] = O m_i
    ds_i = a1 + a2 <U1 v_i, U2 v_i>;  dv_i = sum_j (s2_ij v_i + s3_ij r_ij/d_ij) + a3 U3 v_i
    y_i = ds_i + MLP(ds_i)  (ResML, added to the accumulator)

    Force calls with frozen weights run the filter convolution and the attention in edge chunks (``cmret_chunked``;
    ``chunk_edges = False`` switches it off, for comparison).
    """

    chunk_edges: bool = True

    def __init__(self, config: CMRETConfig):
        super().__init__()
        width, heads = config.width, config.num_heads
        self.width, self.heads, self.head_width = width, heads, width // heads
        self.tau = math.sqrt(config.temperature_factor * self.head_width)
        self.scalar_in = nn.Linear(width, width)
        self.filter_neighbor = nn.Linear(config.num_basis, width)
        self.filter_self = nn.Linear(config.num_basis, width)
        self.mix = nn.Linear(2 * width, 3 * width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.update = nn.Linear(width, 3 * width)
        self.vector_maps = nn.Linear(width, 3 * width, bias=False)
        self.resml = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.act = nn.SiLU()
        self.angular = AngularInvariants(width, config.num_basis, config.angular, config.angular_degree,
                                         config.angular_mixing, config.angular_products) if config.angular else None

    def reset_parameters(self, num_basis: int) -> None:
        """The paper's initialisation (Sec. 2.4)."""
        bound = math.sqrt(6.0 / num_basis)
        for layer in (self.filter_neighbor, self.filter_self):
            nn.init.uniform_(layer.weight, -bound, bound)
        for layer in (self.scalar_in, self.resml[0]):
            nn.init.normal_(layer.weight, 0.0, math.sqrt(3.0 / (2 * self.width)))

    def attention(self, s, att_index, att_weights):
        """Softmax self-attention over attention edges plus the self edge; s (N, F) -> (N, F)."""
        n = s.shape[0]
        shape = (n, self.heads, self.head_width)
        q, k, v = self.query(s).view(shape), self.key(s).view(shape), self.value(s).view(shape)
        ai, aj = att_index
        chunked = self.chunked_edges() and worth_chunking(s, ai.shape[0], self.width)
        if chunked:
            logits = pair_dot(q, k, att_index, 1.0 / self.tau)
        else:
            logits = (q.index_select(0, ai) * k.index_select(0, aj)).sum(-1) / self.tau
        self_logits = (q * k).sum(-1) / self.tau
        alpha_edges, alpha_self = segment_softmax_with_self(logits, att_weights, ai, self_logits)
        if self.recording is not None:
            self.record_with_self(att_index, alpha_edges, alpha_self)
        if chunked:
            incoming = weighted_gather_sum(v, alpha_edges, att_index, n)
        else:
            incoming = segment_sum(alpha_edges.unsqueeze(-1) * v.index_select(0, aj), ai, n)
        return (alpha_self.unsqueeze(-1) * v + incoming).reshape(n, self.width)

    def forward(self, s, v, edge_index, edge_features, phi, unit_ij, att_weights, angular_basis=None, harmonics=None,
                slots=None, att_index=None):
        """s: (N, F); v: (N, 3, F); edge_features: (E, K) enveloped basis; phi: (E,); unit_ij: (E, 3).

        att_weights: (A,) attention softmax weights on att_index (2, A); att_index None: the edges themselves.
        angular_basis: (E, K) basis enveloped twice, harmonics: (E, M) and slots: (E,) (``receiver_slots``) when
        angular.
        """
        n = s.shape[0]
        att_index = edge_index if att_index is None else att_index
        s_hat = self.act(self.scalar_in(s))
        # [own | neighbor] = [s^_i f2(e_ij) | s^_j f1(e_ij)] phi_ij as one (E, 2F) tensor: both filters in
        # one matrix product, both atoms in one gather, no concatenation
        weight = torch.cat([self.filter_self.weight, self.filter_neighbor.weight])
        bias = torch.cat([self.filter_self.bias, self.filter_neighbor.bias])
        if self.chunked_edges() and worth_chunking(s, edge_index.shape[1], 2 * self.width):
            pair_sums, vector_sums = cmret_chunked.edge_convolution(s_hat, edge_features, phi, unit_ij, edge_index,
                                                                  weight, bias, self.mix.weight, self.mix.bias)
        else:
            envelope = phi.unsqueeze(-1)
            filters = self.act(nn.functional.linear(edge_features, weight, bias))  # (E, 2F)
            ends = edge_index.t().reshape(-1)  # (2E,) i_0, j_0, i_1, j_1, ...
            pair = s_hat.index_select(0, ends).view(-1, 2 * self.width) * filters * envelope  # (E, 2F)
            # W_o's rows for [s1 | s2] and for s3 as two products, so that each result is contiguous: a scatter
            # or broadcast of a column slice is several times slower, and its backward pass pads a full copy
            w, b, f2 = self.mix.weight, self.mix.bias, 2 * self.width
            s12 = nn.functional.linear(pair, w[:f2], b[:f2]) * envelope  # (E, 2F)
            s3 = nn.functional.linear(pair, w[f2:], b[f2:]) * envelope  # (E, F)
            receivers = edge_index[0]
            pair_sums = segment_sum(s12, receivers, n)
            vector_sums = segment_sum(s3.unsqueeze(1) * unit_ij.unsqueeze(-1), receivers, n)
        sum1, sum2 = pair_sums.split(self.width, dim=-1)

        m = sum1 + s + self.attention(s, att_index, att_weights)
        if self.angular is not None:
            m = m + self.angular(s, edge_index, angular_basis, harmonics, slots)
        a1, a2, a3 = self.update(m).split(self.width, dim=-1)
        u1, u2, u3 = self.vector_maps(v).split(self.width, dim=-1)  # each (N, 3, F)
        ds = a1 + a2 * (u1 * u2).sum(dim=1)
        dv = v * sum2.unsqueeze(1) + vector_sums + a3.unsqueeze(1) * u3
        return ds, dv, ds + self.resml(ds)

    def chunked_edges(self) -> bool:
        """Whether the filter convolution and the attention may take the edge-chunked paths of ``cmret_chunked`` (force
        calls with frozen weights, not under torch.compile), which they do for pair lists above
        ``nn.chunks.MIN_CHUNKED_BYTES`` per tensor; training keeps the plain, twice-differentiable layer."""
        return self.chunk_edges and chunkable(self.filter_self, self.filter_neighbor, self.mix, self.query, self.key,
                                              self.value)


class CMRET(AttnModel):
    """CMRET potential: per-atom energies (N,) (and a dipole (B, 3)) from species, geometry, charge, spin.

    Args:
        config: CMRETConfig.
        num_species: unused beyond the registry contract (atoms are embedded by
            electron configuration, so any element works).

    Set ``recompute_layers`` to recompute each layer in the backward pass (less memory, see nn.recompute);
    above ``recompute_block_edges`` edges (sorted by receiver, local attention) each layer then also runs in
    blocks of receivers.
    """

    supports_recompute = True
    recompute_block_edges = 1 << 18
    energy_head = ("output",)

    config: CMRETConfig

    def __init__(self, config: CMRETConfig, num_species: int):
        super().__init__(config)
        width = config.width
        self.embedding = ElectronConfigurationEmbedding(width)
        if config.charge_spin == "invariant":
            self.charge_spin = nn.Linear(2, width, bias=False)
        self.basis = ExpNormalBasis(config.cutoff, config.num_basis) if config.basis == "expnormal" \
            else BesselBasis(config.cutoff, config.num_basis)
        self.envelope = make_envelope(config.envelope, config.cutoff)
        self.attention_envelope = make_envelope(config.envelope, config.attention_radius or config.cutoff)
        self.layers = nn.ModuleList(CMRETLayer(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(width)
        self.output = self._output_blocks(config)
        self.dipole_output = self._output_blocks(config) if config.dipole else None
        for layer in self.layers:
            layer.reset_parameters(config.num_basis)
        for block in [*self.output, *(self.dipole_output or [])]:  # layers feeding SiLU (paper Sec. 2.4)
            nn.init.normal_(block.context[0].weight, 0.0, math.sqrt(3.0 / (2 * block.context[0].in_features)))

    @property
    def has_dipole(self) -> bool:
        return bool(self.config.dipole)

    @staticmethod
    def _output_blocks(config: CMRETConfig) -> nn.ModuleList:
        """Gated equivariant blocks F -> F/2 -> ... -> 1 (scalar and vector outputs)."""
        widths = [config.width] + [max(config.width // 2 ** (k + 1), 1) for k in range(config.output_blocks - 1)]
        widths.append(1)
        return nn.ModuleList(
            GatedEquivariantBlock(a, b, scalar_activation=k < config.output_blocks - 1)
            for k, (a, b) in enumerate(zip(widths[:-1], widths[1:]))
        )

    def _dipole(self, s: torch.Tensor, v: torch.Tensor, inputs: ModelInputs) -> torch.Tensor:
        """(B, 3) dipole in e*Angstrom from scalar charges and vector outputs (paper Eq. 13)."""
        for block in self.dipole_output:
            s, v = block(s, v)
        q, mu = s.squeeze(-1), v.squeeze(-1)  # (N,), (N, 3)
        b, batch = inputs.num_graphs, inputs.batch
        n_atoms = torch.bincount(batch, minlength=b).to(q.dtype)
        excess = (segment_sum(q, batch, b) - inputs.charge.to(q.dtype)) / n_atoms
        q = q - excess[batch]  # charges add up to the net charge
        z = inputs.numbers.to(q.dtype)
        centre = segment_sum(z.unsqueeze(-1) * inputs.positions, batch, b) / segment_sum(z, batch, b).unsqueeze(-1)
        return segment_sum(mu + q.unsqueeze(-1) * (inputs.positions - centre[batch]), batch, b)

    def _attention_graph(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention edges (2, A) and their softmax weights (A,)."""
        if self.config.attention == "local":
            return inputs.edge_index, self.attention_envelope(inputs.d_ij)
        # every ordered pair within a structure (atoms of a structure are contiguous): sum_b n_b^2 pairs
        counts = torch.bincount(inputs.batch, minlength=inputs.num_graphs)
        start = torch.cumsum(counts, 0) - counts
        receiver, position = expand_ranges(counts[inputs.batch])
        sender = start[inputs.batch[receiver]] + position
        distinct = receiver != sender
        index = torch.stack([receiver[distinct], sender[distinct]])
        return index, torch.ones(index.shape[1], dtype=inputs.d_ij.dtype, device=index.device)

    def _initial_features(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.embedding(inputs.numbers)
        n, width = s.shape
        v = s.new_zeros((n, 3, width))
        if self.config.charge_spin == "none":
            return s, v
        total_z = segment_sum(inputs.numbers.to(s.dtype), inputs.batch, inputs.num_graphs)  # (B,)
        charge = (inputs.charge.to(s.dtype) / total_z)[inputs.batch]
        spin = (inputs.spin.to(s.dtype) / total_z)[inputs.batch]
        if self.config.charge_spin == "invariant":
            s = s + self.charge_spin(torch.stack([charge, spin], dim=-1))
        else:  # paper Eq. 9: a lab-fixed direction, not rotation-invariant when Q != S
            v = v - (charge - spin).view(n, 1, 1).expand(n, 3, width)
        return s, v

    def autograd_values_per_pair(self) -> float | None:
        """Numbers a force call keeps per pair it evaluates (local attention; None for global attention, whose
        cost grows with the atom pairs of each molecule).

        Plain layers (training weights, ``CMRETLayer.chunk_edges = False``): about 28 per feature and layer,
        measured from the peak RSS on 6144 water atoms, about 315000 pairs within the cutoff (419212 list pairs
        x (5/5.5)^3), width 64, 4 layers (docs/performance.md: 28.0 in float32, 27.8 in float64).
        Edge-chunked layers (a force call with frozen weights, ``cmret_chunked``): about 3 (float32: 2.9 at
        6144 and at 49152 atoms).
        """
        if self.config.attention != "local":
            return None
        per_feature = 3.0 if self.layers[0].chunked_edges() else 28.0
        return (per_feature * self.config.width + 3.0 * self.config.angular) * self.config.num_layers

    @property
    def feature_width(self) -> int:
        return self.config.width

    def forward(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        representation = self.represent(inputs)
        s_out, v_out = representation["features"], representation["vectors"]
        for block in self.output:
            s_out, v_out = block(s_out, v_out)
        out = {"energies": s_out.squeeze(-1)}
        if self.dipole_output is not None:
            out["dipole"] = self.dipole_vector(representation, inputs)
        return out

    def dipole_vector(self, representation: dict[str, torch.Tensor], inputs: ModelInputs) -> torch.Tensor:
        if self.dipole_output is None:
            raise NotImplementedError("this CMRET has no dipole head (config dipole: true adds it)")
        return self._dipole(representation["features"], representation["vectors"], inputs)

    def represent(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        phi = self.envelope(inputs.d_ij)
        edge_features = self.basis(inputs.d_ij) * phi.unsqueeze(-1)
        unit_ij = inputs.vec_ij / inputs.d_ij.unsqueeze(-1)
        att_index, att_weights = self._attention_graph(inputs)
        s, v = self._initial_features(inputs)
        edges = (edge_features, phi, unit_ij, att_weights)
        if self.config.angular:
            # radial weights enveloped twice, as the filters' weighted terms
            edges += (edge_features * phi.unsqueeze(-1),
                      unit_harmonics(inputs.vec_ij, inputs.d_ij, self.config.angular_degree),
                      receiver_slots(inputs.edge_index[0], s.shape[0]))
        else:
            edges += (None, None, None)
        accumulated = torch.zeros_like(s)
        local = att_index is inputs.edge_index
        blocks = blocks_for(self, inputs.edge_index, s.shape[0]) if local else None
        for layer in self.layers:
            if blocks:
                s, v, y = run_layer_by_receivers(layer, (s, v), inputs.edge_index, edges, blocks)
            else:
                s, v, y = run_layer(layer, s, v, inputs.edge_index, *edges, None if local else att_index,
                                    recompute=self.recompute_layers)
            accumulated = accumulated + y
        return {"features": self.norm(accumulated), "vectors": v}
