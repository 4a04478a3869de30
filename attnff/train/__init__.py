"""Training attnff potentials from files: ``attnff train CONFIG.yaml`` or ``attnff.train.train``."""

from .config import RunConfig, load_config, parse_config
from .loop import train
from .metrics import evaluate

__all__ = ["RunConfig", "load_config", "parse_config", "train", "evaluate"]
