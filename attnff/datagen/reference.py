"""Reference labels (energy, forces, stress) from GFN-xTB through tblite, an optional extra."""

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["XTB_METHODS", "tblite_calculator", "reference_label", "method_description"]

XTB_METHODS = ("GFN1-xTB", "GFN2-xTB")


def _tblite():
    try:
        import tblite
        from tblite.ase import TBLite
    except ImportError as err:
        raise ImportError("GFN-xTB reference data needs tblite: pip install 'attnff[ref]'") from err
    return tblite, TBLite


def method_description(method: str) -> str:
    """Method and code version as stored in the data files, e.g. 'GFN1-xTB (tblite 0.8.0)'."""
    from importlib.metadata import version
    _tblite()
    return f"{method} (tblite {version('tblite')})"


def tblite_calculator(method: str = "GFN1-xTB", charge: int = 0, multiplicity: int = 1) -> Calculator:
    """A quiet tblite ASE calculator; it reuses the previous wavefunction as the next SCF guess."""
    if method not in XTB_METHODS:
        raise ValueError(f"unknown xTB method {method!r}; choose one of {XTB_METHODS}")
    _, TBLite = _tblite()
    return TBLite(method=method, charge=charge, multiplicity=multiplicity, verbosity=0)


def reference_label(atoms: Atoms, calculator: Calculator, method: str) -> Atoms:
    """A copy of ``atoms`` carrying the reference energy (eV), forces (eV/A) and, if 3-D periodic, stress.

    The copy holds the labels in a SinglePointCalculator, so ``ase.io.write`` stores them,
    and ``info`` gains charge, multiplicity and method.

    Raises:
        RuntimeError: if the reference calculation fails or returns non-finite numbers.
    """
    work = atoms.copy()
    work.calc = calculator
    periodic = bool(work.pbc.all())
    try:
        results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
        if periodic:
            results["stress"] = work.get_stress()
    except Exception as err:  # tblite raises its own error types; name the structure that failed
        raise RuntimeError(f"{method} failed on {atoms.get_chemical_formula()}: {err}") from err
    if not all(np.all(np.isfinite(v)) for v in results.values()):
        raise RuntimeError(f"{method} returned non-finite labels for {atoms.get_chemical_formula()}")
    labelled = atoms.copy()
    labelled.info.update(charge=int(calculator.parameters.get("charge") or 0),
                         multiplicity=int(calculator.parameters.get("multiplicity") or 1),
                         method=method_description(method))
    labelled.calc = SinglePointCalculator(labelled, **results)
    return labelled
