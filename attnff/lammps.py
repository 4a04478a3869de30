"""LAMMPS through ML-IAP "unified": ``pair_style mliap unified FILE 0`` evaluates any local attnff potential.

LAMMPS hands each rank the pairs (i, j) of its local atoms i within the cutoff, j local or ghost,
with ``rij = x_j - x_i``; the wrapper returns the local atoms' energies and the per-pair derivatives
``fij = dE/drij``, from which LAMMPS accumulates forces, virial and pressure itself.

Message passing over several ranks. A layer updates atom i from i's neighbours within the cutoff,
so after the first layer a ghost atom's features are not what its own inputs give: they are those
of the local atom it images, on this rank or another. Before every layer the wrapper therefore
copies the owners' features into the ghost rows (``data.forward_exchange``, Kokkos ML-IAP coupling),
and in the backward pass it sends each ghost row's gradient back to its owner
(``data.reverse_exchange``). By induction over the layers every local atom's features equal those of
the whole system evaluated at once, and the energy of rank r is exactly sum_{i local to r} E_i; LAMMPS
needs ghosts only within one cutoff (plus skin) of its local atoms, which is what it always keeps.
A ghost shell of num_layers * cutoff with redundant recomputation is not possible here: LAMMPS lists
pairs only for local receivers, so ghosts' own neighbourhoods are never handed over.

Exactness needs every coupling between atoms to go through the layers' node features. GeomAtt
(its higher orders sum over pairs of neighbours of neighbours, i.e. over ghost-ghost pairs that
LAMMPS never lists) and CMRET with global attention (all atoms of the structure) do not, and are
refused with ``UnsupportedEngineModelError``.

What LAMMPS loads is a pickle that holds only a reference: the absolute path and SHA-256 of the attnff
safetensors file, and the settings (charge, multiplicity, dtype, device). Unpickling it calls
``attnff.lammps._restore``, which reads the weights with ``attnff.model_file.load_potential`` (safetensors,
never pickle) after checking the hash. ``export_lammps`` writes it.
"""

import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.data import chemical_symbols

from .data.validate import default_multiplicity
from .device import resolve_device, resolve_dtype
from .errors import ChargeSpinError, ModelFileError
from .model_file import load_potential, read_metadata, resolve_potential
from .models import ModelInputs
from .potential import Potential

__all__ = ["AttnMLIAP", "UnsupportedEngineModelError", "GhostExchangeError", "add_export_lammps_arguments",
           "check_decomposable", "export_lammps_command", "main",
           "export_lammps", "read_lammps_reference"]

try:  # the class LAMMPS expects; the module imports without LAMMPS (tests, export on a login node)
    from lammps.mliap.mliap_unified_abc import MLIAPUnified
except Exception:  # ImportError, or lammps.mliap refusing an interpreter LAMMPS did not start

    class MLIAPUnified:  # type: ignore[no-redef]
        """Stand-in for ``lammps.mliap.mliap_unified_abc.MLIAPUnified`` when LAMMPS is not installed."""

        def __init__(self):
            self.interface = None
            self.element_types = None
            self.ndescriptors = None
            self.nparams = None
            self.rcutfac = None


class UnsupportedEngineModelError(ValueError):
    """The potential couples atoms beyond what a domain-decomposed engine can reproduce exactly."""


class GhostExchangeError(RuntimeError):
    """The engine cannot give the ghost atoms the features a multi-layer model needs."""


def check_decomposable(potential: Potential) -> None:
    """Raise ``UnsupportedEngineModelError`` unless the potential is local message passing over ``model.layers``.

    Local means: atom i's layer update reads only i's node features, its neighbours' node features and
    the pairs within the cutoff, and the node features enter each layer as its leading tensor arguments
    (the ``nn.recompute`` calling convention ``layer(*nodes, edge_index, *edges)``).
    """
    model, name = potential.model, potential.model_name
    if name == "geomatt":
        raise UnsupportedEngineModelError(
            "GeomAtt cannot run domain-decomposed: its orders k >= 2 sum over pairs (l <- j) of neighbours of each "
            "atom, which LAMMPS does not list when l and j are both ghosts, and its pair weights are edge (not atom) "
            "features that ML-IAP cannot exchange. Use it with the ASE calculator (attnff md) or a JAT/CMRET potential."
        )
    if name == "cmret" and model.config.attention != "local":
        raise UnsupportedEngineModelError(
            "CMRET with attention='global' attends over every atom of the structure, which no rank holds in a "
            "domain decomposition; only attention='local' (the default) runs in LAMMPS."
        )
    layers = getattr(model, "layers", None)
    if name not in ("jat", "cmret") or not isinstance(layers, torch.nn.ModuleList) \
            or len(layers) != model.config.num_layers:
        raise UnsupportedEngineModelError(
            f"model {name!r} is not known to be local message passing over `layers`; attnff.lammps supports jat and "
            "cmret (local attention)"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Columns per call of ``data.forward_exchange``/``reverse_exchange``. In LAMMPS 20260704 the host path of these
#: (``CommBrick::forward_comm(Pair*)``/``reverse_comm(Pair*)``, which the Kokkos Serial/OpenMP builds take) packs
#: ``vec_len`` values per ghost into MPI buffers that ``Comm`` sized at the run's start for its largest per-atom
#: message: at least 3 values (forces, reverse; positions, forward), and the pair's ``comm_forward`` only as left
#: by a previous run. Wider blocks overflow those buffers on the first run, so features go over in blocks of 3.
EXCHANGE_COLUMNS = 3


def _blockwise(method: Callable, features: torch.Tensor) -> torch.Tensor:
    """``method(src, dst, vec_len)`` over column blocks of at most ``EXCHANGE_COLUMNS`` of a (N, F) tensor."""
    out = torch.empty_like(features)
    for start in range(0, features.shape[1], EXCHANGE_COLUMNS):
        block = features[:, start:start + EXCHANGE_COLUMNS].contiguous()
        exchanged = torch.empty_like(block)
        method(block, exchanged, block.shape[1])
        out[:, start:start + EXCHANGE_COLUMNS] = exchanged
    return out


class _GhostExchange(torch.autograd.Function):
    """Ghost rows <- owners' rows (forward); owners += ghost gradients, across ranks (backward)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, data: Any) -> torch.Tensor:
        ctx.data = data
        return _blockwise(data.forward_exchange, features)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _blockwise(ctx.data.reverse_exchange, grad), None


def _exchange(x: torch.Tensor, data: Any, nlocal: int, anchor: torch.Tensor) -> torch.Tensor:
    """x (N_total, ...) with the ghost rows replaced by their owners' rows.

    The ghost rows that go in are zeros (no gradient path): whatever a coupling leaves in the ghost rows of
    the reverse exchange, no gradient reaches the features a rank computed for its ghosts (which it discards).
    ``anchor`` is a zero scalar that requires grad: every exchange lies on a gradient path, so every rank makes
    the same reverse exchanges even when it has no pairs or no local atoms (they are collective).
    """
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    prepared = torch.cat([flat[:nlocal], flat.new_zeros(shape[0] - nlocal, flat.shape[1])]) + anchor
    return _GhostExchange.apply(prepared, data).view(shape)


@contextmanager
def _exchange_before_layers(layers: torch.nn.ModuleList, data: Any, nlocal: int, ntotal: int,
                            anchor: torch.Tensor) -> Iterator[list]:
    """Within the block, every call of a layer first exchanges its node inputs (leading floating tensors of N rows).

    Yields a list that counts the exchanges made (one per layer and node tensor).
    """
    counts: list[int] = []

    def hook(module, args):
        nodes = 0
        for arg in args:
            if not (isinstance(arg, torch.Tensor) and arg.is_floating_point() and arg.dim() >= 1
                    and arg.shape[0] == ntotal):
                break
            nodes += 1
        if nodes == 0:
            raise UnsupportedEngineModelError(f"{type(module).__name__} was called without node features first")
        counts.append(nodes)
        return tuple(_exchange(arg, data, nlocal, anchor) for arg in args[:nodes]) + tuple(args[nodes:])

    handles = [layer.register_forward_pre_hook(hook) for layer in layers]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _write_energies(data: Any, eatoms: np.ndarray) -> None:
    """Per-atom energies into LAMMPS: the Kokkos coupling lends the array, the plain one takes an assignment.

    ``eatoms`` is indexed by local atom; LAMMPS's array by position in its neighbour list (``data.iatoms``
    holds the atom of each position; the identity when absent).
    """
    order = getattr(data, "iatoms", None)
    if order is not None:
        eatoms = eatoms[np.asarray(order)[: int(data.nlistatoms)]]
    try:
        target = data.eatoms
    except AttributeError:  # plain ML-IAP: a write-only property
        target = None
    if target is not None and hasattr(target, "shape"):
        np.copyto(np.asarray(target)[: eatoms.shape[0]], eatoms)
    else:
        data.eatoms = eatoms
    data.energy = float(eatoms.sum())


def _environment_ranks() -> int | None:
    """MPI world size from the launcher's environment, or None when not started by an MPI launcher."""
    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        if key in os.environ:
            return int(os.environ[key])
    return None


def _mpi_sum(value: float) -> float:
    """Sum of ``value`` over all ranks (mpi4py), or ``value`` itself in a single process."""
    try:
        from mpi4py import MPI
    except ImportError:
        ranks = _environment_ranks()
        if ranks in (None, 1):
            return value
        raise ChargeSpinError(
            f"a charge or spin other than (0, singlet) on {ranks} MPI ranks needs the system's total nuclear charge, "
            "summed over ranks with mpi4py, which is not installed: pip install mpi4py (built against the MPI "
            "LAMMPS uses), or give multiplicity explicitly with charge 0 and multiplicity 1"
        ) from None
    return float(MPI.COMM_WORLD.allreduce(value))


class AttnMLIAP(MLIAPUnified):
    """ML-IAP unified model evaluating an attnff potential (JAT, CMRET with local attention).

    Args:
        potential: a shipped potential name or the path of an attnff safetensors file.
        charge: net charge of the whole simulated system in e (CMRET potentials with charge/spin).
        multiplicity: 2S + 1 of the whole system; None: the lowest consistent with its electron count.
        dtype: "float64" (default, the LAMMPS reference) or "float32".
        device: "cpu", "cuda", ... ("auto": CUDA when available).

    Attributes:
        global_sum: callable summing a float over all ranks, used for the system's nuclear charge when the
            charge/spin state needs it (default: mpi4py's COMM_WORLD; a test may replace it).
        exchanges: ghost exchanges of the last call (one per layer and node tensor).
    """

    def __init__(self, potential: str | os.PathLike, charge: int = 0, multiplicity: int | None = None,
                 dtype: str = "float64", device: str = "cpu"):
        super().__init__()
        path = Path(resolve_potential(potential)).resolve()
        self._setup(path, _sha256(path), {"charge": int(charge), "multiplicity": multiplicity,
                                          "dtype": str(dtype), "device": str(device)})

    def _setup(self, path: Path, sha256: str, settings: dict[str, Any]) -> None:
        loaded, metadata = load_potential(path)
        check_decomposable(loaded)
        self.path, self.sha256, self.settings = path, sha256, dict(settings)
        self.name = metadata.get("card", {}).get("name") or path.parent.name
        self.charge, self.multiplicity = int(settings["charge"]), settings["multiplicity"]
        if not loaded.supports_charge_spin and (self.charge != 0 or self.multiplicity not in (None, 1)):
            raise ChargeSpinError(f"this {loaded.model_name} potential was trained without charge/spin and only "
                                  f"describes neutral systems in their lowest spin state; got charge {self.charge}, "
                                  f"multiplicity {self.multiplicity}")
        self.dtype, self.device = resolve_dtype(settings["dtype"]), resolve_device(settings["device"])
        self.potential = loaded.to(device=self.device, dtype=self.dtype).eval()
        self.potential.recompute_layers = False  # a recomputed layer would call its exchange hook twice
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        self.element_types = [chemical_symbols[z] for z in self.potential.species]
        self.rcutfac = 0.5 * self.potential.cutoff  # LAMMPS cuts pairs at 2 * rcutfac
        self.ndescriptors = 1
        self.nparams = 1
        self.global_sum: Callable[[float], float] = _mpi_sum
        ranks = _environment_ranks()
        if ranks and ranks > 1 and "OMP_NUM_THREADS" not in os.environ:  # ranks sharing a node share its cores
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks))
        self.exchanges = 0
        numbers = torch.tensor(self.potential.species, dtype=torch.long)
        self._numbers = numbers.to(self.device)
        self._references = torch.tensor(self.potential.reference_energies, dtype=torch.float64, device=self.device)

    def __reduce__(self):
        """Pickle a reference only: path, SHA-256 and settings; the weights stay in the safetensors file."""
        return _restore, (str(self.path), self.sha256, dict(self.settings))

    # ML-IAP's three entry points; unified models do all their work in compute_forces
    def compute_descriptors(self, data: Any) -> None:
        pass

    def compute_gradients(self, data: Any) -> None:
        pass

    def compute_forces(self, data: Any) -> None:
        """Local atoms' energies into ``data.eatoms``/``data.energy``, dE/drij into ``data.update_pair_forces``."""
        eatoms, fij = self.evaluate(data)
        _write_energies(data, eatoms)
        if fij.shape[0]:  # the coupling reads fij[0] even when there are no pairs
            data.update_pair_forces(fij)

    def _charge_spin(self, local_numbers: torch.Tensor, all_numbers: torch.Tensor) -> tuple[float, float]:
        """(charge, spin) to hand the model so that it sees the system's Q / sum(Z) and S / sum(Z).

        CMRET's charge/spin embedding uses Q/sum(Z) and S/sum(Z) over the atoms it is given; a rank gives it its
        local and ghost atoms, so Q and S are scaled by (their sum of Z) / (the system's sum of Z).
        """
        if not self.potential.supports_charge_spin:
            return 0.0, 0.0
        if self.charge == 0 and self.multiplicity == 1:
            return 0.0, 0.0
        system_z = self.global_sum(float(local_numbers.sum()))
        multiplicity = self.multiplicity
        if multiplicity is None:
            multiplicity = default_multiplicity(np.array([round(system_z)]), self.charge)
        if (round(system_z) - self.charge + multiplicity - 1) % 2:
            raise ChargeSpinError(f"multiplicity {multiplicity} is impossible for {round(system_z) - self.charge} "
                                  f"electrons (charge {self.charge})")
        ratio = float(all_numbers.sum()) / system_z
        return self.charge * ratio, (multiplicity - 1) / 2 * ratio

    def _check_ghost_shell(self, data: Any, receivers: torch.Tensor, senders: torch.Tensor, rij: torch.Tensor,
                           nlocal: int, ntotal: int) -> None:
        """Raise ``GhostExchangeError`` when some rank misses a ghost that a pair within the cutoff needs.

        The full pair list is symmetric: atom a receives from as many atoms as it sends to. Each rank counts
        how often each of its atoms (local or ghost) sends, the reverse exchange adds the ghosts' counts to
        their owners, and every local atom must then send as often as it receives. A ghost shell that is
        too thin on one side of a pair breaks this; pairs within 1e-9 of the cutoff (weight zero) are not
        counted, so rounding of ghost images cannot raise a false alarm. (A shell equally too thin on every
        rank cannot be seen from the pairs; LAMMPS never makes one: its ghost cutoff is at least the pair
        cutoff plus the skin.)
        """
        inside = torch.linalg.vector_norm(rij, dim=-1) < self.potential.cutoff * (1.0 - 1e-9)
        sent = torch.bincount(senders[inside], minlength=ntotal).to(torch.float64).unsqueeze(-1)
        total_sent = torch.empty_like(sent)
        data.reverse_exchange(sent, total_sent, 1)
        received = torch.bincount(receivers[inside], minlength=ntotal)[:nlocal]
        short = (total_sent[:nlocal, 0].round().long() != received).nonzero()
        if short.numel():
            raise GhostExchangeError(
                f"the ghost shell is too thin: {short.numel()} of this rank's {nlocal} atoms send to a different "
                "number of atoms than they receive from, so pairs within the cutoff are missing on some rank "
                f"(comm_modify cutoff must be at least the potential's cutoff {self.potential.cutoff} A plus the "
                "neighbor skin)"
            )

    def evaluate(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """Local atoms' energies (nlocal,) eV and dE/drij (npairs, 3) eV/A, float64, for one rank's ML-IAP data.

        ``data`` offers (as LAMMPS's ML-IAP data objects do) ``nlocal`` (else ``nlistatoms``), ``ntotal``,
        ``elems`` (ntotal,) indices into ``element_types``, ``npairs``, ``pair_i``, ``pair_j`` and
        ``rij`` (npairs, 3) = x_j - x_i in Angstrom, and for models of more than one layer
        ``forward_exchange``/``reverse_exchange`` (the Kokkos coupling).

        Raises:
            GhostExchangeError: a multi-layer model and a data object without ghost exchange.
        """
        nlocal = int(getattr(data, "nlocal", data.nlistatoms))
        ntotal = int(data.ntotal)
        npairs = int(data.npairs)
        num_layers = len(self.potential.model.layers)
        if num_layers > 1 and not (hasattr(data, "forward_exchange") and hasattr(data, "reverse_exchange")):
            raise GhostExchangeError(
                f"this potential passes messages over {num_layers} layers, so ghost atoms need their owners' features "
                f"before every layer, which only LAMMPS's Kokkos ML-IAP coupling provides ({type(data).__name__} has "
                "no forward_exchange): build LAMMPS with PKG_KOKKOS (scripts/build_lammps.sh) and run with "
                "`-k on -sf kk -pk kokkos newton on neigh half`"
            )
        device, dtype = self.device, self.dtype
        species = torch.as_tensor(np.asarray(data.elems)[:ntotal], dtype=torch.long, device=device)
        if npairs:
            receivers = torch.as_tensor(np.asarray(data.pair_i)[:npairs], dtype=torch.long, device=device)
            senders = torch.as_tensor(np.asarray(data.pair_j)[:npairs], dtype=torch.long, device=device)
            rij = torch.tensor(np.asarray(data.rij)[:npairs], device=device, dtype=dtype)  # a copy of LAMMPS's buffer
        else:
            receivers = senders = torch.zeros(0, dtype=torch.long, device=device)
            rij = torch.zeros((0, 3), dtype=dtype, device=device)
        if num_layers > 1:
            self._check_ghost_shell(data, receivers, senders, rij.detach(), nlocal, ntotal)
        rij.requires_grad_(True)
        numbers = self._numbers[species]
        charge, spin = self._charge_spin(numbers[:nlocal], numbers)
        vec_ij = -rij  # r_i - r_j
        inputs = ModelInputs(
            species=species, numbers=numbers, positions=torch.zeros((ntotal, 3), dtype=dtype, device=device),
            vec_ij=vec_ij, d_ij=torch.linalg.vector_norm(vec_ij, dim=-1),
            edge_index=torch.stack([receivers, senders]), batch=torch.zeros(ntotal, dtype=torch.long, device=device),
            num_graphs=1, charge=torch.tensor([charge], dtype=dtype, device=device),
            spin=torch.tensor([spin], dtype=dtype, device=device),
        )
        anchor = torch.zeros((), dtype=dtype, device=device, requires_grad=True)
        # one layer reads only initial (per-species) ghost features: no exchange needed, none asked for
        layers = self.potential.model.layers if num_layers > 1 else torch.nn.ModuleList()
        with _exchange_before_layers(layers, data, nlocal, ntotal, anchor) as counts:
            model_energies = self.potential.model(inputs)["energies"][:nlocal] * self.potential.scale
            # the gradient to the anchor runs the backward of every exchange, on every rank alike
            grad, _ = torch.autograd.grad(model_energies.sum(), [rij, anchor], allow_unused=True)
        self.exchanges = sum(counts)
        if num_layers > 1 and len(counts) != num_layers:
            raise UnsupportedEngineModelError(f"expected {num_layers} layer calls, saw {len(counts)}")
        energies = model_energies.detach().double() + self._references[species[:nlocal]]
        fij = torch.zeros_like(rij) if grad is None else grad
        return (energies.cpu().numpy(), np.ascontiguousarray(fij.detach().cpu().numpy(), dtype=np.float64))


def _restore(path: str, sha256: str, settings: dict[str, Any]) -> AttnMLIAP:
    """Rebuild an ``AttnMLIAP`` from its reference, refusing a weights file that changed since the export."""
    found = _sha256(Path(path))
    if found != sha256:
        raise ModelFileError(f"{path} changed since it was exported for LAMMPS (SHA-256 {found}, expected {sha256}); "
                             "export it again")
    model = AttnMLIAP.__new__(AttnMLIAP)
    MLIAPUnified.__init__(model)
    model._setup(Path(path), sha256, settings)
    return model


def export_lammps(potential: str | os.PathLike, output: str | os.PathLike, charge: int = 0,
                  multiplicity: int | None = None, dtype: str = "float64", device: str = "cpu") -> Path:
    """Write the file ``pair_style mliap unified FILE 0`` loads: a pickled reference to the attnff weights.

    The file holds only a call of ``attnff.lammps._restore`` with the absolute path and SHA-256 of the
    safetensors file and the settings; no tensor is pickled. The potential is loaded and checked
    (``check_decomposable``) before writing, so an unsupported model fails here, not inside LAMMPS.

    Args:
        potential: shipped potential name or path of an attnff safetensors file.
        output: the file to write (e.g. ``jat-ean.mliap.pkl``).
        charge, multiplicity: the whole system's charge state (potentials with charge/spin only).
        dtype, device: evaluation precision and device inside LAMMPS.

    Returns:
        The path written.
    """
    model = AttnMLIAP(potential, charge=charge, multiplicity=multiplicity, dtype=dtype, device=device)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:
        pickle.dump(model, handle, protocol=4)
    return output


class _ReferenceReader(pickle.Unpickler):
    """Unpickler resolving nothing but ``attnff.lammps._restore``, and that to a function returning its arguments."""

    def find_class(self, module: str, name: str):
        if (module, name) != ("attnff.lammps", "_restore"):
            raise ModelFileError(f"not an attnff LAMMPS reference: it refers to {module}.{name}")
        return lambda path, sha256, settings: {"path": path, "sha256": sha256, "settings": settings}


def read_lammps_reference(path: str | os.PathLike) -> dict[str, Any]:
    """The reference inside an exported file ({"path", "sha256", "settings"}), read without loading any weights.

    Raises:
        ModelFileError: the file refers to anything but ``attnff.lammps._restore``.
    """
    with open(path, "rb") as handle:
        return _ReferenceReader(handle).load()


def add_export_lammps_arguments(parser) -> None:
    """The options of ``attnff export-lammps`` on an argparse parser."""
    parser.add_argument("potential", help="shipped potential name or attnff safetensors path")
    parser.add_argument("output", help="file to write, loaded by `pair_style mliap unified OUTPUT 0`")
    parser.add_argument("--charge", type=int, default=0, help="net charge of the whole system in e (default 0)")
    parser.add_argument("--multiplicity", type=int, default=None,
                        help="2S + 1 of the whole system (default: the lowest consistent with the electron count)")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")


def export_lammps_command(args) -> int:
    """``attnff export-lammps``: write the reference file and print the pair_style / pair_coeff lines to use."""
    path = export_lammps(args.potential, args.output, charge=args.charge, multiplicity=args.multiplicity,
                         dtype=args.dtype, device=args.device)
    reference = read_lammps_reference(path)  # parsed, not unpickled
    elements = [chemical_symbols[z] for z in read_metadata(reference["path"])["species"]]
    print(f"wrote {path}: a reference to {reference['path']} (sha256 {reference['sha256'][:12]}...), no weights")
    print(f"pair_style mliap unified {path} 0")
    print(f"pair_coeff * * {' '.join(elements)}    # LAMMPS types 1..{len(elements)} in this element order")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m attnff.lammps ...``: the same as ``attnff export-lammps ...``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m attnff.lammps",
                                     description="write the ML-IAP unified file LAMMPS loads for an attnff potential")
    add_export_lammps_arguments(parser)
    return export_lammps_command(parser.parse_args(argv))


if __name__ == "__main__":  # run through the importable module, so that the pickle names attnff.lammps._restore
    from attnff.lammps import main as _main

    raise SystemExit(_main())
