"""Error metrics of a potential on labelled configurations.

Metrics are built from sums (count, sum |error|, sum error^2 per quantity) so that data-parallel
ranks can score disjoint shards and add their sums before dividing: the result equals the
one-process metrics over the whole set, each configuration counted once.
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..data.dataset import GraphDataset
from ..potential import Potential
from ..units import energy_factor

__all__ = ["evaluate", "error_sums", "metrics_from_sums", "format_errors", "KCAL_PER_MOL", "QUANTITIES"]

KCAL_PER_MOL = energy_factor("kcal/mol")

#: the scored quantities, in the order of the rows of ``error_sums``
QUANTITIES = ("energy", "energy_per_atom", "forces", "stress", "dipole")


def error_sums(potential: Potential, dataset: GraphDataset, batch_size: int = 32,
               indices: Sequence[int] | None = None) -> np.ndarray:
    """(len(QUANTITIES), 3) float64 rows [count, sum |error|, sum error^2] over ``indices``.

    Units: eV (energy, energy_per_atom), eV/A (force components), eV/A^3 (stress components of
    structures with a stress target), e*A (dipole components of structures with a dipole target).
    """
    param = next(potential.parameters())
    indices = list(range(len(dataset))) if indices is None else list(indices)
    sums = np.zeros((len(QUANTITIES), 3))

    def add(row: int, errors: np.ndarray) -> None:
        errors = errors.astype(np.float64).ravel()
        sums[row] += (errors.size, np.abs(errors).sum(), (errors**2).sum())

    for start in range(0, len(indices), batch_size):
        batch = dataset.batch(indices[start:start + batch_size]).to(param.device, param.dtype)
        stress = bool(batch.has_stress is not None and batch.has_stress.any())
        pred = potential(batch, forces=batch.forces is not None, stress=stress)
        if batch.energy is not None:
            err = (pred["energy"].detach() - batch.energy.double()).cpu().numpy()
            n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).cpu().numpy()
            add(0, err)
            add(1, err / n_atoms)
        if batch.forces is not None:
            add(2, (pred["forces"].detach() - batch.forces).double().cpu().numpy())
        if stress:
            mask = batch.has_stress.cpu().numpy()
            add(3, (pred["stress"].detach() - batch.stress).double().cpu().numpy()[mask])
        if batch.dipole is not None and "dipole" in pred:
            mask = batch.has_dipole.cpu().numpy()
            add(4, (pred["dipole"].detach() - batch.dipole).double().cpu().numpy()[mask])
    return sums


def metrics_from_sums(sums: np.ndarray, count: int) -> dict[str, float]:
    """MAE and RMSE per quantity with a nonzero count (and kcal/mol units for E and F).

    Args:
        sums: rows of ``error_sums``, added over shards.
        count: number of configurations scored.
    """
    metrics: dict[str, float] = {"count": float(count)}
    for name, (n, absolute, squared) in zip(QUANTITIES, sums):
        if n > 0:
            metrics[f"{name}_mae"] = float(absolute / n)
            metrics[f"{name}_rmse"] = float(np.sqrt(squared / n))
    for name in ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse"):
        if name in metrics:
            metrics[f"{name}_kcal_mol"] = metrics[name] / KCAL_PER_MOL
    return metrics


def evaluate(potential: Potential, dataset: GraphDataset, batch_size: int = 32,
             indices: Sequence[int] | None = None,
             reduce: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, float]:
    """Energy, force, stress and dipole MAE/RMSE in eV, eV/A, eV/A^3, e*A (and kcal/mol units for E and F).

    The potential is evaluated on its own device and dtype; targets stay float64.

    Args:
        potential: the potential to score.
        dataset: labelled configurations.
        batch_size: configurations per evaluation batch.
        indices: the configurations to score (default all); on data-parallel ranks, this rank's shard.
        reduce: adds the (len(QUANTITIES) + 1,) vector of sums and the configuration count over
            ranks (``Ranks.sum``); without it, this process's sums are the whole result.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    sums = error_sums(potential, dataset, batch_size, indices)
    flat = np.concatenate([sums.ravel(), [len(indices)]])
    if reduce is not None:
        flat = np.asarray(reduce(flat), dtype=np.float64)
    return metrics_from_sums(flat[:-1].reshape(sums.shape), int(round(flat[-1])))


def format_errors(metrics: dict[str, float]) -> str:
    """Errors with units for people: energy meV and meV/atom, forces meV/A, stress meV/A^3, dipole e*A."""
    parts = []
    if "energy_mae" in metrics:
        parts.append(f"energy MAE {1e3 * metrics['energy_mae']:.2f} meV ({1e3 * metrics['energy_per_atom_mae']:.3f} "
                     f"meV/atom), RMSE {1e3 * metrics['energy_rmse']:.2f} meV "
                     f"({1e3 * metrics['energy_per_atom_rmse']:.3f} meV/atom)")
    if "forces_mae" in metrics:
        parts.append(f"forces MAE {1e3 * metrics['forces_mae']:.2f} meV/A, RMSE {1e3 * metrics['forces_rmse']:.2f} "
                     "meV/A")
    if "stress_mae" in metrics:
        parts.append(f"stress MAE {1e3 * metrics['stress_mae']:.3f} meV/A^3")
    if "dipole_mae" in metrics:
        parts.append(f"dipole MAE {metrics['dipole_mae']:.4f} e*A")
    return "; ".join(parts) + f" ({int(metrics.get('count', 0))} configurations)"
