"""attnff: attention-based machine-learned interatomic potentials for ASE simulations."""

__version__ = "0.1.0"

from .calculator import AttnCalculator  # noqa: E402
from .model_file import list_potentials, load_potential, save_potential  # noqa: E402
from .potential import Potential  # noqa: E402

__all__ = ["AttnCalculator", "Potential", "list_potentials", "load_potential", "save_potential", "__version__"]
