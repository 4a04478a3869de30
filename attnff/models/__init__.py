"""Model registry: a name maps to (config class, model class).

The CLI, potential files and the test battery all read this table, so a new
model is one entry here.
"""

from dataclasses import asdict
from typing import Any

from ..errors import ConfigError
from ..typed_fields import build_dataclass
from .base import AttnModel, ModelConfig
from .cmret import CMRET, CMRETConfig
from .geomatt import GeomAtt, GeomAttConfig
from .inputs import ModelInputs
from .jat import JAT, JATConfig

__all__ = ["REGISTRY", "AttnModel", "ModelConfig", "ModelInputs", "build_model", "config_from_dict", "config_to_dict"]

REGISTRY: dict[str, tuple[type, type[AttnModel]]] = {
    "jat": (JATConfig, JAT),
    "cmret": (CMRETConfig, CMRET),
    "geomatt": (GeomAttConfig, GeomAtt),
}


def _entry(name: str) -> tuple[type, type[AttnModel]]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {sorted(REGISTRY)}") from None


def config_from_dict(name: str, values: dict[str, Any]) -> Any:
    """Build the named model's frozen config, rejecting unknown keys and wrong types by name."""
    config_class, _ = _entry(name)
    return build_dataclass(config_class, f"model ({name})", values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a model config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def build_model(name: str, config: Any, num_species: int) -> AttnModel:
    """Instantiate the named model."""
    _, model_class = _entry(name)
    return model_class(config, num_species)
