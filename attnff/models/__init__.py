"""Model registry: a name maps to (config class, model class).

The CLI, potential files and the test battery all read this table, so a new
model is one entry here.
"""

from dataclasses import asdict, fields
from typing import Any

from torch import nn

from ..errors import ConfigError
from .cmret import CMRET, CMRETConfig
from .inputs import ModelInputs
from .jat import JAT, JATConfig

__all__ = ["REGISTRY", "ModelInputs", "build_model", "config_from_dict", "config_to_dict"]

REGISTRY: dict[str, tuple[type, type[nn.Module]]] = {
    "jat": (JATConfig, JAT),
    "cmret": (CMRETConfig, CMRET),
}


def _entry(name: str) -> tuple[type, type[nn.Module]]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {sorted(REGISTRY)}") from None


def config_from_dict(name: str, values: dict[str, Any]) -> Any:
    """Build the named model's frozen config, rejecting unknown keys by name."""
    config_class, _ = _entry(name)
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {name} model option(s) {unknown}; known: {sorted(known)}")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid {name} model options: {error}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a model config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def build_model(name: str, config: Any, num_species: int) -> nn.Module:
    """Instantiate the named model."""
    _, model_class = _entry(name)
    return model_class(config, num_species)
