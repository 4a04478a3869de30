"""GeomAtt: sparse orders equal the dense formulas, periodic images, batching, skin, finite second derivatives."""

import itertools

import numpy as np
import pytest
import torch
from ase.build import molecule

from attnff import AttnCalculator
from attnff.data.batch import collate
from attnff.data.records import Configuration
from attnff.models.geomatt import build_triplets
from attnff.neighbors import neighbor_list
from tests.conftest import small_potential

SMALL_CELL = np.array([[2.2, 0.0, 0.0], [0.4, 2.4, 0.0], [0.3, 0.2, 2.3]])  # widths < cutoff: many images
SMALL_CELL_FRACTIONAL = np.array([[0.0, 0.0, 0.0], [0.5, 0.45, 0.1], [0.15, 0.7, 0.6]])


def _config(atoms) -> Configuration:
    return Configuration(numbers=atoms.numbers, positions=atoms.positions)


def _periodic_config() -> Configuration:
    positions = SMALL_CELL_FRACTIONAL @ SMALL_CELL
    return Configuration(numbers=np.array([6, 8, 1]), positions=positions, cell=SMALL_CELL, pbc=np.ones(3, bool))


def _evaluate(potential, configs, graph_cutoff=None, **kwargs):
    return potential(collate(configs, graph_cutoff or potential.cutoff), **kwargs)


# ---------------------------------------------------------------------------------------------
# dense O(N^3) reference: the paper's formulas on all atom pairs, with the range envelope
# ---------------------------------------------------------------------------------------------

def _dense_per_atom_energies(potential, numbers, positions) -> torch.Tensor:
    """Per-atom energies (eV) from the dense formulas, reading the model's parameters."""
    model, config = potential.model, potential.model.config
    positions = torch.as_tensor(positions, dtype=torch.float64)
    dist = torch.cdist(positions, positions)  # (N, N), zero diagonal
    mu = torch.arange(config.num_basis, dtype=torch.float64) * config.spacing
    # the model's grid was made in the default dtype (float32) before .double(): use its rounding
    np.testing.assert_allclose(model.basis.centres.numpy(), mu.numpy(), rtol=1e-6, atol=0)
    mu = model.basis.centres
    phi = torch.exp(-config.gamma * (dist.unsqueeze(-1) - mu) ** 2)  # (N, N, K); diagonal is phi_0
    phi_0 = torch.exp(-config.gamma * mu**2)
    if config.envelope_range:  # DimeNet polynomial envelope, p = 5
        x = dist / config.cutoff
        envelope = torch.where(x < 1, 1 - 21 * x**5 + 35 * x**6 - 15 * x**7, torch.zeros_like(x))
    else:
        envelope = (dist < config.cutoff).to(dist.dtype)
    envelope.fill_diagonal_(1.0)
    envelope = envelope.unsqueeze(-1)

    def factor(kernel):  # (N, N, F_k)
        query = kernel.query.weight @ phi_0 + kernel.query.bias
        key = phi @ kernel.key.weight.T + kernel.key.bias
        return envelope * query * key

    species = potential.species_index[torch.as_tensor(numbers)]
    v_0 = model.embedding.weight[species]
    finals = []
    for stream in model.streams:
        v = v_0
        for interaction in stream:
            kernels = interaction.attention.kernels
            w = factor(kernels[0])
            for kernel in kernels[1:]:
                w = envelope * torch.einsum("ilf,ljf->ijf", w, factor(kernel))
            alpha = config.spacing * w.sum(-1)  # (N, N)
            v = v + alpha @ interaction.value(v) / len(config.orders)
        finals.append(v)
    hidden = model.readout[0](torch.cat(finals, dim=-1))
    epsilon = model.readout[2](torch.nn.functional.softplus(hidden) - np.log(2.0)).squeeze(-1)
    references = torch.tensor(potential.reference_energies, dtype=torch.float64)[species]
    return epsilon * potential.scale + references


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("CH4", {}),  # 5 atoms, every pair inside the 3 A cutoff
        ("CH4", {"envelope_range": False}),  # the paper's unbounded weights (all pairs inside)
        ("CH4", {"orders": (2, 3, 4, 5), "width": 16}),  # a higher order than the paper's
        ("CH3CH2OH", {"cutoff": 2.0}),  # pairs beyond the cutoff: the sparse sums must still agree
    ],
    ids=["ch4", "ch4-paper-range", "ch4-order5", "ethanol-partial-graph"],
)
def test_matches_dense_reference(name, overrides):
    potential = small_potential("geomatt", **overrides)
    atoms = molecule(name)
    atoms.rattle(0.05, seed=1)
    out = _evaluate(potential, [_config(atoms)], forces=False)
    with torch.no_grad():
        dense = _dense_per_atom_energies(potential, atoms.numbers, atoms.positions)
    np.testing.assert_allclose(out["energies"].detach().numpy(), dense.numpy(), atol=1e-11, rtol=0)


# ---------------------------------------------------------------------------------------------
# periodic images: edges with their shifts are the objects
# ---------------------------------------------------------------------------------------------

def test_triplets_match_integer_shift_bookkeeping():
    """build_triplets finds c from vectors alone; brute force with the integer shifts must agree."""
    config = _periodic_config()
    cutoff = 3.0
    edges, shifts = neighbor_list(config.positions, config.cell, config.pbc, cutoff)
    n, num_edges = len(config), edges.shape[1]
    receivers = np.concatenate([edges[0], np.arange(n)])
    senders = np.concatenate([edges[1], np.arange(n)])
    shifts = np.concatenate([shifts, np.zeros((n, 3), np.int64)])
    vectors = config.positions[receivers] - config.positions[senders] - shifts @ config.cell

    index = {(i, j, tuple(s)): p for p, (i, j, s) in enumerate(zip(receivers, senders, shifts))}
    expected = set()
    for a, b in itertools.product(range(len(receivers)), repeat=2):
        if senders[a] == receivers[b]:
            c = index.get((receivers[a], senders[b], tuple(shifts[a] + shifts[b])))
            if c is not None:
                expected.add((a, b, c))
    assert num_edges > 6 * n  # several images per atom pair
    found = build_triplets(torch.as_tensor(receivers), torch.as_tensor(senders), torch.as_tensor(vectors), n, cutoff)
    assert set(map(tuple, found.t().tolist())) == expected


def test_periodic_energies_equal_a_cluster_cut_from_the_crystal():
    """Each atom's energy depends on atoms within num_layers * cutoff: a large enough cluster of images
    around the unit cell gives the cell atoms exactly their periodic energies."""
    potential = small_potential("geomatt")
    config = _periodic_config()
    periodic = _evaluate(potential, [config], forces=False)["energies"].detach().numpy()

    radius = potential.model.config.num_layers * potential.cutoff + 0.1
    reach = 4
    shifts = np.array([s for s in itertools.product(range(-reach, reach + 1), repeat=3) if any(s)])
    images = (config.positions[None, :, :] + (shifts @ config.cell)[:, None, :]).reshape(-1, 3)
    image_numbers = np.tile(config.numbers, len(shifts))
    distance = np.linalg.norm(images[:, None, :] - config.positions[None, :, :], axis=-1).min(axis=1)
    assert distance.max() > radius + 1.0  # reach is large enough
    keep = distance < radius
    cluster = Configuration(numbers=np.concatenate([config.numbers, image_numbers[keep]]),
                            positions=np.concatenate([config.positions, images[keep]]))
    clustered = _evaluate(potential, [cluster], forces=False)["energies"].detach().numpy()
    np.testing.assert_allclose(clustered[: len(config)], periodic, atol=1e-10, rtol=0)


# ---------------------------------------------------------------------------------------------
# graph, batching and gradients
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "small-cell"])
def test_skin_edges_contribute_exactly_zero(periodic):
    potential = small_potential("geomatt")
    if periodic:
        config = _periodic_config()
    else:
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=3)
        config = _config(atoms)
    tight = _evaluate(potential, [config], forces=True, stress=periodic)
    skin = _evaluate(potential, [config], graph_cutoff=potential.cutoff + 1.0, forces=True, stress=periodic)
    for key in ("energies", "forces") + (("stress",) if periodic else ()):
        np.testing.assert_allclose(skin[key].detach().numpy(), tight[key].detach().numpy(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "small-cell"])
def test_triplets_are_reused_while_the_list_is(periodic, monkeypatch):
    """A list kept within its skin (same edge_index tensor, moved atoms) gives what a fresh list gives."""
    import dataclasses

    from attnff.models import geomatt

    potential = small_potential("geomatt")
    config = _periodic_config() if periodic else _config(molecule("CH3CH2OH"))
    builds = []
    monkeypatch.setattr(geomatt, "build_triplets", lambda *a: builds.append(1) or build_triplets(*a))
    listed = collate([config], potential.cutoff + 1.0)
    moved = dataclasses.replace(config, positions=config.positions
                                + 0.2 * np.random.default_rng(4).normal(size=config.positions.shape))
    first = potential(listed, forces=True, stress=periodic)
    reused = potential(dataclasses.replace(listed, positions=collate([moved], 1.0).positions),
                       forces=True, stress=periodic)
    assert len(builds) == 1
    fresh = _evaluate(potential, [moved], forces=True, stress=periodic)
    for key in ("energies", "forces") + (("stress",) if periodic else ()):
        np.testing.assert_allclose(reused[key].detach().numpy(), fresh[key].detach().numpy(), atol=1e-12, rtol=0)
    assert not np.allclose(first["energies"].detach().numpy(), fresh["energies"].detach().numpy())


def test_batch_of_different_sizes_matches_single_evaluation():
    potential = small_potential("geomatt")
    isolated = Configuration(numbers=np.array([7]), positions=np.zeros((1, 3)))  # no edges at all
    configs = [_config(molecule(name)) for name in ("CH3CH2OH", "H2O", "CH4")] + [isolated, _periodic_config()]
    batch = _evaluate(potential, configs, forces=True)
    singles = [_evaluate(potential, [c], forces=True) for c in configs]
    np.testing.assert_allclose(batch["energy"].detach().numpy(),
                               [float(s["energy"][0].detach()) for s in singles], atol=1e-11, rtol=0)
    np.testing.assert_allclose(batch["forces"].detach().numpy(),
                               np.concatenate([s["forces"].detach().numpy() for s in singles]), atol=1e-11, rtol=0)


def test_second_derivatives_are_finite():
    """Force-loss gradients w.r.t. the parameters (training) and Hessian-vector products w.r.t. positions."""
    potential = small_potential("geomatt")
    parameters = [p for p in potential.parameters() if p.requires_grad]
    far = molecule("H2O")
    far.positions += [0.0, 0.0, 3.2]  # within the skin of the graph below: present with weight 0
    molecules = [_config(molecule("CH3CH2OH")), _config(far), Configuration(numbers=np.array([8]),
                                                                           positions=np.zeros((1, 3)))]
    for configs, stress in ((molecules, False), ([_periodic_config()], True)):
        batch = collate(configs, potential.cutoff + 1.0)
        positions = batch.positions.clone().requires_grad_(True)
        batch.positions = positions
        out = potential(batch, forces=True, stress=stress, training=True)
        loss = (out["energy"] ** 2).sum() + (out["forces"] ** 2).sum()
        if stress:
            loss = loss + (out["stress"] ** 2).sum()
        grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert all(g.abs().sum() > 0 for g in grads)
        probe = torch.randn_like(out["forces"])
        (hessian_vector,) = torch.autograd.grad((out["forces"] * probe).sum(), positions)
        assert torch.isfinite(hessian_vector).all() and hessian_vector.abs().sum() > 0


def test_paper_range_couples_far_fragments_default_does_not():
    """Documents the paper's defect: without the envelope, alpha tends to a constant, so fragments
    inside the (large) cutoff interact at any distance; the default is exactly additive beyond r_c."""
    a, b = molecule("H2O"), molecule("CH4")
    b.positions += [12.0, 0.0, 0.0]
    for overrides, additive in (({}, True), ({"envelope_range": False, "cutoff": 30.0}, False)):
        calc = AttnCalculator(small_potential("geomatt", **overrides), device="cpu", dtype="float64", skin=0.0)
        energies = []
        for atoms in (a, b, a + b):
            atoms = atoms.copy()
            atoms.calc = calc
            energies.append(atoms.get_potential_energy())
        assert (abs(energies[2] - energies[0] - energies[1]) < 1e-9) == additive


@pytest.mark.parametrize("overrides, match", [
    ({"orders": (1, 2)}, "orders"),
    ({"orders": ()}, "orders"),
    ({"width": 10, "orders": (2, 3, 4)}, "divisible"),
    ({"spacing": 0.0}, "spacing"),
])
def test_invalid_configs_are_refused(overrides, match):
    with pytest.raises(ValueError, match=match):
        small_potential("geomatt", **overrides)
