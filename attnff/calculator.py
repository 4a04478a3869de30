"""AttnCalculator: the one ASE calculator for every attnff potential."""

import copy
import os
import warnings
from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .data.batch import AtomsBatch
from .data.validate import check_min_distance, check_structure, default_multiplicity, resolve_charge_spin
from .errors import ChargeSpinError
from .device import resolve_device, resolve_dtype
from .memory import keep_freed_memory, memory_budget
from .model_file import load_potential, resolve_potential
from .neighbors import NeighborCache
from .potential import Potential

__all__ = ["AttnCalculator"]

#: recompute_layers="auto" recomputes when a plain call would keep more than this share of the memory budget
AUTO_RECOMPUTE_SHARE = 0.5
#: below this many bytes of kept intermediates "auto" never recomputes (and does not ask the system)
AUTO_RECOMPUTE_FLOOR = 1 << 30


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


class AttnCalculator(Calculator):
    """ASE calculator for an attnff Potential.

    Charge and spin come from ``atoms.info["charge"]`` (int, default 0) and
    ``atoms.info["multiplicity"]`` (2S + 1, default the lowest consistent with
    the electron count). Stress is computed for 3-D periodic cells, the dipole
    (e*Angstrom) for potentials with a dipole head.

    Args:
        potential: the Potential to evaluate.
        device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
        dtype: "float32" (default) or "float64".
        skin: neighbour-list skin in Angstrom; lists are reused until an atom moves skin/2.
            On the CPU, each call evaluates only the pairs of the list that lie within the
            cutoff (the others have weight exactly zero), so the skin costs no model work.
        metadata: the potential file's metadata (card, training data), if loaded from a file.
        keep_memory: keep freed memory in the process between calls (glibc malloc thresholds,
            process-wide, see ``attnff.memory.keep_freed_memory``): large autograd buffers are then not unmapped
            and page-faulted again on every MD step. False leaves the allocator as it is.
        recompute_layers: recompute each layer's intermediates while taking forces instead of keeping
            them (``attnff.nn.recompute``): peak memory falls by about the number of layers, each call
            takes about 1.3-1.6x as long. JAT and CMRET (local attention) with more pairs than their
            ``recompute_block_edges`` then also run each layer in blocks of receiving atoms, so that
            peak memory stops growing with the layer size. "auto" (default) decides at every call:
            recompute when a plain call would keep more than half of the memory this process could
            use (``attnff.memory.memory_budget``), by the model's measured values per pair
            (``autograd_values_per_pair``); so large systems run instead of exhausting memory, and
            small ones keep the faster plain call. A compiled model is left plain under "auto" (its
            calls keep about a third of that memory, docs/performance.md). True or False fixes the choice.
        compile_model: compile the model with ``torch.compile`` (dynamic shapes, so a changing pair
            count does not recompile): the first call compiles (a minute or more on a CPU, which needs
            a C++ compiler), later calls are faster (docs/performance.md). For long MD runs.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress", "dipole"]

    def __init__(self, potential: Potential, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "float32", skin: float = 0.5,
                 metadata: dict[str, Any] | None = None, keep_memory: bool = True,
                 recompute_layers: bool | str = "auto", compile_model: bool = False, **kwargs):
        super().__init__(**kwargs)
        if keep_memory:
            keep_freed_memory()
        self.device, self.dtype = resolve_device(device), resolve_dtype(dtype)
        # a private copy: the caller's potential keeps its device, dtype and gradients
        self.potential = copy.deepcopy(potential).to(device=self.device, dtype=self.dtype).eval()
        for parameter in self.potential.parameters():
            parameter.requires_grad_(False)
        if recompute_layers not in (True, False, "auto"):
            raise ValueError(f"recompute_layers must be True, False or 'auto', not {recompute_layers!r}")
        self.recompute_policy = recompute_layers if recompute_layers == "auto" else bool(recompute_layers)
        self.potential.recompute_layers = self.recompute_policy is True
        self.compiled = bool(compile_model)
        if self.compiled:
            self.potential.model.compile(dynamic=True)  # in place: parameter names stay as they are
        self.metadata = metadata or {}
        # atoms relabelled in spatial order at each list rebuild: cache-friendly gathers on large boxes
        self.neighbors = NeighborCache(potential.cutoff, skin, self.device, reorder=True)
        # pairs the model sees: within the cutoff plus a margin far above rounding, so that no pair
        # with a non-zero weight in float32 or float64 is dropped
        self._model_radius = float(potential.cutoff) + 1e-4
        #: what to call this potential in logs and plots: the model card's name, else the model's
        self.potential_name = self.metadata.get("card", {}).get("name") or potential.model_name

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str | torch.device = "auto",
             dtype: str | torch.dtype = "float32", **kwargs) -> "AttnCalculator":
        """Calculator for a shipped potential name (see ``list_potentials()``) or a file path."""
        path = resolve_potential(name_or_path)
        potential, metadata = load_potential(path)
        calc = cls(potential, device=device, dtype=dtype, metadata=metadata, **kwargs)
        calc.potential_name = metadata.get("card", {}).get("name") or path.stem
        return calc

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
        return charge, multiplicity

    def batch_for(self, atoms) -> AtomsBatch:
        """The AtomsBatch this calculator evaluates for ``atoms``, on its device and in its dtype.

        Checks the structure and its charge/multiplicity (``atoms.info``) and takes the edges from the
        calculator's neighbour list (cutoff + skin, reused within the skin). The batch lists the atoms
        in the list's spatial order: batch atom k is ``atoms[self.neighbors.order[k]]``.

        Raises:
            InvalidStructureError: an element the potential does not know, non-finite positions or
                overlapping atoms.
            ChargeSpinError: a charge/multiplicity that is impossible or that the potential cannot describe.
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
        if self.device.type == "cpu":
            # skin pairs beyond the cutoff contribute exact zeros: leave most of them out of the model
            # (on a GPU the whole list stays on the device instead of being re-sent every step)
            keep = pairs_to_evaluate(d < self._model_radius)
            if not keep.all():
                edge_index = torch.from_numpy(np.ascontiguousarray(edges_np[:, keep]))
                shifts = torch.from_numpy(shifts_np[keep])

        as_tensor = lambda x, dtype=self.dtype: torch.as_tensor(x, dtype=dtype, device=self.device)
        return AtomsBatch(
            numbers=as_tensor(numbers, torch.long), positions=as_tensor(positions),
            cell=as_tensor(cell[None]), pbc=as_tensor(pbc[None], torch.bool),
            batch=torch.zeros(len(atoms), dtype=torch.long, device=self.device),
            edge_index=edge_index, shifts=shifts.to(self.dtype),
            charge=as_tensor([charge]), spin=as_tensor([(multiplicity - 1) / 2]),
        )

    def recompute_needed(self, num_pairs: int) -> bool:
        """The "auto" rule: would a plain call on ``num_pairs`` pairs keep over half the memory budget?"""
        estimate = getattr(self.potential.model, "autograd_values_per_pair", None)
        values_per_pair = estimate() if estimate is not None else None
        if values_per_pair is None:
            return False
        kept = num_pairs * values_per_pair * self.dtype.itemsize
        if kept < AUTO_RECOMPUTE_FLOOR:
            return False
        budget = memory_budget(self.device)
        return budget is not None and kept > AUTO_RECOMPUTE_SHARE * budget

    def _evaluate(self, batch: AtomsBatch, stress: bool) -> dict[str, torch.Tensor]:
        """The potential's energy, forces and (if asked) stress; a model inductor cannot compile runs eagerly."""
        try:
            return self.potential(batch, forces=True, stress=stress)
        except torch._dynamo.exc.BackendCompilerFailed as error:  # raised only by a compiled model
            warnings.warn(f"torch.compile could not compile this {self.potential.model_name} model "
                          f"({type(error.inner_exception).__name__} in {error.backend_name}); running it uncompiled",
                          RuntimeWarning, stacklevel=3)
            self.potential.model._compiled_call_impl = None  # undo nn.Module.compile
            self.compiled = False
            return self.potential(batch, forces=True, stress=stress)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        batch = self.batch_for(self.atoms)
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
        if "dipole" in properties and not self.potential.has_dipole:
            raise PropertyNotImplementedError(f"this {self.potential.model_name} potential has no dipole head")

        if self.recompute_policy == "auto" and not self.compiled:
            self.potential.recompute_layers = self.recompute_needed(batch.edge_index.shape[1])
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
