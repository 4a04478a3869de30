"""Training configuration: YAML -> frozen dataclasses, unknown keys and wrong types refused by name."""

import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from ..data.readers import DataSpec
from ..errors import ConfigError
from ..models import config_from_dict
from ..typed_fields import build_dataclass, check_type

__all__ = ["DataConfig", "TrainingConfig", "RunConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class DataConfig:
    """Training data: file(s), units, keys and the split.

    split: {"train": [start, stop], "validation": [...], "test": [...]} index ranges
    (start included, stop excluded), or
    fractions {"train": 0.8, ...} of a seeded shuffle. test_path: a separate test file
    (read with the same units and keys) instead of a test split. ``path`` and ``test_path``
    may also be lists of files, read in order and concatenated.
    max_force: eV/A; training/validation frames with an atomic force norm above it are left out
    (for example near-collisions from a failed active-learning round). The test set is kept
    whole and also scored on its frames within the cap.
    """

    path: str | list
    format: str = "auto"
    energy_unit: str = "eV"
    length_unit: str = "Angstrom"
    energy_key: str | None = None
    forces_key: str | None = None
    stress_key: str | None = None
    spin_key: str | None = None
    dipole_key: str | None = None
    split: dict = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    test_path: str | list | None = None
    max_force: float | None = None

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def test_paths(self) -> list[str]:
        if self.test_path is None:
            return []
        return [self.test_path] if isinstance(self.test_path, str) else list(self.test_path)

    def within_max_force(self, config) -> bool:
        """True when ``config`` (a Configuration) has no atomic force norm above ``max_force``."""
        if self.max_force is None or config.forces is None:
            return True
        return bool(np.linalg.norm(config.forces, axis=1).max() <= self.max_force)

    def spec(self, path: str) -> DataSpec:
        return DataSpec(path, self.format, self.energy_unit, self.length_unit,
                        self.energy_key, self.forces_key, self.stress_key, self.spin_key, self.dipole_key)


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings.

    Attributes:
        epochs: maximum epochs.
        max_minutes: wall-time budget; training stops cleanly after the epoch that passes it.
        batch_size: structures per optimiser step in all: the global batch. Under torchrun each of the
            N processes takes every N-th structure of it, so a run takes the same steps (and, up to
            rounding, the same weights) on any number of processes (docs/training.md).
        lr, lr_min: peak and final learning rate (warm-up then cosine decay per step).
        warmup_epochs: linear warm-up length.
        weight_decay: AdamW decoupled weight decay.
        loss: "mse", "huber" or "logcosh"; loss_delta is the Huber threshold / log-cosh scale.
        energy_weight, forces_weight, stress_weight, dipole_weight: loss weights (energy per atom;
            the dipole term needs a model with a dipole head, e.g. CMRET with dipole: true).
        ema_decay: exponential moving average of weights (0 disables); validation and the
            written potential use the averaged weights.
        patience: early stopping after this many epochs without validation improvement.
        keep: which weights the written potential gets: "best" (the epoch with the lowest validation
            score) or "final" (the last epoch's; with a small validation set the best-scoring epoch can
            be an early one that a longer schedule has since improved on).
        dtype: "float32" or "float64" for training.
        device: "auto", "cpu" or "cuda".
        grad_clip: maximum gradient norm (0 disables).
        eval_batch_size: batch size for validation and test (per process: each scores its shard).
        ddp_backend: torch.distributed backend under torchrun: "auto" (nccl on CUDA, gloo on the
            CPU), "gloo" or "nccl".
        threads: CPU threads for torch (0 keeps torch's default; 1 is fastest for small molecules).
        init_from: a potential file (or shipped name) of the same model, config and species to
            start from (fine-tuning); reference energies and scale are refitted on the new data.
            The run may switch on or raise an option of JAT's angular term (``angular`` from 0,
            ``angular_degree``, ``angular_mixing``, ``angular_products``); its new weights start where they leave the
            source's energies unchanged.
        init_keep_scale: with init_from, keep the source's energy scale instead of refitting it
            (continuing on a changed data set, where a refitted scale would rescale what was learnt).
    """

    epochs: int = 1000
    max_minutes: float = 0.0
    batch_size: int = 16
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup_epochs: int = 5
    weight_decay: float = 0.0
    loss: Literal["mse", "huber", "logcosh"] = "mse"
    loss_delta: float = 0.01
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    stress_weight: float = 0.0
    dipole_weight: float = 0.0
    ema_decay: float = 0.99
    patience: int = 100
    keep: Literal["best", "final"] = "best"
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"
    grad_clip: float = 10.0
    eval_batch_size: int = 64
    threads: int = 0
    init_from: str | None = None
    init_keep_scale: bool = False
    ddp_backend: Literal["auto", "gloo", "nccl"] = "auto"

    def __post_init__(self) -> None:
        # the choice (Literal) fields, checked also when the config is built in code rather than read from YAML
        for name, kind in typing.get_type_hints(TrainingConfig).items():
            if typing.get_origin(kind) is typing.Literal:
                check_type(f"training.{name}", getattr(self, name), kind)


@dataclass(frozen=True)
class RunConfig:
    """A whole training run: where to write, what data, which model, how to train."""

    name: str
    output: str
    data: DataConfig
    model_name: str
    model: Any
    training: TrainingConfig = field(default_factory=TrainingConfig)
    seed: int = 0
    description: str = ""
    reference: str = ""
    domain: dict = field(default_factory=dict)
    properties: Any = None  # a models.property.PropertyConfig: train a property model (train.properties)


def _set(raw: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader that reads exponent notation as a number also without a dot in the mantissa or a
    sign in the exponent (1e-3, 1.0e4, 2E5), as YAML 1.2 does; PyYAML's YAML 1.1 rules read those as strings."""


_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                   re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                                   list("-+0123456789."))


def _yaml(text: Any) -> Any:
    """A YAML document (string or stream) read with ``_ConfigLoader``."""
    return yaml.load(text, Loader=_ConfigLoader)


def parse_config(raw: dict, base_dir: str | os.PathLike = ".", overrides: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from a YAML mapping; relative paths are taken from ``base_dir``.

    overrides: "section.key=value" strings, values parsed as YAML (``training.epochs=5``).
    """
    raw = dict(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        _set(raw, key, _yaml(value))
    top = {"name", "output", "data", "model", "training", "seed", "description", "reference", "domain", "properties"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; known: {sorted(top)}")
    for key in ("name", "output", "data", "model"):
        if key not in raw:
            raise ConfigError(f"the config needs a {key!r} entry")
    base = Path(base_dir)
    data_raw = dict(raw["data"])
    for key in ("path", "test_path"):
        value = data_raw.get(key)
        if isinstance(value, str):
            data_raw[key] = str(base / value)
        elif isinstance(value, list):
            data_raw[key] = [str(base / item) for item in value]
    training_raw = dict(raw.get("training", {}))
    init = training_raw.get("init_from")
    if isinstance(init, str) and (base / init).exists():
        training_raw["init_from"] = str(base / init)
    model_raw = dict(raw["model"])
    if "name" not in model_raw:
        raise ConfigError("model.name is required (for example 'jat')")
    model_name = model_raw.pop("name")
    return RunConfig(
        name=check_type("name", raw["name"], str),
        output=str(base / raw["output"]),
        data=build_dataclass(DataConfig, "data", data_raw),
        model_name=model_name,
        model=config_from_dict(model_name, model_raw),
        training=build_dataclass(TrainingConfig, "training", training_raw),
        seed=check_type("seed", raw.get("seed", 0), int),
        description=check_type("description", raw.get("description", ""), str),
        reference=check_type("reference", raw.get("reference", ""), str),
        domain=check_type("domain", raw.get("domain", {}), dict),
        properties=_property_config(raw.get("properties")),
    )


def _property_config(raw: Any) -> Any:
    """The ``properties`` section (per-molecule targets, readout) as a PropertyConfig, or None."""
    if raw is None:
        return None
    from ..models.property import PropertyConfig

    return build_dataclass(PropertyConfig, "properties", check_type("properties", raw, dict))


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML training config; paths inside are relative to the config file."""
    with open(path) as handle:
        raw = _yaml(handle)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} does not hold a YAML mapping")
    return parse_config(raw, Path(path).parent, overrides)
