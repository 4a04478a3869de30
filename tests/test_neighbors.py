"""Neighbour lists against brute force over small, skewed and mixed-periodic cells, and skin reuse."""

import itertools

import numpy as np
import pytest
import torch

from attnff.neighbors import NeighborCache, neighbor_list, spatial_order


def brute_force(positions, cell, pbc, cutoff):
    """Set of (i, j, shift) with |r_j + S cell - r_i| < cutoff, scanning enough images."""
    cell = np.asarray(cell, float)
    periodic = cell[np.asarray(pbc)]
    shortest = np.linalg.svd(periodic, compute_uv=False).min() if len(periodic) else 1.0
    n = int(np.ceil(2 * cutoff / shortest)) + 2  # generous: covers skewed cells
    ranges = [range(-n, n + 1) if pbc[axis] else range(0, 1) for axis in range(3)]
    pairs = set()
    for shift in itertools.product(*ranges):
        offset = np.array(shift) @ cell
        d = np.linalg.norm(positions[None, :, :] + offset - positions[:, None, :], axis=-1)  # (i, j)
        for i, j in zip(*np.nonzero(d < cutoff)):
            if i != j or shift != (0, 0, 0):
                pairs.add((int(i), int(j), shift))
    return pairs


def as_set(edge_index, shifts):
    return {(int(i), int(j), tuple(int(s) for s in shift)) for (i, j), shift in zip(edge_index.T, shifts)}


CASES = {
    "molecule": (np.zeros((3, 3)), [False, False, False]),
    "cubic": (np.eye(3) * 4.0, [True, True, True]),
    "skewed": (np.array([[3.0, 0, 0], [1.4, 2.8, 0], [0.9, -1.1, 3.1]]), [True, True, True]),
    "smaller-than-cutoff": (np.array([[1.6, 0, 0], [0.3, 1.7, 0], [0.2, 0.1, 1.5]]), [True, True, True]),
    "slab": (np.array([[3.0, 0, 0], [0.5, 3.2, 0], [0, 0, 0]]), [True, True, False]),
    "wire": (np.array([[2.1, 0, 0], [0, 0, 0], [0, 0, 0]]), [True, False, False]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("cutoff", [2.0, 3.5])
def test_matches_brute_force(case, cutoff):
    cell, pbc = CASES[case]
    rng = np.random.default_rng(7)
    frac = rng.random((5, 3))
    positions = frac @ cell if np.abs(cell).sum() else rng.random((5, 3)) * 4.0
    positions[:, ~np.asarray(pbc)] = rng.random((5, (~np.asarray(pbc)).sum())) * 4.0
    edge_index, shifts = neighbor_list(positions, cell, np.array(pbc), cutoff)
    assert as_set(edge_index, shifts) == brute_force(positions, cell, pbc, cutoff)
    assert edge_index.shape[1] == len(as_set(edge_index, shifts))  # no duplicates


def test_single_atom_and_isolated_atoms_have_no_edges():
    edge_index, shifts = neighbor_list(np.zeros((1, 3)), np.zeros((3, 3)), np.zeros(3, bool), 5.0)
    assert edge_index.shape == (2, 0) and shifts.shape == (0, 3)


def test_single_atom_in_small_cell_sees_its_images():
    edge_index, shifts = neighbor_list(np.zeros((1, 3)), np.eye(3) * 2.0, np.ones(3, bool), 2.5)
    assert edge_index.shape[1] == 6  # the 6 face images at 2.0 A; the 12 at 2.83 A are beyond 2.5


def test_skin_rebuilds_only_after_half_skin_moves():
    rng = np.random.default_rng(0)
    positions = rng.random((10, 3)) * 5
    cache = NeighborCache(cutoff=2.0, skin=0.4)
    cell, pbc = np.zeros((3, 3)), np.zeros(3, bool)
    cache.get(positions, cell, pbc)
    moved = positions.copy()
    moved[3] += [0.19, 0, 0]
    cache.get(moved, cell, pbc)
    assert cache.builds == 1
    moved[3] += [0.02, 0, 0]
    cache.get(moved, cell, pbc)
    assert cache.builds == 2
    cache.get(moved, np.eye(3) * 6, np.ones(3, bool))  # a cell change forces a rebuild
    assert cache.builds == 3


def test_skin_list_contains_every_pair_within_cutoff_until_rebuild():
    rng = np.random.default_rng(1)
    positions = rng.random((30, 3)) * 6
    cache = NeighborCache(cutoff=2.0, skin=0.5)
    cell, pbc = np.eye(3) * 6, np.ones(3, bool)
    current = positions.copy()
    for _ in range(40):
        current = current + rng.normal(scale=0.02, size=current.shape)
        edge_index, shifts = cache.get(current, cell, pbc)
        fresh = as_set(*neighbor_list(current, cell, pbc, 2.0))
        assert fresh <= as_set(edge_index.numpy(), shifts.numpy())
    assert 1 < cache.builds < 40


def test_spatial_order_is_a_permutation_that_groups_nearby_atoms():
    rng = np.random.default_rng(5)
    positions = rng.random((4000, 3)) * 40.0
    order = spatial_order(positions)
    assert np.array_equal(np.sort(order), np.arange(len(positions)))
    steps = np.linalg.norm(np.diff(positions[order], axis=0), axis=1)
    shuffled_steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert np.median(steps) < 0.2 * np.median(shuffled_steps)  # consecutive labels are close in space
    assert np.array_equal(spatial_order(np.zeros((1, 3))), [0])


def test_reordering_cache_lists_the_same_pairs_in_its_labels():
    rng = np.random.default_rng(6)
    positions = rng.random((60, 3)) * 7.0
    cell, pbc = np.eye(3) * 7.0, np.ones(3, bool)
    cache = NeighborCache(cutoff=2.0, skin=0.5, reorder=True)
    edge_index, shifts = cache.get(positions, cell, pbc)
    order = cache.order
    assert not np.array_equal(order, np.arange(60))
    edges = edge_index.numpy()
    assert np.all(np.diff(edges[0]) >= 0)  # sorted by receiver
    in_callers_labels = as_set(order[edges], shifts.numpy())
    assert in_callers_labels == as_set(*neighbor_list(positions, cell, pbc, 2.5))
    np.testing.assert_array_equal(cache.labelled(positions)[edges[0]], positions[order[edges[0]]])
    np.testing.assert_array_equal(cache.unlabelled(cache.labelled(positions)), positions)
    np.testing.assert_array_equal(cache.host_arrays()[0], edges)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_cluster_graph_matches_vesin_on_cuda():
    from attnff.neighbors import radius_graph_torch

    pytest.importorskip("torch_cluster")
    positions = np.random.default_rng(2).random((200, 3)) * 8
    edges = radius_graph_torch(torch.as_tensor(positions, device="cuda"), 2.5).cpu().numpy()
    reference, _ = neighbor_list(positions, np.zeros((3, 3)), np.zeros(3, bool), 2.5)
    assert {tuple(e) for e in edges.T} == {tuple(e) for e in reference.T}


def test_torch_cluster_graph_on_cpu_matches_vesin_when_installed():
    """torch-cluster (the GPU path's graph builder) also runs on the CPU: check it is uncapped and exact."""
    pytest.importorskip("torch_cluster")
    from attnff.neighbors import radius_graph_torch

    positions = np.random.default_rng(3).random((300, 3)) * 4  # dense: > 32 neighbours each
    edges = radius_graph_torch(torch.as_tensor(positions), 2.5).numpy()
    reference, _ = neighbor_list(positions, np.zeros((3, 3)), np.zeros(3, bool), 2.5)
    assert {tuple(e) for e in edges.T} == {tuple(e) for e in reference.T}


@pytest.mark.parametrize("case", sorted(CASES))
def test_vesin_torch_device_list_matches_brute_force(case):
    """vesin-torch (the GPU path for periodic and open structures) runs on the CPU too: same contract."""
    pytest.importorskip("vesin_torch")
    from attnff.neighbors import neighbor_list_torch

    cell, pbc = CASES[case]
    rng = np.random.default_rng(11)
    positions = rng.random((6, 3)) @ cell if np.abs(cell).sum() else rng.random((6, 3)) * 4.0
    positions[:, ~np.asarray(pbc)] = rng.random((6, (~np.asarray(pbc)).sum())) * 4.0
    edge_index, shifts = neighbor_list_torch(torch.as_tensor(positions), cell, np.array(pbc), 3.5)
    assert edge_index.dtype == shifts.dtype == torch.long
    assert as_set(edge_index.numpy(), shifts.numpy()) == brute_force(positions, cell, pbc, 3.5)
    single = neighbor_list_torch(torch.zeros((1, 3), dtype=torch.float64), np.zeros((3, 3)), np.zeros(3, bool), 3.0)
    assert single[0].shape == (2, 0) and single[1].shape == (0, 3)


def test_device_backend_prefers_device_builders_on_cuda(monkeypatch):
    import attnff.neighbors as neighbors

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(neighbors, "_installed", lambda module: True)
    assert neighbors.device_backend(cuda, periodic=True) == "vesin-torch"
    assert neighbors.device_backend(cpu, periodic=False) == "vesin"
    monkeypatch.setattr(neighbors, "_installed", lambda module: module == "torch_cluster")
    assert neighbors.device_backend(cuda, periodic=False) == "torch-cluster"
    assert neighbors.device_backend(cuda, periodic=True) == "vesin"
