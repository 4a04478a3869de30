"""AttnCalculator: the one ASE calculator for every attnff potential."""

import copy
import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .data.batch import AtomsBatch
from .data.validate import check_min_distance, check_structure, default_multiplicity, resolve_charge_spin
from .device import resolve_device, resolve_dtype
from .errors import ChargeSpinError
from .memory import keep_freed_memory, recompute_needed
from .model_file import load_model, resolve_potential
from .neighbors import NeighborCache
from .potential import Potential
from .properties import PropertyModel

__all__ = ["AttnCalculator", "POTENTIAL_PROPERTIES"]

#: what a potential computes; a property model refuses these
POTENTIAL_PROPERTIES = ("energy", "free_energy", "forces", "energies", "stress")

#: the pair count the model sees is rounded up to a multiple of list length / PAIR_QUANTA
PAIR_QUANTA = 64


def pairs_to_evaluate(inside: np.ndarray) -> np.ndarray:
    """Mask (E,) of list pairs to evaluate: every pair inside the cutoff, padded with skin pairs.

    The count is rounded up to a multiple of E / PAIR_QUANTA (at most about 1.6 % extra pairs,
    each with weight exactly zero), so that from one MD step to the next the model's tensors
    keep their sizes while the list is reused. The allocator then hands back the blocks freed
    by the previous step instead of growing the heap, which costs page faults (docs/performance.md).

    Args:
        inside: (E,) bool, pairs within the cutoff.
    """
    count = int(inside.sum())
    quantum = max(1, -(-inside.size // PAIR_QUANTA))
    extra = min(inside.size, -(-count // quantum) * quantum) - count
    return inside | (np.cumsum(~inside) <= extra)


def _result_name(target: str) -> str:
    """The calculator's name of a property model's target: "dipole" is ASE's vector, so its magnitude (Debye)
    is "dipole_magnitude"."""
    return "dipole_magnitude" if target == "dipole" else target


class AttnCalculator(Calculator):
    """ASE calculator for an attnff Potential.

    Charge and spin come from ``atoms.info["charge"]`` (int, default 0) and
    ``atoms.info["multiplicity"]`` (2S + 1, default the lowest consistent with
    the electron count). Stress is computed for 3-D periodic cells, the dipole
    (e*Angstrom) only for potentials with a trained dipole head (``implemented_properties``
    then lists it). A potential whose model card lists the (charge, multiplicity) states it was
    trained on refuses other states unless ``allow_untrained_states`` is True (then it warns once
    per state). Calls from several threads are serialised by a lock.

    The same calculator serves property models (attnff.properties, e.g. a ``*-qm9-*`` model): their
    ``implemented_properties`` are their targets ("homo", "lumo", "gap" in eV, ...; the dipole target as
    "dipole_magnitude" in Debye, and "dipole" as the vector in e*Angstrom where the model has a vector dipole
    head), ``get_homo_lumo()`` returns (HOMO, LUMO) in eV as DFT calculators do, and energy, forces and stress
    raise PropertyNotImplementedError; a potential raises it for property names.

    ``calc.parameters`` (and ``todict()``, which ase.db and trajectories store) name the potential
    (shipped name or file path, and the file's sha256), model, device, dtype and skin;
    ``calc.set(device=..., dtype=..., skin=...)`` changes those three and resets the results.

    Args:
        potential: the Potential to evaluate.
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        dtype: "float32" (default) or "float64".
        skin: neighbour-list skin in Angstrom; lists are reused until an atom moves skin/2.
            On the CPU, each call evaluates only the pairs of the list that lie within the
            cutoff (the others have weight exactly zero), so the skin costs no model work.
        metadata: the potential file's metadata (card, training data), if loaded from a file.
        source: what to record as the potential in ``parameters``: a shipped name or file path.
        allow_untrained_states: evaluate (charge, multiplicity) states the card does not list, with a
            warning, instead of raising ``ChargeSpinError``.
        threads: CPU threads for torch (``torch.set_num_threads``, process-wide); None leaves torch's
            setting. One thread is fastest for small molecules on a busy machine (docs/performance.md).
        keep_memory: keep freed memory in the process between calls (glibc malloc thresholds,
            process-wide, see ``attnff.memory.keep_freed_memory``): large autograd buffers are then not
            unmapped and page-faulted again on every MD step. False leaves the allocator as it is.
        recompute_layers: recompute each layer's intermediates while taking forces instead of keeping
            them (``attnff.nn.recompute``): peak memory falls by about the number of layers, each call
            takes about 1.3-1.6x as long. "auto" (default) decides at every call by
            ``attnff.memory.recompute_needed``: recompute when a plain call would keep more than half
            of the memory this process could use. True or False fixes the choice.
        compile_model: evaluate the model through ``torch.compile`` (dynamic shapes): the first call
            compiles (a minute or more on a CPU, which needs a C++ compiler), later calls are faster
            (docs/performance.md). A model that cannot be compiled runs eagerly, with a warning.
    """

    #: every property some attnff potential offers; ``self.implemented_properties`` is this potential's
    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress", "dipole"]
    #: what ``set`` may change (anything else needs a new calculator)
    settable = ("device", "dtype", "skin")

    def __init__(self, potential: Potential | PropertyModel, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "float32", skin: float = 0.5,
                 metadata: dict[str, Any] | None = None, source: str | os.PathLike | None = None,
                 allow_untrained_states: bool = False, threads: int | None = None, keep_memory: bool = True,
                 recompute_layers: bool | str = "auto", compile_model: bool = False, **kwargs):
        super().__init__(**kwargs)
        if recompute_layers not in (True, False, "auto"):
            raise ValueError(f"recompute_layers must be True, False or 'auto', not {recompute_layers!r}")
        if threads is not None:
            if not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer or None, not {threads!r}")
            torch.set_num_threads(threads)
        if keep_memory:
            keep_freed_memory()
        self._lock = threading.RLock()
        self.device, self.dtype = resolve_device(device), resolve_dtype(dtype)
        # a private copy: the caller's potential keeps its device, dtype and gradients
        self.potential = copy.deepcopy(potential).to(device=self.device, dtype=self.dtype).eval()
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        self.recompute_policy = recompute_layers
        self.potential.recompute_layers = recompute_layers is True
        if compile_model:
            self.potential.compile_model()
        self.metadata = metadata or {}
        card = self.metadata.get("card", {})
        #: (charge, multiplicity) states the potential was trained on, from its card (None: not recorded)
        self.trained_states = {tuple(state) for state in card["states"]} if card.get("states") else None
        self.allow_untrained_states = bool(allow_untrained_states)
        self._warned_states = set[tuple[int, int]]()  # not annotated: `set` in the class body is Calculator.set
        self.skin = float(skin)
        self._new_neighbor_list()
        #: what to call this potential in logs and plots: the model card's name, else the model's
        self.potential_name = card.get("name") or potential.model_name
        self.is_property_model = isinstance(potential, PropertyModel)
        if isinstance(potential, PropertyModel):
            self.implemented_properties = [_result_name(t) for t in potential.targets] + \
                (["dipole"] if potential.has_dipole else [])
        else:
            self.implemented_properties = [p for p in type(self).implemented_properties
                                           if p != "dipole" or self.potential.has_dipole]
        self.parameters.update(potential=str(source) if source is not None else self.potential_name,
                               model=potential.model_name, device=str(self.device),
                               dtype=str(self.dtype).removeprefix("torch."), skin=self.skin)
        if source is not None and Path(source).is_file():
            self.parameters["potential_sha256"] = hashlib.sha256(Path(source).read_bytes()).hexdigest()

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str | torch.device = "auto",
             dtype: str | torch.dtype = "float32", **kwargs) -> "AttnCalculator":
        """Calculator for a shipped potential name (see ``list_potentials()``) or a file path."""
        path = resolve_potential(name_or_path)
        potential, metadata = load_model(path)
        calc = cls(potential, device=device, dtype=dtype, metadata=metadata, source=path, **kwargs)
        if str(name_or_path) != str(path):  # a shipped name: record it, beside the file's hash
            calc.parameters["potential"] = str(name_or_path)
        calc.potential_name = metadata.get("card", {}).get("name") or path.stem
        return calc

    def __repr__(self) -> str:
        p = self.parameters
        return (f"AttnCalculator(potential={p['potential']!r}, model={p['model']!r}, device={p['device']!r}, "
                f"dtype={p['dtype']!r}, skin={p['skin']})")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]  # locks do not pickle; a copy gets its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def _new_neighbor_list(self) -> None:
        # atoms relabelled in spatial order at each list rebuild: cache-friendly gathers on large boxes
        self.neighbors = NeighborCache(self.potential.cutoff, self.skin, self.device, reorder=True)
        # pairs the model sees: within the cutoff plus a margin far above rounding, so that no pair
        # with a non-zero weight in float32 or float64 is dropped
        self._model_radius = float(self.potential.cutoff) + 1e-4

    def set(self, **kwargs) -> dict[str, Any]:
        """Change ``device``, ``dtype`` or ``skin`` (results are reset); anything else raises ValueError."""
        fixed = sorted(set(kwargs) - set(self.settable))
        if fixed:
            raise ValueError(f"AttnCalculator cannot change {fixed} after construction (settable: "
                             f"{list(self.settable)}); create a new calculator for another potential")
        if not kwargs:
            return {}
        device = resolve_device(kwargs.get("device", self.device))
        dtype = resolve_dtype(kwargs.get("dtype", self.dtype))
        skin = float(kwargs.get("skin", self.skin))
        if skin < 0:
            raise ValueError(f"skin must be >= 0 Angstrom, not {skin}")
        with self._lock:
            changed = super().set(device=str(device), dtype=str(dtype).removeprefix("torch."), skin=skin)
            if changed:
                self.device, self.dtype, self.skin = device, dtype, skin
                self.potential.to(device=device, dtype=dtype)
                self._new_neighbor_list()
                self.reset()
        return changed

    def get_homo_lumo(self, atoms=None) -> tuple[float, float]:
        """(HOMO, LUMO) orbital energies in eV of ``atoms`` (default: the last structure evaluated), as ASE's DFT
        calculators return them (property models only)."""
        if atoms is None and self.atoms is None and self.is_property_model:
            raise ValueError("get_homo_lumo() needs a structure: pass the atoms, calc.get_homo_lumo(atoms)")
        return self.get_property("homo", atoms), self.get_property("lumo", atoms)

    def get_property(self, name, atoms=None, allow_calculation=True):
        if self.is_property_model and name in POTENTIAL_PROPERTIES:
            raise PropertyNotImplementedError(
                f"{self.potential_name} is a property model: it predicts {', '.join(self.implemented_properties)}, "
                f"not {name}; energies and forces need a potential (attnff.list_potentials())")
        if not self.is_property_model and name not in type(self).implemented_properties:
            raise PropertyNotImplementedError(
                f"{self.potential_name} is a potential (energy, forces, stress): it does not predict {name!r}; "
                "per-molecule properties such as HOMO and LUMO need a property model (a *-qm9-* model)")
        if name == "dipole" and not self.potential.has_dipole:
            raise PropertyNotImplementedError(f"this {self.potential.model_name} potential ({self.potential_name}) "
                                              "has no dipole head")
        with self._lock:  # one calculation at a time: results, atoms and the neighbour list are shared
            return super().get_property(name, atoms, allow_calculation)

    def check_state(self, atoms, tol: float = 1e-15) -> list[str]:
        changes = super().check_state(atoms, tol)
        if self.atoms is not None:
            for key in ("charge", "multiplicity"):
                if atoms.info.get(key) != self.atoms.info.get(key):
                    changes.append("info")
                    break
        return changes

    def _charge_spin(self, numbers: np.ndarray, info: dict) -> tuple[int, int]:
        charge, multiplicity = resolve_charge_spin(numbers, info)
        if not self.potential.supports_charge_spin:
            neutral = default_multiplicity(numbers, 0)
            if charge != 0 or multiplicity != neutral:
                raise ChargeSpinError(
                    f"this {self.potential.model_name} potential was trained without charge/spin and "
                    f"only describes charge 0, multiplicity {neutral}; got charge {charge}, "
                    f"multiplicity {multiplicity}"
                )
        elif self.trained_states is not None and (charge, multiplicity) not in self.trained_states:
            trained = ", ".join(f"({q}, {m})" for q, m in sorted(self.trained_states))
            message = (f"{self.potential_name} was trained on (charge, multiplicity) {trained}; "
                       f"({charge}, {multiplicity}) lies outside its training data")
            if not self.allow_untrained_states:
                raise ChargeSpinError(message + "; pass allow_untrained_states=True to evaluate it anyway")
            if (charge, multiplicity) not in self._warned_states:
                self._warned_states.add((charge, multiplicity))
                warnings.warn(message + "; its numbers are an extrapolation", UserWarning, stacklevel=4)
        return charge, multiplicity

    def batch_for(self, atoms) -> AtomsBatch:
        """The AtomsBatch this calculator evaluates for ``atoms``, on its device and in its dtype.

        Checks the structure and its charge/multiplicity (``atoms.info``) and takes the edges from the
        calculator's neighbour list (cutoff + skin, reused within the skin). The batch lists the atoms
        in the list's spatial order: batch atom k is ``atoms[self.neighbors.order[k]]``.

        Raises:
            InvalidStructureError: an element the potential does not know, non-finite or absurdly large
                positions, or overlapping atoms.
            ChargeSpinError: a charge/multiplicity that is impossible, that the potential cannot describe,
                or (without ``allow_untrained_states``) that it was not trained on.
        """
        numbers, positions = atoms.numbers, atoms.positions
        cell, pbc = np.asarray(atoms.cell.array, dtype=float), np.asarray(atoms.pbc, dtype=bool)
        check_structure(numbers, positions, cell, pbc, self.potential.species)
        charge, multiplicity = self._charge_spin(numbers, atoms.info)

        edge_index, shifts = self.neighbors.get(positions, cell, pbc)
        edges_np, shifts_np = self.neighbors.host_arrays()
        numbers, positions = self.neighbors.labelled(numbers), self.neighbors.labelled(positions)
        d = np.linalg.norm(positions[edges_np[0]] - positions[edges_np[1]] - shifts_np @ cell, axis=1)
        check_min_distance(d, edges_np, atom_index=self.neighbors.order)  # names the caller's atoms
        if self.device.type == "cpu" and not self.potential.model.reuses_pair_list:
            # skin pairs beyond the cutoff contribute exact zeros: leave most of them out of the model
            # (on a GPU the whole list stays on the device instead of being re-sent every step)
            keep = pairs_to_evaluate(d < self._model_radius)
            if not keep.all():
                edge_index = torch.from_numpy(np.ascontiguousarray(edges_np[:, keep]))
                shifts = torch.from_numpy(shifts_np[keep])

        def as_tensor(x, dtype=self.dtype):
            return torch.as_tensor(x, dtype=dtype, device=self.device)

        return AtomsBatch(
            numbers=as_tensor(numbers, torch.long), positions=as_tensor(positions),
            cell=as_tensor(cell[None]), pbc=as_tensor(pbc[None], torch.bool),
            batch=torch.zeros(len(atoms), dtype=torch.long, device=self.device),
            edge_index=edge_index, shifts=shifts.to(self.dtype),
            charge=as_tensor([charge]), spin=as_tensor([(multiplicity - 1) / 2]),
        )

    @property
    def compiled(self) -> bool:
        """True while the model is evaluated through ``torch.compile``."""
        return self.potential.compiled

    def _evaluate(self, batch: AtomsBatch, stress: bool) -> dict[str, torch.Tensor]:
        """The potential's energy, forces and (if asked) stress; a model that fails compiled runs eagerly."""
        if not self.compiled:
            return self.potential(batch, forces=True, stress=stress)
        try:
            return self.potential(batch, forces=True, stress=stress)
        except Exception as error:  # torch.compile's failures come in many private types
            self.potential.uncompile_model()
            warnings.warn(f"torch.compile could not run this {self.potential.model_name} model "
                          f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}); "
                          "running it uncompiled", RuntimeWarning, stacklevel=3)
            return self.potential(batch, forces=True, stress=stress)  # an input error raises again here

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        batch = self.batch_for(self.atoms)
        if isinstance(self.potential, PropertyModel):
            with torch.no_grad():
                predicted = self.potential(batch)
            self.results = {_result_name(name): float(predicted["targets"][0, k])
                            for k, name in enumerate(self.potential.targets)}
            if "dipole_vector" in predicted:
                self.results["dipole"] = predicted["dipole_vector"][0].double().cpu().numpy()
            return
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
        if "dipole" in properties and not self.potential.has_dipole:
            raise PropertyNotImplementedError(f"this {self.potential.model_name} potential has no dipole head")

        if self.recompute_policy == "auto" and not self.compiled:
            self.potential.recompute_layers = recompute_needed(
                self.potential.model, batch.edge_index.shape[1], self.dtype, self.device)
        out = self._evaluate(batch, stress=periodic)
        energy = float(out["energy"][0].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "energies": self.neighbors.unlabelled(out["energies"].detach().cpu().numpy().astype(float)),
            "forces": self.neighbors.unlabelled(out["forces"].detach().cpu().numpy().astype(float)),
        }
        if "dipole" in out:
            self.results["dipole"] = out["dipole"][0].detach().cpu().numpy().astype(float)
        if "stress" in out:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].detach().cpu().numpy().astype(float))
