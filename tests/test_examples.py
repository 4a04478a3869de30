"""Each example runs in a reduced mode."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_md_verlet_example_reduced():
    result = subprocess.run([sys.executable, str(EXAMPLES / "md_verlet.py"), "--steps", "40"],
                            capture_output=True, text=True, cwd=EXAMPLES.parent,
                            env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)})
    assert result.returncode == 0, result.stderr
    assert "drift" in result.stdout
