"""Typed errors raised at attnff's boundaries.

Every error is a ``ValueError`` subclass so that callers catching ``ValueError``
keep working, while tests and users can catch the precise kind.
"""

__all__ = ["InvalidStructureError", "ChargeSpinError", "ModelFileError", "ConfigError"]


class InvalidStructureError(ValueError):
    """The structure cannot be evaluated (unknown element, NaN, overlap, empty, bad cell)."""


class ChargeSpinError(ValueError):
    """Impossible charge/multiplicity, or a state the potential was not trained for."""


class ModelFileError(ValueError):
    """A potential file is corrupt, truncated, untrusted or of an unsupported version."""


class ConfigError(ValueError):
    """A training configuration has an unknown key or a value of the wrong type."""
