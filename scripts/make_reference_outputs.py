"""Regenerate tests/models/reference_outputs.json: energy and forces of every registry model
(small seeded weights, float64) on ethanol, so that unintended numerical changes fail a test.

    python scripts/make_reference_outputs.py      # after an intended change of a model
"""

import json
import sys
from pathlib import Path

from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnff import AttnCalculator  # noqa: E402
from attnff.models import REGISTRY  # noqa: E402
from tests.conftest import small_potential  # noqa: E402

OUTPUT = ROOT / "tests" / "models" / "reference_outputs.json"


def reference_outputs() -> dict:
    atoms = read(ROOT / "examples" / "ethanol.xyz")
    outputs = {}
    for name in sorted(REGISTRY):
        atoms.calc = AttnCalculator(small_potential(name), device="cpu", dtype="float64", skin=0.0)
        outputs[name] = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces().tolist()}
    return outputs


if __name__ == "__main__":
    OUTPUT.write_text(json.dumps(reference_outputs(), indent=1) + "\n")
    print(f"wrote {OUTPUT}")
