"""attnff: attention-based machine-learned interatomic potentials for ASE simulations."""

from .calculator import AttnCalculator
from .model_file import list_potentials, load_potential, save_potential
from .potential import Potential
from .version import __version__

__all__ = ["AttnCalculator", "Potential", "list_potentials", "load_potential", "save_potential", "__version__"]
