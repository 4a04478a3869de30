"""Shared fixtures: seeded RNGs, small models of every registry entry, ../shared data access."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from attnff import Potential
from attnff.models import REGISTRY, config_from_dict

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: Tiny hyperparameters per registry model for fast tests.
SMALL_CONFIGS = {
    "jat": {"width": 16, "num_heads": 2, "num_layers": 2, "num_basis": 8, "cutoff": 3.0},
    "cmret": {"width": 16, "num_heads": 2, "num_layers": 2, "num_basis": 8, "cutoff": 3.0},
    "geomatt": {"width": 8, "num_layers": 2, "num_basis": 10, "spacing": 0.3, "cutoff": 3.0, "readout_hidden": 8},
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def small_water_box(repeat=(2, 2, 2)):
    """A rattled periodic box of water molecules (one per 4 A cube, repeated)."""
    from ase.build import molecule

    atoms = molecule("H2O")
    atoms.set_cell([4.0, 4.0, 4.0])
    atoms.center()
    atoms.pbc = True
    atoms = atoms.repeat(repeat)
    atoms.rattle(0.05, seed=3)
    return atoms


#: Test variants of registry models: name -> (registry model, options on top of SMALL_CONFIGS).
ANGULAR = {"angular": 4, "angular_degree": 3, "angular_mixing": True, "angular_products": True}
VARIANTS = {"jat-angular": ("jat", ANGULAR), "cmret-angular": ("cmret", ANGULAR),
            "geomatt-angular": ("geomatt", ANGULAR)}


def small_potential(name: str, species=(1, 6, 7, 8), **overrides) -> Potential:
    """A small random-weight potential of a registry model (or a VARIANTS name), float64, with nonzero references."""
    torch.manual_seed(0)
    name, variant_options = VARIANTS.get(name, (name, {}))
    config = config_from_dict(name, {**SMALL_CONFIGS[name], **variant_options, **overrides})
    refs = [-0.5 * z for z in species]
    potential = Potential(name, config, species, refs, scale=0.3).double()
    # random (not default-initialised) weights so that every term is exercised
    with torch.no_grad():
        for parameter in potential.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return potential


@pytest.fixture(params=sorted(REGISTRY))
def model_name(request) -> str:
    return request.param


#: where each reference file of ../shared/data comes from (named in the skip reason when it is missing)
SHARED_SOURCES = {
    "md17_ethanol_2000.npz": "2000 configurations of MD17 ethanol (Chmiela et al. 2017, from sgdml.org), "
                             "npz with R (A), z, E (kcal/mol), F (kcal/mol/A)",
    "ch2_2000_train.db": "the CMRET paper's CH2 singlet/triplet training set (CMRET authors' repository), ASE db",
    "ch2_2000_test.db": "the CMRET paper's CH2 singlet/triplet test set (CMRET authors' repository), ASE db",
    "ani1_gdb_s01.h5": "the ANI-1 subset with one heavy atom (Smith et al. 2017, ANI-1 data set), HDF5",
}


def skip_unless_ci(message: str) -> None:
    """Skip with ``message``; under CI=true, where .ci/run provides everything, fail with it instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (required under CI=true)")
    pytest.skip(message)


def shared_file(name: str) -> Path:
    """Path of a ../shared/data file; skip without it, except under CI=true where it must exist."""
    path = SHARED_DATA / name
    if not path.is_file():
        message = (f"{path} not found: the project's reference data beside the checkout (../shared/data); "
                   f"{name} is {SHARED_SOURCES.get(name, 'a reference data file')}")
        skip_unless_ci(message)
    return path


def require_module(name: str):
    """Import an optional extra; skip without it, except under CI=true where the README installs it."""
    try:
        return __import__(name)
    except ImportError:
        skip_unless_ci(f"{name} is not installed (pip install 'attnff[ref]')")


