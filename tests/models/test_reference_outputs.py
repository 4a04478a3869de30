"""Every registry model reproduces its stored outputs (scripts/make_reference_outputs.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from attnff import AttnCalculator
from attnff.models import REGISTRY
from tests.conftest import small_potential

STORED = json.loads((Path(__file__).parent / "reference_outputs.json").read_text())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_model_reproduces_stored_outputs(name):
    assert name in STORED, "new model: run scripts/make_reference_outputs.py"
    atoms = read(Path(__file__).parents[2] / "examples" / "ethanol.xyz")
    atoms.calc = AttnCalculator(small_potential(name), device="cpu", dtype="float64", skin=0.0)
    np.testing.assert_allclose(atoms.get_potential_energy(), STORED[name]["energy"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(atoms.get_forces(), STORED[name]["forces"], atol=1e-8, rtol=0)
