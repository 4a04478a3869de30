"""Angular (three-body) invariants of an atom's neighbourhood, for models that otherwise see distances only.

For each receiver i and channel c the density A_i^{c,lm} = sum_j w_ij^c Y_lm(u_ij) of its neighbours'
directions u_ij = (r_i - r_j) / d_ij, weighted by learned, feature- and distance-dependent w_ij^c, is
contracted to rotation invariants B_i^{c,l} = sum_m (A_i^{c,lm})^2 for l = 1 .. L (the power spectrum of
SOAP and ACE: it depends on the angles between pairs of neighbours). The weights carry the enveloped
radial basis, so B changes smoothly as neighbours cross the cutoff. With channel mixing each degree l
first recombines the densities, A^{c,lm} <- sum_c' M^l_cc' A^{c',lm}, which makes every channel's weight
a sum of radial-times-feature products (different radial shapes for different neighbours) and adds the
cross-channel terms of the power spectrum, at a cost per atom rather than per pair.

With products, each channel also gives the bispectrum B_i^{c,l1l2l3} = sum_{m1m2m3} G^{l1l2l3}_{m1m2m3}
A^{c,l1m1} A^{c,l2m2} A^{c,l3m3}, where G holds the Gaunt coefficients (the sphere average of three
harmonics, a rotation-invariant coupling): four-body terms, which depend on the angles among three
neighbours at once, as in ACE and MACE (correlation order 3).
"""

import math

import numpy as np
import torch
from torch import nn

from .chunks import chunkable, edge_chunk, worth_chunking
from .pair_kernels import angular_density
from .recompute import receiver_blocks
from .scatter import segment_outer_sum

__all__ = ["AngularInvariants", "check_angular_options", "degree_columns", "gaunt_couplings", "unit_harmonics"]

MAX_DEGREE = 3
_SQRT3, _SQRT5, _SQRT15 = math.sqrt(3.0), math.sqrt(5.0), math.sqrt(15.0)
_SQRT7, _SQRT105, _SQRT42_4, _SQRT70_4 = math.sqrt(7.0), math.sqrt(105.0), math.sqrt(42.0) / 4, math.sqrt(70.0) / 4


def check_angular_options(model: str, degree: int, products: bool) -> None:
    """Refuse angular options a model config cannot build, naming the model: degree outside 1 .. 3,
    or products without a coupling (degree 1)."""
    if not 1 <= degree <= MAX_DEGREE:
        raise ValueError(f"{model} angular_degree must be 1 to {MAX_DEGREE}, not {degree}")
    if products and degree < 2:
        raise ValueError(f"{model} angular_products needs angular_degree >= 2 (the lowest coupling is l = 1, 1, 2)")


def degree_columns(l: int) -> slice:
    """The columns of degree l in ``unit_harmonics``' output: l^2 - 1 .. (l + 1)^2 - 2 (2l + 1 of them)."""
    return slice(l * l - 1, (l + 1) * (l + 1) - 1)


def unit_harmonics(vec: torch.Tensor, d: torch.Tensor, degree: int = 2) -> torch.Tensor:
    """Real spherical harmonics of l = 1 .. degree (at most 3) of the directions vec / d, (E, 3), (E,) -> (E, M).

    M = degree (degree + 2): columns l^2 - 1 .. (l + 1)^2 - 2 hold degree l, each set an orthonormal
    basis of its rotation representation, with component normalisation (sum_m Y_lm^2 = 2l + 1).
    """
    x, y, z = (vec / d.unsqueeze(-1)).unbind(-1)
    columns = [_SQRT3 * x, _SQRT3 * y, _SQRT3 * z]
    if degree >= 2:
        columns += [_SQRT15 * x * y, _SQRT15 * y * z, 0.5 * _SQRT5 * (3.0 * z * z - 1.0), _SQRT15 * x * z,
                    0.5 * _SQRT15 * (x * x - y * y)]
    if degree >= 3:
        zz = 5.0 * z * z
        columns += [_SQRT70_4 * y * (3.0 * x * x - y * y), _SQRT105 * x * y * z, _SQRT42_4 * y * (zz - 1.0),
                    0.5 * _SQRT7 * z * (zz - 3.0), _SQRT42_4 * x * (zz - 1.0), 0.5 * _SQRT105 * z * (x * x - y * y),
                    _SQRT70_4 * x * (x * x - 3.0 * y * y)]
    return torch.stack(columns, dim=-1)


def gaunt_couplings(degree: int) -> list[tuple[int, int, int, torch.Tensor]]:
    """(l1, l2, l3, G) for l1 <= l2 <= l3 <= degree with a nonzero coupling, G (2l1+1, 2l2+1, 2l3+1) float64.

    G_{m1m2m3} = the average over the sphere of Y_l1m1 Y_l2m2 Y_l3m3 of ``unit_harmonics``, by a product
    quadrature (Gauss-Legendre in cos(theta), uniform in phi) exact for these polynomials of degree <= 9.
    Nonzero only for l1 + l2 + l3 even within the triangle |l1 - l2| <= l3 <= l1 + l2.
    """
    nodes, weights = (torch.as_tensor(a) for a in np.polynomial.legendre.leggauss(3 * MAX_DEGREE))
    phi = torch.arange(4 * MAX_DEGREE, dtype=torch.float64) * (2.0 * math.pi / (4 * MAX_DEGREE))
    cos_t, ph = torch.meshgrid(nodes, phi, indexing="ij")
    sin_t = (1.0 - cos_t * cos_t).sqrt()
    vec = torch.stack([sin_t * ph.cos(), sin_t * ph.sin(), cos_t], dim=-1).reshape(-1, 3)
    w = (weights.unsqueeze(1) / (2.0 * phi.shape[0])).expand(-1, phi.shape[0]).reshape(-1)  # sums to 1
    harmonics = unit_harmonics(vec, torch.ones(vec.shape[0], dtype=torch.float64), degree)
    block = lambda l: harmonics[:, degree_columns(l)]  # noqa: E731
    couplings = []
    for l1 in range(1, degree + 1):
        for l2 in range(l1, degree + 1):
            for l3 in range(l2, min(l1 + l2, degree) + 1):
                if (l1 + l2 + l3) % 2 == 0:
                    couplings.append((l1, l2, l3, torch.einsum("q,qa,qb,qc->abc", w, block(l1), block(l2), block(l3))))
    return couplings


class AngularInvariants(nn.Module):
    """Per-atom angular invariants (N, F) from sender features, radial basis and edge directions.

    w_ij^c = (W_r rbf_ij)_c (W_h h_j)_c; A_i^{c,lm} = sum_j w_ij^c Y_lm(u_ij), optionally mixed over
    channels per degree (M^l, identity at start); B_i^{c,l} = sum_m (A_i^{c,lm})^2;
    out_i = W_o log(1 + B_i) with W_o zero at start, so a model that gains this term starts as it was.
    W_o's columns run over l = 1 .. L, C channels each, so raising L appends columns. With products:
    out_i += W_p asinh(B3_i) over the Gaunt-coupled triples (l1, l2, l3), W_p also zero at start.

    Args:
        width: feature width F of h and of the output.
        num_basis: radial basis size K.
        channels: C, the number of weighted densities (L C invariants per atom).
        degree: L, the highest degree l (1 to 3).
        mixing: recombine the densities over channels for each degree before squaring.
        products: add the four-body bispectrum of each channel.
    """

    def __init__(self, width: int, num_basis: int, channels: int, degree: int = 2, mixing: bool = False,
                 products: bool = False):
        super().__init__()
        check_angular_options("AngularInvariants", degree, products)
        self.degree = degree
        self.radial = nn.Linear(num_basis, channels, bias=False)
        self.sender = nn.Linear(width, channels, bias=False)
        self.mixing = nn.Parameter(torch.eye(channels).repeat(degree, 1, 1)) if mixing else None  # (L, C, C)
        self.out = nn.Linear(degree * channels, width)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # (l1, l2, l3) and its Gaunt coupling as a (2l3+1, (2l1+1)(2l2+1)) matrix, kept in float64 and not as a
        # buffer, so that a float64 model uses it unrounded (float32-rounded couplings break rotation invariance
        # at 1e-12 relative); copies per device and dtype are made on first use
        self.triples: list[tuple[tuple[int, int, int], torch.Tensor]] = [
            ((l1, l2, l3), coupling.flatten(0, 1).T.contiguous())
            for l1, l2, l3, coupling in (gaunt_couplings(degree) if products else [])]
        self._triples_copies: dict[tuple[torch.device, torch.dtype], list] = {}
        self.products_out = None
        if products:
            self.products_out = nn.Linear(len(self.triples) * channels, width, bias=False)
            nn.init.zeros_(self.products_out.weight)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, rbf: torch.Tensor, harmonics: torch.Tensor,
                slots: torch.Tensor | None = None):
        """h: (N, F); edge_index: (2, E); rbf: (E, K) enveloped; harmonics: (E, L (L + 2));
        slots: (E,) from ``receiver_slots`` (faster on the CPU) or None -> (N, F)."""
        pair_blocks = self.density_blocks(rbf, harmonics, edge_index, h.shape[0], slots)
        if pair_blocks is not None and slots is not None:
            density = angular_density(self.sender(h), rbf, self.radial.weight, harmonics, edge_index, slots,
                                      pair_blocks)
        else:
            i, j = edge_index
            weights = self.radial(rbf) * self.sender(h).index_select(0, j)  # (E, C)
            density = segment_outer_sum(harmonics, weights, i, h.shape[0], slots)  # (N, M, C)
        invariants, blocks = [], []
        for l in range(1, self.degree + 1):
            block = density[:, degree_columns(l)]  # (N, 2l + 1, C)
            if self.mixing is not None:
                block = nn.functional.linear(block, self.mixing[l - 1])
            invariants.append((block * block).sum(1))
            blocks.append(block)
        out = self.out(torch.log1p(torch.cat(invariants, dim=-1)))
        if self.products_out is None:
            return out
        key = (density.device, density.dtype)
        if key not in self._triples_copies:
            self._triples_copies[key] = [(triple, gaunt.to(device=density.device, dtype=density.dtype))
                                         for triple, gaunt in self.triples]
        products = []
        for (l1, l2, l3), gaunt in self._triples_copies[key]:
            # pair products (N, (2l1+1)(2l2+1), C), coupled to degree l3 (N, 2l3+1, C), then with A_l3:
            # one small matrix product per triple, 2.6x faster (with double backward) than a 4-operand einsum
            pairs = (blocks[l1 - 1].unsqueeze(2) * blocks[l2 - 1].unsqueeze(1)).flatten(1, 2)
            coupled = torch.matmul(gaunt, pairs)
            products.append((coupled * blocks[l3 - 1]).sum(1))  # (N, C)
        return out + self.products_out(torch.asinh(torch.cat(products, dim=-1)))

    def density_blocks(self, rbf: torch.Tensor, harmonics: torch.Tensor, edge_index: torch.Tensor, num_atoms: int,
                       slots: torch.Tensor | None) -> list[tuple[int, int, int, int]] | None:
        """Receiver blocks for ``nn.pair_kernels.angular_density``, or None for the plain sum (kept for the
        backward pass whole). Blocks serve force calls with frozen weights (``nn.chunks.chunkable``) on the CPU
        (``slots`` given), with edges sorted by receiver, whose (E, M + C) layout would pass
        ``nn.chunks.MIN_CHUNKED_BYTES``; each block holds about ``nn.chunks.edge_chunk`` pairs. Training keeps
        the plain, twice-differentiable sum."""
        layout_width = harmonics.shape[1] + self.radial.out_features
        if slots is None or not chunkable(self.radial) or not worth_chunking(rbf, rbf.shape[0], layout_width):
            return None
        return receiver_blocks(edge_index[0], num_atoms, edge_chunk(rbf, layout_width))
