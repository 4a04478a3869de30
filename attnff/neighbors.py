"""Neighbour lists: positions, cell, pbc, cutoff -> edges and integer cell shifts.

Contract: every ordered pair (i, j, S) with |r_j + S @ cell - r_i| < cutoff,
i != j or S != 0, both directions stored, over all periodic images (also for
cells smaller than the cutoff or skewed cells). Non-periodic directions get no
images. Row 0 of ``edge_index`` is the receiver i, row 1 the sender j.

CPU: vesin. CUDA: vesin-torch on the device (periodic or not) when installed,
else, for non-periodic structures, torch-cluster's ``radius_graph`` (never
capped: max_num_neighbors is set to the atom count), else vesin on the host.

``NeighborCache(reorder=True)`` (the calculator's choice) also relabels the atoms
along a Morton (Z-order) curve and sorts the edges by receiver at every rebuild,
so that the gathers and scatters over edges read neighbouring rows of memory:
on large boxes this keeps the per-edge work in the CPU caches (docs/performance.md).
"""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MAX_OPEN_EXTENT", "widest_open_axis", "neighbor_list", "neighbor_list_torch", "radius_graph_torch",
           "device_backend", "spatial_order", "NeighborCache"]


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within ``cutoff`` with vesin.

    Args:
        positions: (N, 3) Angstrom.
        cell: (3, 3) Angstrom, rows are lattice vectors (ignored where pbc is False).
        pbc: (3,) bool.
        cutoff: Angstrom.

    Returns:
        edge_index (2, E) int64 and shifts (E, 3) int64.
    """
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    if len(positions) == 0 or (len(positions) == 1 and not pbc.any()):
        return np.zeros((2, 0), np.int64), np.zeros((0, 3), np.int64)
    axis = widest_open_axis(positions, pbc)
    if axis is not None:
        return _slab_neighbor_list(positions, cell, pbc, cutoff, axis)
    box = _vesin_box(cell, pbc)
    i, j, shifts = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=positions, box=box, periodic=pbc if pbc.any() else False, quantities="ijS"
    )
    return np.stack([i, j]).astype(np.int64), shifts.astype(np.int64)


#: Angstrom: the widest extent along a non-periodic direction handed to vesin in one piece. Its cell
#: grid fails (the process dies of SIGFPE) on extents of about 5e5 A; wider structures go slab by slab.
MAX_OPEN_EXTENT = 1.0e4


def widest_open_axis(positions: np.ndarray, pbc: np.ndarray) -> int | None:
    """The non-periodic axis along which ``positions`` (N, 3) span more than ``MAX_OPEN_EXTENT``, else None."""
    extent = np.ptp(positions, axis=0)
    extent[np.asarray(pbc, dtype=bool)] = 0.0
    axis = int(np.argmax(extent))
    return axis if extent[axis] > MAX_OPEN_EXTENT else None


def _slab_neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float,
                        axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``neighbor_list`` of a structure wider than ``MAX_OPEN_EXTENT`` along the non-periodic ``axis``.

    The occupied slabs of width ``MAX_OPEN_EXTENT / 2`` along ``axis`` are listed one at a time with the
    atoms within the cutoff of the slab (a halo); only pairs whose receiver lies in the slab are kept,
    so each pair is found once. The loop runs over occupied slabs, not atoms.
    """
    x = positions[:, axis]
    width, start = MAX_OPEN_EXTENT / 2, x.min()
    slab = np.floor((x - start) / width).astype(np.int64)  # (N,)
    halo = 1.01 * cutoff + 1e-6  # beyond any pair distance, whatever the rounding of slab bounds
    edges, shifts = [np.zeros((2, 0), np.int64)], [np.zeros((0, 3), np.int64)]
    for k in np.unique(slab):
        low = start + k * width
        members = np.flatnonzero((x >= low - halo) & (x < low + width + halo))
        found, found_shifts = neighbor_list(positions[members], cell, pbc, cutoff)
        keep = slab[members][found[0]] == k
        edges.append(members[found[:, keep]])
        shifts.append(found_shifts[keep])
    return np.concatenate(edges, axis=1), np.concatenate(shifts)


def _vesin_box(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """The box vesin expects: rows of non-periodic directions zeroed (no images along them)."""
    box = np.asarray(cell, dtype=np.float64).copy()
    box[~pbc] = 0.0
    return box


def neighbor_list_torch(positions: torch.Tensor, cell: np.ndarray, pbc: np.ndarray, cutoff: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``neighbor_list`` computed on the positions' device (CPU or CUDA) with vesin-torch.

    Args:
        positions: (N, 3) Angstrom, float64 tensor on the target device.
        cell, pbc, cutoff: as for ``neighbor_list``.

    Returns:
        edge_index (2, E) int64 and shifts (E, 3) int64 on the positions' device.
    """
    from vesin_torch import NeighborList

    pbc = np.asarray(pbc, dtype=bool)
    device = positions.device
    if positions.shape[0] == 0 or (positions.shape[0] == 1 and not pbc.any()):
        return (torch.zeros((2, 0), dtype=torch.long, device=device),
                torch.zeros((0, 3), dtype=torch.long, device=device))
    box = torch.as_tensor(_vesin_box(cell, pbc), dtype=positions.dtype, device=device)
    periodic = torch.as_tensor(pbc, device=device) if pbc.any() else False
    i, j, shifts = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=positions, box=box, periodic=periodic, quantities="ijS")
    return torch.stack([i, j]).long(), shifts.long()


def radius_graph_torch(positions: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Non-periodic graph on the positions' device with torch-cluster; (2, E) receiver-first."""
    from torch_cluster import radius_graph

    n = positions.shape[0]
    # torch-cluster returns (source, target) with flow="source_to_target": row 1 is the centre.
    source, target = radius_graph(positions, r=cutoff, loop=False, max_num_neighbors=max(n, 1))
    return torch.stack([target, source])


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def device_backend(device: torch.device, periodic: bool) -> str:
    """Which builder serves ``device``: "vesin-torch" (on the device), "torch-cluster"
    (CUDA, non-periodic) or "vesin" (host, then copied to the device)."""
    if device.type == "cuda" and _installed("vesin_torch"):
        return "vesin-torch"
    if device.type == "cuda" and not periodic and _installed("torch_cluster"):
        return "torch-cluster"
    return "vesin"


MORTON_BITS = 10  # per axis: 1024^3 grid cells, far finer than an atom's spacing for boxes up to ~1000 A


def _spread_bits(q: np.ndarray) -> np.ndarray:
    """Spread the low 10 bits of q (int64) so that two zero bits follow each bit."""
    q = q & 0x3FF
    q = (q | (q << 16)) & 0x30000FF
    q = (q | (q << 8)) & 0x300F00F
    q = (q | (q << 4)) & 0x30C30C3
    return (q | (q << 2)) & 0x9249249


def spatial_order(positions: np.ndarray) -> np.ndarray:
    """Permutation (N,) listing atoms along a Morton (Z-order) curve through their bounding cube.

    Atoms close in space end up close in the list, so rows gathered for the edges of
    neighbouring receivers share cache lines. Only the labels change, never the physics.

    Args:
        positions: (N, 3) Angstrom (wrapped or not).
    """
    if len(positions) < 2:
        return np.arange(len(positions))
    low = positions.min(axis=0)
    extent = float((positions.max(axis=0) - low).max()) or 1.0
    grid = ((positions - low) * ((2**MORTON_BITS - 1) / extent)).astype(np.int64)
    keys = _spread_bits(grid[:, 0]) | (_spread_bits(grid[:, 1]) << 1) | (_spread_bits(grid[:, 2]) << 2)
    return np.argsort(keys, kind="stable")


@dataclass
class _Built:
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    edge_index: torch.Tensor
    shifts: torch.Tensor
    edge_index_host: np.ndarray  # the same list in host memory, for per-step checks without device syncs
    shifts_host: np.ndarray
    order: np.ndarray  # (N,) original index of each cache label
    inverse: np.ndarray  # (N,) cache label of each original atom


class NeighborCache:
    """Neighbour list reused across MD steps within a skin.

    The list is built with ``cutoff + skin`` and rebuilt when any atom moved
    more than skin / 2 since the last build, or when the cell, periodicity or
    atom count changed. Models see the extra pairs with weight exactly zero, so
    reuse gives the same numbers as a fresh list.

    Args:
        cutoff: model cutoff in Angstrom.
        skin: extra distance in Angstrom (0 rebuilds every call).
        device: where the edge tensors live.
        reorder: label the atoms in spatial (Morton) order and sort the edges by receiver
            at each rebuild. The edges then refer to cache labels: atom ``order[k]`` of the
            caller is label k (``labelled`` applies it to per-atom arrays). False keeps the
            caller's labels and the builder's edge order.
    """

    def __init__(self, cutoff: float, skin: float = 0.5, device: torch.device | str = "cpu",
                 reorder: bool = False):
        self.cutoff, self.skin, self.device = float(cutoff), float(skin), torch.device(device)
        self.reorder = bool(reorder)
        self._built: _Built | None = None
        self.builds = 0

    def _stale(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> bool:
        built = self._built
        if built is None or built.positions.shape != positions.shape:
            return True
        if not np.array_equal(built.pbc, pbc) or not np.array_equal(built.cell, cell):
            return True
        if self.skin == 0.0:
            return True
        moved = np.einsum("ij,ij->i", positions - built.positions, positions - built.positions)
        return bool(moved.max(initial=0.0) > (0.5 * self.skin) ** 2)

    def get(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Edges (2, E) and integer shifts (E, 3) on ``device`` for one structure, in cache labels."""
        if self._stale(positions, cell, pbc):
            self._build(positions, cell, pbc)
        return self._built.edge_index, self._built.shifts

    def _build(self, original: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
        order = spatial_order(original) if self.reorder else np.arange(len(original))
        positions = original[order] if self.reorder else original
        radius = self.cutoff + self.skin
        backend = device_backend(self.device, bool(pbc.any()))
        if widest_open_axis(positions, pbc) is not None:
            backend = "vesin"  # the host builder splits very wide structures into slabs
        if backend == "vesin-torch":
            pos = torch.as_tensor(positions, dtype=torch.float64, device=self.device)
            edge_index, shifts = neighbor_list_torch(pos, cell, pbc, radius)
            # one copy per rebuild (every few steps within the skin), none per step
            edges, shift_np = edge_index.cpu().numpy(), shifts.cpu().numpy()
        elif backend == "torch-cluster":
            pos = torch.as_tensor(positions, device=self.device)
            edge_index = radius_graph_torch(pos, radius)
            shifts = torch.zeros((edge_index.shape[1], 3), dtype=torch.long, device=self.device)
            edges, shift_np = edge_index.cpu().numpy(), np.zeros((edge_index.shape[1], 3), np.int64)
        else:
            edges, shift_np = neighbor_list(positions, cell, pbc, radius)
            edge_index = torch.as_tensor(edges, device=self.device)
            shifts = torch.as_tensor(shift_np, device=self.device)
        if self.reorder:  # receiver-sorted: consecutive edges gather and scatter neighbouring rows
            by_receiver = np.argsort(edges[0], kind="stable")
            edges, shift_np = np.ascontiguousarray(edges[:, by_receiver]), shift_np[by_receiver]
            on_device = torch.as_tensor(by_receiver, device=self.device)
            edge_index, shifts = edge_index[:, on_device].contiguous(), shifts[on_device]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        self._built = _Built(original.copy(), cell.copy(), pbc.copy(), edge_index, shifts, edges, shift_np,
                             order, inverse)
        self.builds += 1

    def host_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The current list as NumPy arrays, edges (2, E) and shifts (E, 3), kept since its build.

        Call after ``get``. Per-step checks on the host read these instead of copying the
        device tensors back (a synchronisation on a GPU).
        """
        if self._built is None:
            raise RuntimeError("no neighbour list has been built yet; call get() first")
        return self._built.edge_index_host, self._built.shifts_host

    @property
    def order(self) -> np.ndarray:
        """(N,) the caller's index of each cache label (identity without ``reorder``); after ``get``."""
        if self._built is None:
            raise RuntimeError("no neighbour list has been built yet; call get() first")
        return self._built.order

    def labelled(self, per_atom: np.ndarray) -> np.ndarray:
        """A per-atom array (N, ...) of the caller's atoms in cache labels; after ``get``."""
        return per_atom if not self.reorder else per_atom[self.order]

    def unlabelled(self, per_atom: np.ndarray) -> np.ndarray:
        """A per-atom array (N, ...) in cache labels back in the caller's order; after ``get``."""
        return per_atom if not self.reorder else per_atom[self._built.inverse]
