"""JAT's optional angular invariants (``angular=C``); the physics battery (tests/physics) also runs this
variant ("jat-angular"): invariances, forces and stress against finite differences, size consistency."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from attnff import AttnCalculator, save_potential
from attnff.errors import ConfigError
from attnff.nn import AngularInvariants, degree_columns, gaunt_couplings, unit_harmonics
from attnff.train.loop import _initialise_from
from tests.conftest import small_potential, small_water_box
from tests.physics import assertions as check


def _calc():
    return AttnCalculator(small_potential("jat-angular"), device="cpu", dtype="float64", skin=0.0)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_harmonics_have_rotation_invariant_power_per_degree(degree):
    vec = torch.randn(50, 3, dtype=torch.float64)
    d = vec.norm(dim=-1)
    harmonics = unit_harmonics(vec, d, degree)
    assert harmonics.shape == (50, degree * (degree + 2))
    rotation = torch.as_tensor(Rotation.random(random_state=1).as_matrix())
    rotated = unit_harmonics(vec @ rotation.T, d, degree)
    weights = torch.randn(50, 1, dtype=torch.float64)
    for l in range(1, degree + 1):
        columns = degree_columns(l)
        assert torch.allclose((harmonics[:, columns] ** 2).sum(-1), torch.full((50,), 2.0 * l + 1, dtype=torch.float64))
        # the power spectrum of a weighted sum over directions is what the model uses: invariant under rotation
        power = ((weights * harmonics[:, columns]).sum(0) ** 2).sum()
        assert torch.allclose(power, ((weights * rotated[:, columns]).sum(0) ** 2).sum())


def test_harmonics_of_each_degree_are_orthogonal_over_directions():
    """Averaged over many random directions, Y_lm Y_l'm' -> delta (component normalisation): distinct functions."""
    vec = torch.randn(400000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    harmonics = unit_harmonics(vec, vec.norm(dim=-1), 3)
    gram = harmonics.T @ harmonics / len(vec)
    np.testing.assert_allclose(gram.numpy(), np.eye(15), atol=0.02)


def test_smooth_across_cutoff():
    calc = _calc()
    cutoff = calc.potential.cutoff

    def pair_plus_probe(d):  # the probe off the pair's axis, so that the angles change as it crosses
        return Atoms("CON", positions=[[0, 0, 0], [1.2, 0, 0], [-d * 0.6, d * 0.8, 0.0]])

    check.assert_smooth_across(pair_plus_probe, cutoff + np.linspace(-2e-3, 2e-3, 9), calc,
                               max_jump_e=1e-5, max_jump_f=1e-3)


@pytest.mark.parametrize("angular", [0, 4])
def test_sees_an_angle_that_distances_within_the_cutoff_do_not(angular):
    """Water with both O-H at 1 A and H-H beyond the 1.5 A cutoff: only the angular term tells 100 from 140 deg."""
    calc = AttnCalculator(small_potential("jat", cutoff=1.5, angular=angular), device="cpu", dtype="float64", skin=0.0)

    def water(angle):
        half = np.radians(angle) / 2
        return Atoms("OHH", positions=[[0, 0, 0], [np.sin(half), np.cos(half), 0], [-np.sin(half), np.cos(half), 0]])

    energies = [check.energy_forces(water(angle), calc)[0] for angle in (100.0, 140.0)]
    assert (abs(energies[1] - energies[0]) > 1e-6) == bool(angular)


def test_starts_as_the_distance_only_model_it_extends():
    base = small_potential("jat")
    extended = small_potential("jat-angular")
    with torch.no_grad():
        for layer in extended.model.layers:
            layer.angular.out.weight.zero_()
            layer.angular.out.bias.zero_()
            layer.angular.products_out.weight.zero_()
    missing, unexpected = extended.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(".angular." in key for key in missing)
    atoms = molecule("CH3CH2OH")
    energies = [AttnCalculator(p, device="cpu", dtype="float64").get_potential_energy(atoms) for p in (base, extended)]
    assert energies[1] == pytest.approx(energies[0], abs=1e-12)


@pytest.mark.parametrize("block_edges", [0, 200])
def test_recomputed_receiver_blocks_match_the_plain_call(block_edges):
    atoms = small_water_box()
    plain = check.energy_forces(atoms, _calc())
    calc = AttnCalculator(small_potential("jat-angular"), device="cpu", dtype="float64", recompute_layers=True)
    calc.potential.model.recompute_block_edges = block_edges  # 0: whole layers; 200: ~1000 edges in blocks
    recomputed = check.energy_forces(atoms, calc)
    assert recomputed[0] == pytest.approx(plain[0], abs=1e-10)
    np.testing.assert_allclose(recomputed[1], plain[1], atol=1e-10)


def test_grown_angular_term_starts_as_the_potential_it_extends(tmp_path):
    """training.init_from may raise angular_degree and switch on angular_mixing and angular_products: same
    energies at the start."""
    source = small_potential("jat", angular=4)
    save_potential(source, tmp_path / "source.safetensors")
    grown = small_potential("jat", angular=4, angular_degree=3, angular_mixing=True, angular_products=True)
    with torch.no_grad():  # what a fresh model holds: the new output columns at zero, mixing the identity
        for layer in grown.model.layers:
            layer.angular.out.weight.zero_()
            layer.angular.products_out.weight.zero_()
            layer.angular.mixing.copy_(torch.eye(4).repeat(3, 1, 1))
    _initialise_from(grown, str(tmp_path / "source.safetensors"))
    assert grown.model.layers[0].angular.out.weight.abs()[:, 8:].max() == 0
    atoms = molecule("CH3CH2OH")
    energies, forces = zip(*(check.energy_forces(atoms, AttnCalculator(p, device="cpu", dtype="float64"))
                             for p in (source, grown)))
    assert energies[1] == pytest.approx(energies[0], abs=1e-12)
    np.testing.assert_allclose(forces[1], forces[0], atol=1e-12)
    with pytest.raises(ConfigError, match="init_from"):  # more channels would misplace the output columns
        _initialise_from(small_potential("jat", angular=8), str(tmp_path / "source.safetensors"))


def test_degree_outside_one_to_three_is_refused():
    with pytest.raises(ValueError, match="angular_degree"):
        small_potential("jat", angular=4, angular_degree=4)
    with pytest.raises(ValueError, match="angular_products needs angular_degree >= 2"):
        small_potential("jat", angular=4, angular_degree=1, angular_products=True)
    with pytest.raises(ValueError, match="AngularInvariants angular_degree must be 1 to 3, not 0"):
        AngularInvariants(8, 4, 2, degree=0)


def test_gaunt_couplings_make_the_bispectrum_rotation_invariant():
    """B3 = G . A_l1 A_l2 A_l3 of a weighted sum of directions: invariant under rotation, not under a
    change of the density (so it carries information), and G's triples are the even ones."""
    couplings = gaunt_couplings(3)
    assert [c[:3] for c in couplings] == [(1, 1, 2), (1, 2, 3), (2, 2, 2), (2, 3, 3)]
    generator = torch.Generator().manual_seed(2)
    vec = torch.randn(6, 3, dtype=torch.float64, generator=generator)
    weights = torch.randn(6, 1, dtype=torch.float64, generator=generator)
    rotation = torch.as_tensor(Rotation.random(random_state=3).as_matrix())

    def bispectrum(v):
        density = (weights * unit_harmonics(v, v.norm(dim=-1), 3)).sum(0)
        block = lambda l: density[degree_columns(l)]  # noqa: E731
        return torch.stack([torch.einsum("abc,a,b,c->", g, block(l1), block(l2), block(l3))
                            for l1, l2, l3, g in couplings])

    before, after = bispectrum(vec), bispectrum(vec @ rotation.T)
    torch.testing.assert_close(after, before, rtol=1e-12, atol=1e-12)
    assert before.abs().min() > 1e-3
    moved = vec.clone()
    moved[0] = torch.tensor([0.3, -1.1, 0.4], dtype=torch.float64)
    assert (bispectrum(moved) - before).abs().max() > 1e-3


def test_a_float32_call_leaves_float64_results_unrounded():
    """The Gaunt couplings are copied per device and dtype: after a float32 call, the same module in
    float64 gives exactly the output of a module that never left float64 (it does not reuse the float32
    copy)."""

    def module():
        torch.manual_seed(0)
        angular = AngularInvariants(8, 4, 3, degree=3, mixing=True, products=True)
        torch.nn.init.normal_(angular.products_out.weight)  # zero at start: give the products a say
        return angular

    rng = torch.Generator().manual_seed(1)
    vectors = torch.randn(40, 3, generator=rng, dtype=torch.float64)
    edge_index = torch.stack([torch.arange(40) % 6, (torch.arange(40) + 1) % 6])
    inputs = (torch.randn(6, 8, generator=rng, dtype=torch.float64), edge_index,
              torch.rand(40, 4, generator=rng, dtype=torch.float64),
              unit_harmonics(vectors, vectors.norm(dim=1), 3))
    expected = module().double()(*inputs)
    angular = module()
    angular(*(x.float() if x.is_floating_point() else x for x in inputs))
    again = angular.double()(*inputs)
    torch.testing.assert_close(again, expected, rtol=1e-14, atol=0.0)


@pytest.mark.parametrize("mixing", [False, True])
def test_invariants_match_the_per_degree_and_per_triple_sums(mixing):
    """The all-at-once forward (column maps, sparse Gaunt sum) gives the invariants written out degree by
    degree and triple by triple with the full coupling tensors, in float64 to rounding."""
    torch.manual_seed(0)
    angular = AngularInvariants(8, 4, 3, degree=3, mixing=mixing, products=True).double()
    for parameter in (angular.out.weight, angular.products_out.weight, *([angular.mixing] if mixing else [])):
        torch.nn.init.normal_(parameter)
    rng = torch.Generator().manual_seed(1)
    vectors = torch.randn(40, 3, generator=rng, dtype=torch.float64)
    h = torch.randn(6, 8, generator=rng, dtype=torch.float64)
    edge_index = torch.stack([torch.arange(40) % 6, (torch.arange(40) + 1) % 6])
    rbf = torch.rand(40, 4, generator=rng, dtype=torch.float64)
    harmonics = unit_harmonics(vectors, vectors.norm(dim=1), 3)

    weights = angular.radial(rbf) * angular.sender(h)[edge_index[1]]
    density = torch.zeros(6, 15, 3, dtype=torch.float64).index_add(0, edge_index[0],
                                                                    harmonics[:, :, None] * weights[:, None])
    blocks = {l: density[:, degree_columns(l)] for l in (1, 2, 3)}
    if mixing:
        blocks = {l: blocks[l] @ angular.mixing[l - 1].T for l in blocks}
    powers = torch.cat([(blocks[l] ** 2).sum(1) for l in (1, 2, 3)], dim=1)
    bispectrum = torch.cat([torch.einsum("abz,nac,nbc,nzc->nc", g, blocks[l1], blocks[l2], blocks[l3])
                            for l1, l2, l3, g in gaunt_couplings(3)], dim=1)
    expected = angular.out(torch.log1p(powers)) + angular.products_out(torch.asinh(bispectrum))
    torch.testing.assert_close(angular(h, edge_index, rbf, harmonics), expected, rtol=1e-12, atol=1e-12)
