"""attnff.lammps without LAMMPS: a fake ML-IAP "cluster" splits a periodic box into domains with ghost atoms.

Each domain runs in its own thread with its own ``AttnMLIAP`` (as each MPI rank has its own), and the fake
data objects exchange ghost features across the threads as the Kokkos ML-IAP coupling does across ranks:
``forward_exchange`` copies owners' rows into ghost rows, ``reverse_exchange`` adds ghost rows to their
owners and zeroes the ghost rows (as ``PairMLIAPKokkos::forward_comm``/``reverse_comm`` of LAMMPS 20260704
do). Forces are accumulated per domain from the pair derivatives exactly as ``update_pair_forces`` does, then
ghost forces go back to their owners; the stress comes from the pair virial.
"""

import pickle
import pickletools
import threading

import numpy as np
import pytest
import torch

from attnff.calculator import AttnCalculator
from attnff.data.validate import default_multiplicity
from attnff.datagen.ean import ean_box
from attnff.errors import ChargeSpinError, ModelFileError
from attnff.lammps import (
    AttnMLIAP,
    GhostExchangeError,
    UnsupportedEngineModelError,
    export_lammps,
    read_lammps_reference,
)
from attnff.model_file import resolve_potential, save_potential
from tests.conftest import small_potential


class FakeCluster:
    """A periodic box cut into ``domains`` slabs along the first cell vector, with ghost atoms per slab.

    Args:
        atoms: periodic ASE Atoms.
        element_types: the wrapper's element symbols (data.elems indexes them).
        cutoff: pair cutoff (pairs within it are listed for local receivers).
        shells: per domain, ghosts are the images within this distance of one of the domain's atoms.
    """

    def __init__(self, atoms, element_types, cutoff, domains=2, shells=None):
        self.cutoff, self.domains = cutoff, domains
        shells = shells or [cutoff] * domains
        cell = atoms.cell.array
        frac = atoms.get_scaled_positions(wrap=True)
        positions = frac @ cell
        owner_domain = np.minimum((frac[:, 0] * domains).astype(int), domains - 1)
        kinds = np.array([element_types.index(s) for s in atoms.get_chemical_symbols()], dtype=np.int32)
        heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
        reach = np.ceil(max(shells) / heights).astype(int)
        shifts = np.array([(a, b, c) for a in range(-reach[0], reach[0] + 1) for b in range(-reach[1], reach[1] + 1)
                           for c in range(-reach[2], reach[2] + 1)])
        self.locals = [np.flatnonzero(owner_domain == d) for d in range(domains)]
        local_index = np.empty(len(atoms), dtype=int)
        for d in range(domains):
            local_index[self.locals[d]] = np.arange(len(self.locals[d]))
        self.data, self.ghost_owner = [], []
        for d in range(domains):
            mine = self.locals[d]
            image_atom = np.repeat(np.arange(len(atoms)), len(shifts))
            image_shift = np.tile(shifts, (len(atoms), 1))
            image_pos = positions[image_atom] + image_shift @ cell
            is_local = (owner_domain[image_atom] == d) & ~image_shift.any(axis=1)
            near = np.linalg.norm(image_pos[:, None] - positions[mine][None], axis=-1).min(axis=1) < shells[d]
            ghost = near & ~is_local
            entries_pos = np.concatenate([positions[mine], image_pos[ghost]])
            entries_atom = np.concatenate([mine, image_atom[ghost]])
            delta = entries_pos[None, :, :] - positions[mine][:, None, :]  # (nlocal, ntotal, 3) x_j - x_i
            dist = np.linalg.norm(delta, axis=-1)
            dist[np.arange(len(mine)), np.arange(len(mine))] = np.inf
            pair_i, pair_j = np.nonzero(dist < cutoff)
            ghosts = entries_atom[len(mine):]
            self.ghost_owner.append((owner_domain[ghosts], local_index[ghosts]))
            self.data.append(FakeMLIAPData(self, d, len(mine), kinds[entries_atom], pair_i, pair_j,
                                           delta[pair_i, pair_j], entries_atom))
        self.barrier = threading.Barrier(domains, timeout=120)
        self.slots = [None] * domains

    def _post(self, d, value):
        self.slots[d] = value.detach().clone()
        self.barrier.wait()

    def forward_exchange(self, d, src, dst):
        self._post(d, src)
        dst.copy_(src)
        nlocal = self.data[d].nlocal
        domains, rows = self.ghost_owner[d]
        for od in range(self.domains):
            take = np.flatnonzero(domains == od)
            dst[nlocal + take] = self.slots[od][torch.as_tensor(rows[take])]
        self.barrier.wait()

    def reverse_exchange(self, d, src, dst):
        self._post(d, src)
        dst.copy_(src)
        for od in range(self.domains):
            domains, rows = self.ghost_owner[od]
            take = np.flatnonzero(domains == d)
            ghost_rows = torch.as_tensor(self.data[od].nlocal + take)
            dst.index_add_(0, torch.as_tensor(rows[take]), self.slots[od][ghost_rows])
        dst[self.data[d].nlocal:] = 0  # as PairMLIAPKokkos::reverse_comm: ghost rows zeroed afterwards
        self.barrier.wait()

    def allreduce(self, d, value):
        self._post(d, torch.tensor(value))
        total = float(sum(self.slots))
        self.barrier.wait()
        return total

    def run(self, models):
        """Every domain's compute_forces in its own thread; the first exception is raised."""
        errors = []

        def work(d):
            try:
                models[d].global_sum = lambda value: self.allreduce(d, value)
                models[d].compute_forces(self.data[d])
            except threading.BrokenBarrierError:
                pass
            except Exception as error:  # noqa: BLE001 -- handed to the main thread
                errors.append(error)
                self.barrier.abort()

        threads = [threading.Thread(target=work, args=(d,)) for d in range(self.domains)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def results(self, natoms, volume):
        """Total energy, forces (natoms, 3) and virial stress (3, 3), as LAMMPS would sum them."""
        energy, forces, virial = 0.0, np.zeros((natoms, 3)), np.zeros((3, 3))
        for data in self.data:
            energy += data.energy
            np.add.at(forces, data.entries_atom, data.f)  # ghost forces back to their owners
            virial += data.fij.T @ data.rij  # sum_pairs fij (x) rij = dE/d(strain)
        return energy, forces, 0.5 * (virial + virial.T) / volume


class FakeMLIAPData:
    """What one rank's ML-IAP data object offers (Kokkos coupling on the host)."""

    def __init__(self, cluster, domain, nlocal, elems, pair_i, pair_j, rij, entries_atom):
        self.cluster, self.domain = cluster, domain
        self.nlocal = self.nlistatoms = nlocal
        self.ntotal = len(elems)
        self.elems = np.ascontiguousarray(elems, dtype=np.int32)
        self.npairs = len(pair_i)
        self.pair_i = pair_i.astype(np.int32)
        self.pair_j = pair_j.astype(np.int32)
        self.rij = np.ascontiguousarray(rij)
        self.entries_atom = entries_atom
        self.eatoms = np.zeros(nlocal)
        self.energy = 0.0
        self.f = np.zeros((self.ntotal, 3))

    def update_pair_forces(self, fij):
        self.fij = np.array(fij)
        np.add.at(self.f, self.pair_i, fij)
        np.add.at(self.f, self.pair_j, -fij)

    def forward_exchange(self, src, dst, vec_len):
        assert src.shape == (self.ntotal, vec_len)
        self.cluster.forward_exchange(self.domain, src, dst)

    def reverse_exchange(self, src, dst, vec_len):
        assert src.shape == (self.ntotal, vec_len)
        self.cluster.reverse_exchange(self.domain, src, dst)


def random_box(seed=1, count=40, side=7.0, species=(1, 6, 8)):
    """A periodic box of atoms at least 1 A apart."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    points = []
    while len(points) < count:
        p = rng.uniform(0, side, 3)
        if all(np.linalg.norm((p - q + side / 2) % side - side / 2) > 1.0 for q in points):
            points.append(p)
    numbers = rng.choice(species, count)
    return Atoms(numbers=numbers, positions=points, cell=[side] * 3, pbc=True)


def compare(path, atoms, charge=0, multiplicity=None, domains=2):
    """Cluster result and AttnCalculator's for the same potential file and box."""
    models = [AttnMLIAP(path, charge=charge, multiplicity=multiplicity) for _ in range(domains)]
    cluster = FakeCluster(atoms, models[0].element_types, models[0].potential.cutoff, domains)
    cluster.run(models)
    energy, forces, stress = cluster.results(len(atoms), atoms.get_volume())
    calc = AttnCalculator.load(path, device="cpu", dtype="float64")
    atoms = atoms.copy()
    atoms.info.update(charge=charge, multiplicity=multiplicity or default_multiplicity(atoms.numbers, charge))
    atoms.calc = calc
    ref_stress = atoms.get_stress(voigt=False)
    return (energy, forces, stress), (atoms.get_potential_energy(), atoms.get_forces(), ref_stress), models


def assert_agrees(ours, reference, models):
    (energy, forces, stress), (ref_energy, ref_forces, ref_stress) = ours, reference
    assert abs(energy - ref_energy) < 1e-6
    assert np.abs(forces - ref_forces).max() < 1e-6
    assert np.abs(stress - ref_stress).max() < 1e-8  # eV/A^3
    num_layers = len(models[0].potential.model.layers)
    assert all(m.exchanges >= num_layers for m in models)


@pytest.mark.parametrize("name", ["jat", "jat-angular", "cmret", "cmret-angular"])
def test_two_domains_match_calculator(tmp_path, name):
    path = save_potential(small_potential(name, species=(1, 6, 8), num_layers=3), tmp_path / f"{name}.safetensors")
    ours, reference, models = compare(path, random_box())
    assert_agrees(ours, reference, models)


def test_cmret_charge_and_multiplicity(tmp_path):
    """Charge and spin are the whole system's, whatever share of it a domain holds."""
    path = save_potential(small_potential("cmret", species=(1, 6, 8), num_layers=3), tmp_path / "cmret.safetensors")
    atoms = random_box(seed=2)
    neutral, _, _ = compare(path, atoms)
    ours, reference, models = compare(path, atoms, charge=1, multiplicity=None, domains=3)
    assert_agrees(ours, reference, models)
    assert abs(ours[0] - neutral[0]) > 1e-4  # the charged state differs


def test_jat_ean_two_domains():
    """The shipped jat-ean on an EAN box: energy, forces and the virial stress, as attnff md gets them."""
    atoms = ean_box(8, seed=5)
    ours, reference, models = compare(resolve_potential("jat-ean"), atoms)
    assert_agrees(ours, reference, models)


def test_refuses_non_local_models(tmp_path):
    for name, options in (("geomatt", {}), ("cmret", {"attention": "global"})):
        path = save_potential(small_potential(name, species=(1, 6, 8), **options), tmp_path / f"{name}.safetensors")
        with pytest.raises(UnsupportedEngineModelError, match="GeomAtt|global"):
            AttnMLIAP(path)
        with pytest.raises(UnsupportedEngineModelError):
            export_lammps(path, tmp_path / "x.pkl")


def test_thin_ghost_shell_raises(tmp_path):
    path = save_potential(small_potential("jat", species=(1, 6, 8), num_layers=3), tmp_path / "jat.safetensors")
    models = [AttnMLIAP(path) for _ in range(2)]
    cutoff = models[0].potential.cutoff
    cluster = FakeCluster(random_box(), models[0].element_types, cutoff, 2, shells=[cutoff, 0.5 * cutoff])
    with pytest.raises(GhostExchangeError, match="too thin"):
        cluster.run(models)


def test_multilayer_without_exchange_raises(tmp_path):
    path = save_potential(small_potential("jat", species=(1, 6, 8)), tmp_path / "jat.safetensors")
    model = AttnMLIAP(path)
    cluster = FakeCluster(random_box(), model.element_types, model.potential.cutoff, 1)
    data = cluster.data[0]
    plain = type("PlainMLIAPData", (), {k: v for k, v in vars(data).items() if k != "cluster"})()
    with pytest.raises(GhostExchangeError, match="Kokkos"):
        model.evaluate(plain)


def test_neutral_only_potential_refuses_charge(tmp_path):
    path = save_potential(small_potential("jat", species=(1, 6, 8)), tmp_path / "jat.safetensors")
    with pytest.raises(ChargeSpinError):
        AttnMLIAP(path, charge=1)


def test_export_holds_only_a_reference(tmp_path):
    """The exported pickle calls attnff.lammps._restore with strings only; the weights stay in safetensors."""
    path = save_potential(small_potential("jat", species=(1, 6, 8)), tmp_path / "jat.safetensors")
    out = export_lammps(path, tmp_path / "jat.mliap.pkl", dtype="float64")
    raw = out.read_bytes()
    assert len(raw) < 1000
    opcodes = [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]
    globals_ = [arg for name, arg in opcodes if name in ("GLOBAL", "STACK_GLOBAL", "INST")]
    assert sum(name in ("STACK_GLOBAL", "GLOBAL") for name, _ in opcodes) == 1 and not globals_[1:]
    strings = [arg for name, arg in opcodes if "UNICODE" in name]
    assert strings[:2] == ["attnff.lammps", "_restore"]
    reference = read_lammps_reference(out)
    assert reference["path"] == str(path.resolve()) and reference["settings"]["dtype"] == "float64"
    model = pickle.loads(raw)
    assert isinstance(model, AttnMLIAP) and model.element_types == ["H", "C", "O"]
    assert model.rcutfac == pytest.approx(0.5 * model.potential.cutoff)
    with open(path, "ab") as handle:  # the weights file changes after the export
        handle.write(b" ")
    with pytest.raises(ModelFileError, match="changed since"):
        pickle.loads(raw)


def test_reference_reader_refuses_other_pickles(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(torch.zeros(2)))
    with pytest.raises(ModelFileError):
        read_lammps_reference(bad)


def test_export_command(tmp_path):
    """python -m attnff.lammps (the body of `attnff export-lammps`) writes a reference to attnff.lammps._restore."""
    import subprocess
    import sys

    out = tmp_path / "jat-ean.mliap.pkl"
    done = subprocess.run([sys.executable, "-m", "attnff.lammps", "jat-ean", str(out)], capture_output=True, text=True,
                          check=True)
    assert "pair_style mliap unified" in done.stdout and "pair_coeff * * H C N O" in done.stdout
    assert read_lammps_reference(out)["path"] == str(resolve_potential("jat-ean").resolve())


def test_one_layer_needs_no_exchange(tmp_path):
    """A single layer reads only per-species ghost features: the plain ML-IAP coupling suffices."""
    path = save_potential(small_potential("jat", species=(1, 6, 8), num_layers=1), tmp_path / "jat1.safetensors")
    atoms = random_box()
    model = AttnMLIAP(path)
    cluster = FakeCluster(atoms, model.element_types, model.potential.cutoff, 1)
    data = cluster.data[0]
    plain = type("PlainMLIAPData", (), {k: v for k, v in vars(data).items() if k != "cluster"})()
    eatoms, fij = model.evaluate(plain)
    atoms.calc = AttnCalculator.load(path, device="cpu", dtype="float64")
    assert abs(eatoms.sum() - atoms.get_potential_energy()) < 1e-6
