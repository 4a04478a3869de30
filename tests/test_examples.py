"""Each example runs in a reduced mode."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.db import connect

from attnff import save_potential
from tests.conftest import small_potential

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          cwd=EXAMPLES.parent, env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)})


@pytest.fixture(scope="module")
def potential_file(tmp_path_factory):
    """Path of a saved small random potential per registry name ("cmret" for the charge/spin examples)."""
    folder = tmp_path_factory.mktemp("potentials")

    def path(name: str) -> str:
        target = folder / f"{name}.safetensors"
        if not target.exists():
            save_potential(small_potential(name), target)
        return str(target)

    return path


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_md_verlet_example_reduced():
    result = _run("md_verlet.py", "--steps", "40")
    assert result.returncode == 0, result.stderr
    assert "drift" in result.stdout


def test_dissociation_example_reduced(potential_file, tmp_path):
    reference = tmp_path / "reference.db"
    with connect(reference) as db:  # two DFT-like points on the path, one off it
        for k, (r1, angle, spin) in enumerate([(1.0, 130.0, 0), (2.0, 130.0, 1), (2.0, 100.0, 1)]):
            a = np.radians(angle)
            atoms = Atoms("CH2", positions=[[0, 0, 0], [r1, 0, 0], [1.1 * np.cos(a), 1.1 * np.sin(a), 0]])
            db.write(atoms, point=k, kind="stretch", method="test", r1=r1, r2=1.1, angle=angle,
                     data={"E": np.array([-1070.0]), "F": np.zeros((3, 3)), "S": np.array([float(spin)])})
    result = _run("dissociation.py", "--quick", "--potential", potential_file("cmret"), "--out", str(tmp_path),
                  "--reference", str(reference))
    assert result.returncode == 0, result.stderr
    assert "1 points for (0, 1)" in result.stdout and "1 points for (0, 3)" in result.stdout
    _assert_png(tmp_path / "ch2_dissociation_cmret.png")


def test_pes_scan_example_reduced(potential_file, tmp_path):
    result = _run("pes_scan.py", "--quick", "--potential", potential_file("cmret"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    _assert_png(tmp_path / "ch2_pes.png")
    _assert_png(tmp_path / "ch2_st_gap.png")


def test_optimize_and_vibrate_example_reduced(potential_file, tmp_path):
    result = _run("optimize_and_vibrate.py", "--quick", "--potential", potential_file("jat"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "cm^-1" in result.stdout
    _assert_png(tmp_path / "ethanol_spectrum.png")


def test_attention_map_example_reduced(potential_file, tmp_path):
    result = _run("attention_map.py", "--quick", "--potential", potential_file("jat"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    _assert_png(tmp_path / "attention_jat.png")


CONFIGS = sorted((EXAMPLES / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_example_config_parses_and_reads_no_private_path(path):
    from attnff.train import load_config

    config = load_config(path)
    assert config.name and config.output
    for data_path in config.data.paths + config.data.test_paths:
        assert "shared" not in Path(data_path).parts, f"{path.name} reads {data_path}"
        shipped_or_external = Path(data_path).resolve().parent.name in ("data", "external")
        assert shipped_or_external, f"{path.name}: {data_path} is neither shipped data nor data/external"


def test_quickstart_config_trains_on_shipped_data(tmp_path):
    from attnff import AttnCalculator
    from attnff.train import load_config, train

    config = load_config(EXAMPLES / "configs" / "quickstart_ch2.yaml",
                         [f"output={tmp_path / 'run'}", "training.epochs=1", "model.width=8", "model.num_layers=1"])
    calc = AttnCalculator.load(train(config, progress=False), device="cpu")
    atoms = Atoms("CH2", positions=[[0, 0, 0], [1.1, 0, 0], [-0.3, 1.05, 0]], info={"multiplicity": 3})
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
