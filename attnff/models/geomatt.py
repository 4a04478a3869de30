"""GeomAtt: geometric (overlap) attention (Frank & Chmiela, arXiv 2106.02549, 2021; docs/models/geomatt.md).

Pair weights come from a Gaussian grid mu_k = k Delta (k = 0..K-1), phi_ij[k] =
exp(-gamma (d_ij - mu_k)^2), phi_0 = phi(d = 0) (Eqs. 5, 8, 16):

    w_ij = r(d_ij) (W_q phi_0 + b_q) ⊙ (W_k phi_ij + b_k)            (F_k,)
    w_ii = (W_q phi_0 + b_q) ⊙ (W_k phi_0 + b_k)                      diagonal, r(0) = 1

Order k chains k - 1 such factors, each with its own linear pair (Eqs. 9, 10):

    w^(k)_ij = r(d_ij) sum_l w^(k-1)_il ⊙ w'_lj,     alpha^(k)_ij = Delta sum_f w^(k)_ij[f]

and a stream of order k updates v_i <- v_i + (1/N_s) sum_j alpha^(k)_ij (W v_j + b),
j = i included, without a nonlinearity (Eq. 15). The concatenated streams go
through Linear -> shifted softplus -> Linear to one energy per atom.

Deviations from the paper (each documented in docs/models/geomatt.md):

- Range envelope r(d): the default ``envelope_range=True`` multiplies every pair
  weight by a smooth envelope that is exactly 0 from the cutoff on, so pairs
  beyond the cutoff (and neighbour-list skin edges) contribute exactly zero and
  far fragments are exactly additive. The paper has no cutoff: alpha tends to
  a constant at large distance. ``envelope_range=False`` uses r = 1 inside the
  cutoff (a hard cut); with a cutoff beyond every interatomic distance this is
  the paper's model, for molecules.
- Sparse higher orders: the factor r(d_ij) in w^(k) keeps every order on the
  neighbour graph, so the sum over l runs over the common neighbourhood
  N(i) ∩ N(j) plus l = i and l = j, through a triplet list built once per
  forward. Cost O(N n^2 F_k) for n neighbours instead of the paper's O(N^3 F_k).
- Periodic images: the objects are "pairs" (every edge with its own image,
  plus one self pair per atom), not atom pairs. A triplet (a, b, c) links pair
  a = (i <- l), pair b = (l <- j) and the pair c = (i <- j) whose vector is
  vec_a + vec_b, so images never mix and small cells work like molecules.
- Species enter through nn.Embedding (one model for any molecule, batches of
  variable size) instead of one model per molecule with fixed atom order.
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional

from ..errors import InvalidStructureError
from ..nn import (
    MLP,
    AngularInvariants,
    GaussianBasis,
    RecordsAttention,
    check_angular_options,
    chunkable,
    make_envelope,
    receiver_slots,
    run_layer,
    segment_sum,
    unit_harmonics,
    worth_chunking,
)
from ..nn.pair_kernels import product_gather_sum
from ..nn.scatter import expand_ranges
from .base import AttnModel
from .inputs import ModelInputs

__all__ = ["GeomAttConfig", "GeomAtt"]

#: Two images of one atom pair differ by a lattice vector, which the calculator's overlap check
#: (MIN_DISTANCE = 0.1 A, applied to self-images too) keeps far above this; float rounding of
#: pair vectors is orders of magnitude below it, also in float32.
IMAGE_MATCH_TOLERANCE = 0.01  # Angstrom


@dataclass(frozen=True)
class GeomAttConfig:
    """Hyperparameters of GeomAtt (defaults: the paper's MD17 model, Table 4, plus the range envelope).

    Attributes:
        cutoff: graph cutoff r_c in Angstrom; pairs at d >= r_c contribute exactly zero.
        width: atom feature width F; the order-k attention works in F_k = F / 2^(k-2) dimensions.
        num_layers: interaction layers L per stream (paper: 3).
        orders: correlation order of each stream (paper: 2, 3, 4); N_s = len(orders).
        num_basis: Gaussians K on the grid mu_k = k * spacing (paper: 100).
        spacing: grid spacing Delta in Angstrom, also the Riemann-sum weight of alpha (paper: 0.05).
        gamma: Gaussian width parameter in 1/Angstrom^2 (paper: 20).
        envelope: shape of the range envelope, "polynomial" or "cosine".
        envelope_range: True (default) multiplies pair weights by the smooth envelope; False uses a
            hard cut at r_c (the paper's unbounded model when r_c exceeds every distance).
        readout_hidden: hidden width of the readout (paper: N_s * F / 2 = 192).
        angular: channels C of angular invariants (nn.angular, as in JAT) added to every interaction's
            update (0: the paper's interaction). Their output map starts at zero.
        angular_degree: highest degree l of the angular invariants, 1 to 3.
        angular_mixing: recombine the angular densities over channels for each degree before squaring.
        angular_products: add the four-body bispectrum of the angular densities (angular_degree >= 2).
    """

    cutoff: float = 5.0
    width: int = 128
    num_layers: int = 3
    orders: tuple[int, ...] = (2, 3, 4)
    num_basis: int = 100
    spacing: float = 0.05
    gamma: float = 20.0
    envelope: Literal["polynomial", "cosine"] = "polynomial"
    envelope_range: bool = True
    readout_hidden: int = 192
    angular: int = 0
    angular_degree: int = 2
    angular_mixing: bool = False
    angular_products: bool = False

    @property
    def supports_charge_spin(self) -> bool:
        """GeomAtt describes neutral structures in their lowest spin state only."""
        return False

    def __post_init__(self):
        object.__setattr__(self, "orders", tuple(self.orders))
        if not self.orders or any(int(k) != k or k < 2 for k in self.orders):
            raise ValueError(f"GeomAtt orders must be a non-empty list of integers >= 2, not {self.orders}")
        top = 2 ** (max(self.orders) - 2)
        if self.width % top:
            raise ValueError(f"GeomAtt width {self.width} must be divisible by 2^(max order - 2) = {top}")
        if self.envelope not in ("polynomial", "cosine"):
            raise ValueError(f"GeomAtt envelope must be 'polynomial' or 'cosine', not {self.envelope!r}")
        for name in ("cutoff", "spacing", "gamma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GeomAtt {name} must be positive, not {getattr(self, name)}")
        for name in ("num_layers", "num_basis", "readout_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"GeomAtt {name} must be at least 1, not {getattr(self, name)}")
        check_angular_options("GeomAtt", self.angular_degree, self.angular_products)


@dataclass
class PairGraph:
    """The pairs GeomAtt works on: P = E' + N, the E' edges with d < r_c first, then one self pair per atom.

    Attributes:
        receivers: (P,) atom i of each pair.
        senders: (P,) atom j of each pair (its image for edges).
        phi: (E', K) Gaussian expansion of the edge distances.
        phi_0: (K,) expansion at d = 0 (the query input and the self pairs' key input).
        range_weight: (P,) r(d) for edges, 1 for self pairs.
        triplets: (3, T) pair indices (a, b, c): a = (i <- l), b = (l <- j), c = (i <- j) with
            vec_c = vec_a + vec_b; empty when no stream has order > 2.
        angular_edges: with angular invariants, the inputs of ``AngularInvariants`` after the features:
            edge_index (2, E'), enveloped basis (E', K), harmonics (E', M), receiver slots (E',) or None.
    """

    receivers: torch.Tensor
    senders: torch.Tensor
    phi: torch.Tensor
    phi_0: torch.Tensor
    range_weight: torch.Tensor
    triplets: torch.Tensor
    angular_edges: tuple | None = None

    @property
    def num_atoms(self) -> int:
        return self.range_weight.shape[0] - self.phi.shape[0]


@torch.no_grad()
def build_triplets(receivers: torch.Tensor, senders: torch.Tensor, vectors: torch.Tensor, num_atoms: int,
                   radius: float) -> torch.Tensor:
    """All triplets of pairs (a, b, c) with a = (i <- l), b = (l <- j), c = (i <- j), vec_c = vec_a + vec_b.

    Pairs are edges with their images (vec = r_i - r_j(image)) and self pairs (i <- i, vec 0), so
    l = i and l = j appear through the self pairs. No loops over atoms: the candidates (a, b) come
    from the pairs sorted by receiver, the pair c from a sorted (receiver, sender) key, and among
    the images of (i, j) the one whose vector matches vec_a + vec_b.

    Args:
        receivers, senders: (P,) int64 atom indices of each pair.
        vectors: (P, 3) Angstrom, pair vectors r_i - r_j(image) (no gradient needed).
        num_atoms: N.
        radius: pairs c farther than this are not in the list (the cutoff).

    Returns:
        (3, T) int64 pair indices.

    Raises:
        InvalidStructureError: two images of one atom pair closer than IMAGE_MATCH_TOLERANCE.
    """
    # candidates (a, b) sharing the middle atom l = senders[a] = receivers[b]
    by_receiver = torch.argsort(receivers, stable=True)
    per_receiver = torch.bincount(receivers, minlength=num_atoms)
    first = torch.cumsum(per_receiver, 0) - per_receiver
    a, position = expand_ranges(per_receiver[senders])
    b = by_receiver[first[senders[a]] + position]
    implied = vectors[a] + vectors[b]  # (T0, 3) candidate vec_c
    near = torch.linalg.vector_norm(implied, dim=-1) < radius + IMAGE_MATCH_TOLERANCE
    a, b, implied = a[near], b[near], implied[near]

    # the pair c among all images of (i, j): sorted keys, then the matching vector
    keys = receivers * num_atoms + senders
    by_key = torch.argsort(keys, stable=True)
    sorted_keys = keys[by_key]
    wanted = receivers[a] * num_atoms + senders[b]
    low = torch.searchsorted(sorted_keys, wanted)
    high = torch.searchsorted(sorted_keys, wanted, right=True)
    candidate, position = expand_ranges(high - low)
    c = by_key[low[candidate] + position]
    residual = torch.linalg.vector_norm(implied[candidate] - vectors[c], dim=-1)
    match = residual < IMAGE_MATCH_TOLERANCE
    candidate, c = candidate[match], c[match]
    if candidate.numel() and torch.bincount(candidate).max() > 1:
        raise InvalidStructureError(
            f"two periodic images of one atom pair are closer than {IMAGE_MATCH_TOLERANCE} A; "
            "the cell is degenerate or atoms overlap their own images"
        )
    return torch.stack([a[candidate], b[candidate], c])


class ShiftedSoftplus(nn.Module):
    """ssp(x) = softplus(x) - log 2 (SchNet's activation, used by the paper's readout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.softplus(x) - math.log(2.0)


class OverlapKernel(nn.Module):
    """One factor of the attention (Eq. 16): w_ij = r(d_ij) (W_q phi_0 + b_q) ⊙ (W_k phi_ij + b_k).

    Args:
        num_basis: K.
        width: F_k.
    """

    def __init__(self, num_basis: int, width: int):
        super().__init__()
        self.query = nn.Linear(num_basis, width)
        self.key = nn.Linear(num_basis, width)

    def forward(self, graph: PairGraph) -> torch.Tensor:
        """-> (P, F_k) weights of every pair, edges then self pairs."""
        query = self.query(graph.phi_0)  # (F_k,), the same for every pair
        edges = query * self.key(graph.phi) * graph.range_weight[: graph.phi.shape[0], None]
        own = (query * self.key(graph.phi_0)).expand(graph.num_atoms, -1)  # d_ii = 0, r(0) = 1
        return torch.cat([edges, own])


class GeomAttention(RecordsAttention, nn.Module):
    """Order-k geometric attention alpha^(k) on the pairs (Eqs. 8-10, truncated to the graph).

    alpha is recordable (see nn.recording) as one head of signed, unnormalised coefficients.

    w^(2) = first kernel;  w^(m)_c = r_c sum_{(a, b, c)} w^(m-1)_a ⊙ w'_b;  alpha_c = Delta sum_f w^(k)_c[f]

    Args:
        order: k >= 2.
        num_basis: K.
        width: F_k.
        spacing: Delta in Angstrom.
    """

    softmax = False
    #: force calls with frozen weights sum the triplets in chunks (``nn.pair_kernels``); False: the plain sum
    chunk_triplets: bool = True

    def __init__(self, order: int, num_basis: int, width: int, spacing: float):
        super().__init__()
        self.order, self.spacing = order, spacing
        self.kernels = nn.ModuleList(OverlapKernel(num_basis, width) for _ in range(order - 1))

    def forward(self, graph: PairGraph) -> torch.Tensor:
        """-> alpha (P,)."""
        weights = self.kernels[0](graph)  # (P, F_k)
        if len(self.kernels) > 1:
            a, b, c = graph.triplets
            range_weight = graph.range_weight.unsqueeze(-1)
            chunked = self.chunked_triplets() and worth_chunking(weights, a.shape[0], weights.shape[1])
            for kernel in self.kernels[1:]:
                factor = kernel(graph)
                if chunked:
                    weights = product_gather_sum(weights, factor, graph.triplets) * range_weight
                else:
                    weights = segment_sum(weights.index_select(0, a) * factor.index_select(0, b), c,
                                          weights.shape[0]) * range_weight
        alpha = self.spacing * weights.sum(-1)
        if self.recording is not None:
            self.record(graph.receivers, graph.senders, alpha.unsqueeze(-1))
        return alpha

    def chunked_triplets(self) -> bool:
        """Whether the triplet sums may take the chunked path of ``nn.pair_kernels`` (force calls with frozen weights,
        not under torch.compile), which they do above ``nn.chunks.MIN_CHUNKED_BYTES`` per (T, F_k) tensor;
        training keeps the plain, twice-differentiable sum."""
        return self.chunk_triplets and chunkable(self.kernels)


class GeomAttInteraction(nn.Module):
    """One interaction module (Eq. 15): v_i <- v_i + (1/N_s) sum_j alpha_ij (W v_j + b), j = i included.

    Args:
        config: GeomAttConfig.
        order: correlation order k of the stream.
    """

    def __init__(self, config: GeomAttConfig, order: int):
        super().__init__()
        width_k = config.width // 2 ** (order - 2)
        self.attention = GeomAttention(order, config.num_basis, width_k, config.spacing)
        self.value = nn.Linear(config.width, config.width)
        self.num_streams = len(config.orders)
        self.angular = AngularInvariants(config.width, config.num_basis, config.angular, config.angular_degree,
                                         config.angular_mixing, config.angular_products) if config.angular else None

    def forward(self, v: torch.Tensor, graph: PairGraph) -> torch.Tensor:
        """v: (N, F) -> (N, F)."""
        alpha = self.attention(graph)  # (P,)
        messages = alpha.unsqueeze(-1) * self.value(v).index_select(0, graph.senders)  # (P, F)
        out = v + segment_sum(messages, graph.receivers, v.shape[0]) / self.num_streams
        if self.angular is not None:
            if graph.angular_edges is None:
                raise ValueError("this GeomAtt has angular invariants, but the pair graph was built without them")
            out = out + self.angular(v, *graph.angular_edges)
        return out


class GeomAtt(AttnModel):
    """GeomAtt potential: species embedding, N_s streams of L interactions, shifted-softplus readout.

    Args:
        config: GeomAttConfig.
        num_species: number of species the potential knows.

    forward(inputs) returns {"energies": (N,)} per-atom energies in model units (the Potential scales
    and sums them). Set ``recompute_layers`` to recompute each interaction in the backward pass
    (less memory, see nn.recompute).
    """

    supports_recompute = True
    reuses_pair_list = True
    energy_head = ("readout",)

    config: GeomAttConfig

    def __init__(self, config: GeomAttConfig, num_species: int):
        super().__init__(config)
        self.embedding = nn.Embedding(num_species, config.width)
        top = (config.num_basis - 1) * config.spacing
        self.basis = GaussianBasis(0.0, top, config.num_basis, gamma=config.gamma)
        self.envelope = make_envelope(config.envelope, config.cutoff)
        self.streams = nn.ModuleList(
            nn.ModuleList(GeomAttInteraction(config, order) for _ in range(config.num_layers))
            for order in config.orders
        )
        self.readout = MLP((len(config.orders) * config.width, config.readout_hidden, 1),
                           activation=ShiftedSoftplus)
        self._triplet_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def attention_label(self, name: str) -> str:
        """"streams.1.2.attention" -> "stream order <orders[1]>, layer 3"."""
        stream, layer = [int(part) for part in name.split(".") if part.isdigit()]
        return f"stream order {self.config.orders[stream]}, layer {layer + 1}"

    def pair_graph(self, inputs: ModelInputs) -> PairGraph:
        """Every pair of the list plus self pairs, their features and (if needed) triplets.

        Pairs at or beyond the cutoff (neighbour-list skin) stay in the graph with weight exactly 0,
        so the per-step path selects nothing on the host (no device synchronisation).
        """
        d_ij = inputs.d_ij
        num_atoms = inputs.species.shape[0]
        atoms = torch.arange(num_atoms, device=d_ij.device)
        receivers = torch.cat([inputs.edge_index[0], atoms])
        senders = torch.cat([inputs.edge_index[1], atoms])
        if self.config.envelope_range:
            edge_range = self.envelope(d_ij)  # exactly 0 from the cutoff on
        else:
            edge_range = (d_ij < self.cutoff).to(d_ij.dtype)
        if max(self.config.orders) > 2:
            triplets = self._triplets(inputs, receivers, senders)
        else:
            triplets = receivers.new_zeros((3, 0))
        phi = self.basis(d_ij)
        angular_edges = None
        if self.config.angular:
            # always the smooth envelope: the angular term is not the paper's, so it never takes its hard cut
            smooth = edge_range if self.config.envelope_range else self.envelope(d_ij)
            angular_edges = (inputs.edge_index, phi * smooth.unsqueeze(-1),
                             unit_harmonics(inputs.vec_ij, d_ij, self.config.angular_degree),
                             receiver_slots(inputs.edge_index[0], num_atoms))
        return PairGraph(
            receivers=receivers,
            senders=senders,
            phi=phi,
            phi_0=self.basis(d_ij.new_zeros(1))[0],
            range_weight=torch.cat([edge_range, d_ij.new_ones(num_atoms)]),
            triplets=triplets,
            angular_edges=angular_edges,
        )

    def _triplets(self, inputs: ModelInputs, receivers: torch.Tensor, senders: torch.Tensor) -> torch.Tensor:
        """(3, T) triplets of the pair list, built once per list and reused while it is the same tensor.

        The triplets depend on the pairs and their integer cell shifts only, not on the positions, so
        a neighbour list reused within its skin (the calculator hands the same ``edge_index`` tensor)
        reuses them; building synchronises with the device once per list.
        """
        cached = self._triplet_cache
        if cached is not None and cached[0] is inputs.edge_index:
            return cached[1]
        num_atoms = inputs.species.shape[0]
        vectors = torch.cat([inputs.vec_ij.detach(), inputs.vec_ij.new_zeros((num_atoms, 3))])
        radius = float(inputs.d_ij.detach().max()) if inputs.d_ij.numel() else 0.0  # every pair c of the list
        triplets = build_triplets(receivers, senders, vectors, num_atoms, radius)
        self._triplet_cache = (inputs.edge_index, triplets)
        return triplets

    def autograd_values_per_pair(self) -> float:
        """Numbers a force call keeps per pair it evaluates, per feature, layer and order.

        Measured on liquid water (about 52 pairs per atom within 5 A; the triplets grow with the
        neighbours per pair), 768 atoms, about 39800 pairs, width 64, 3 layers, orders 2-4, float32:
        about 42 with the plain triplet sums (peak RSS 3.6 GiB; docs/performance.md) and about
        8 with the chunked ones of a force call with frozen weights (6.7 from 0.82 GiB at 768 atoms,
        6.8 from 4.8 GiB at 6144).
        """
        chunked = self.streams[-1][0].attention.chunked_triplets()
        per_interaction = (8.0 if chunked else 42.0) * self.config.width + 3.0 * self.config.angular
        return per_interaction * self.config.num_layers * len(self.config.orders)

    @property
    def feature_width(self) -> int:
        return self.config.width * len(self.config.orders)

    def forward(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        return {"energies": self.readout(self.represent(inputs)["features"]).squeeze(-1)}

    def represent(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        graph = self.pair_graph(inputs)
        v_0 = self.embedding(inputs.species)
        finals = []
        for stream in self.streams:
            v = v_0
            for interaction in stream:
                v = run_layer(interaction, v, graph, recompute=self.recompute_layers)
            finals.append(v)
        return {"features": torch.cat(finals, dim=-1)}
