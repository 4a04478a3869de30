"""Build frozen dataclasses from plain mappings, refusing unknown keys and wrong types by name."""

import types
import typing
from dataclasses import fields
from typing import Any

from .errors import ConfigError

__all__ = ["check_type", "build_dataclass", "type_in_words"]


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping",
          list: "a list", tuple: "a list", type(None): "null"}


def type_in_words(annotation: Any) -> str:
    """"an integer", "a number or null", "a list of integers"... for error messages."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_in_words(kind) for kind in typing.get_args(annotation))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    return _WORDS.get(origin or annotation, getattr(annotation, "__name__", str(annotation)))


def check_type(where: str, value: Any, annotation: Any) -> Any:
    """``value`` if it fits ``annotation`` (ints accepted for floats, lists for tuples), else ConfigError."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        if value in typing.get_args(annotation):
            return value
        raise ConfigError(f"{where} must be one of {list(typing.get_args(annotation))}, got {value!r}")
    allowed = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    for kind in allowed:
        kind_origin = typing.get_origin(kind) or kind
        if kind is type(None) and value is None:
            return value
        if kind_origin is typing.Literal and value in typing.get_args(kind):
            return value
        if kind_origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind_origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind_origin is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
        if kind_origin in (str, bool, dict, list) and isinstance(value, kind_origin):
            return value
    raise ConfigError(f"{where} must be {type_in_words(annotation)}, got {value!r}")


def build_dataclass(cls, section: str, values: dict) -> Any:
    """``cls(**values)`` after checking every key and type; ``section`` names the place in errors."""
    if not isinstance(values, dict):
        raise ConfigError(f"section {section!r} must be a mapping")
    hints = typing.get_type_hints(cls, include_extras=False)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in section {section!r}; known: {sorted(known)}")
    checked = {k: check_type(f"{section}.{k}", v, hints[k]) for k, v in values.items()}
    try:
        return cls(**checked)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid {section}: {error}") from None
