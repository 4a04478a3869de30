"""A list of configurations with their neighbour lists computed once, served as batches."""

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..neighbors import neighbor_list
from .batch import AtomsBatch, collate
from .records import Configuration

__all__ = ["GraphDataset", "split_indices"]


class GraphDataset:
    """Configurations plus precomputed graphs at one cutoff.

    Args:
        configs: labelled structures.
        cutoff: neighbour cutoff in Angstrom.
    """

    def __init__(self, configs: Sequence[Configuration], cutoff: float):
        self.configs = list(configs)
        self.cutoff = float(cutoff)
        self.graphs = [neighbor_list(c.positions, c.cell, c.pbc, cutoff) for c in self.configs]

    def __len__(self) -> int:
        return len(self.configs)

    def batch(self, indices: Sequence[int]) -> AtomsBatch:
        """One AtomsBatch (float64, CPU) of the given configurations."""
        return collate([self.configs[k] for k in indices], self.cutoff, [self.graphs[k] for k in indices])

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[AtomsBatch]:
        """All configurations in batches; shuffled when a generator is given."""
        order = torch.randperm(len(self), generator=generator).tolist() if generator is not None else range(len(self))
        order = list(order)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start:start + batch_size])


def split_indices(n: int, split: dict, seed: int) -> dict[str, np.ndarray]:
    """Train/validation/test indices from ranges ``[start, stop]`` or fractions of a seeded shuffle.

    Args:
        n: number of configurations.
        split: {"train": ..., "validation": ..., "test": ...}; each either a [start, stop]
            index range (stop excluded) or a fraction in (0, 1]. Missing test means no test set.
        seed: shuffle seed for fractions.
    """
    unknown = sorted(set(split) - {"train", "validation", "test"})
    if unknown:
        raise ConfigError(f"unknown data.split key(s) {unknown}; use train, validation, test")
    parts = {k: split.get(k) for k in ("train", "validation", "test") if split.get(k) is not None}
    if "train" not in parts or "validation" not in parts:
        raise ConfigError("data.split needs at least 'train' and 'validation'")
    if all(isinstance(v, (list, tuple)) for v in parts.values()):
        out = {k: np.arange(int(v[0]), int(v[1])) for k, v in parts.items()}
        for k, idx in out.items():
            if len(idx) == 0 or idx.max() >= n or idx.min() < 0:
                raise ConfigError(f"data.split.{k} range {parts[k]} is empty or outside 0..{n}")
        names = list(out)
        for a, first in enumerate(names):
            for second in names[a + 1:]:
                if np.intersect1d(out[first], out[second]).size:
                    raise ConfigError(f"data.split.{first} {parts[first]} overlaps data.split.{second} "
                                      f"{parts[second]}")
        return out
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts.values()):
        if sum(parts.values()) > 1.0 + 1e-9:
            raise ConfigError(f"data.split fractions add up to more than 1: {parts}")
        order = np.random.default_rng(seed).permutation(n)
        out, start = {}, 0
        for k, fraction in parts.items():
            count = int(round(fraction * n))
            out[k] = np.sort(order[start:start + count])
            start += count
        return out
    raise ConfigError("data.split entries must all be [start, stop] ranges or all be fractions")
