"""Data path: file readers -> Configuration records -> AtomsBatch tensors."""

from .batch import AtomsBatch, collate
from .dataset import GraphDataset, split_indices
from .readers import DataSpec, read_configurations
from .records import Configuration

__all__ = ["AtomsBatch", "Configuration", "DataSpec", "GraphDataset", "collate", "read_configurations",
           "split_indices"]
