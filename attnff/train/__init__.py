"""Training attnff potentials from files: ``attnff train CONFIG.yaml`` or ``attnff.train.train``
(several processes: ``torchrun --nproc_per_node=N -m attnff train CONFIG.yaml``, docs/training.md)."""

from .config import RunConfig, load_config, parse_config
from .loop import TrainingInterrupted, train
from .metrics import evaluate, format_errors

__all__ = ["RunConfig", "load_config", "parse_config", "train", "evaluate", "format_errors", "TrainingInterrupted"]
