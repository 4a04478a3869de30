"""Property models: training every readout, pooling invariances inside trained models, files, calculator, CLI."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.io import write

from attnff import AttnCalculator
from attnff.cli import main
from attnff.data import collate
from attnff.data.qm9 import read_qm9_csv
from attnff.errors import ConfigError, ModelFileError
from attnff.model_file import load_potential, load_property_model, save_potential
from attnff.models.property import PropertyConfig
from attnff.properties import PropertyModel
from attnff.train import parse_config, train
from tests.conftest import SMALL_CONFIGS, small_potential

ROWS = Path(__file__).parent / "data" / "qm9_rows.csv"
TARGETS = ["homo", "lumo", "gap"]


def qm9_atoms() -> list[Atoms]:
    """The 14 committed QM9 molecules with every target (attnff units) in ``info``."""
    _, numbers, positions, values = read_qm9_csv([ROWS])
    frames = []
    for k, (z, r) in enumerate(zip(numbers, positions)):
        atoms = Atoms(numbers=z, positions=r)
        atoms.info.update({name: float(v[k]) for name, v in values.items()})
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def qm9_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("qm9") / "qm9_rows.xyz"
    write(path, qm9_atoms(), format="extxyz")
    return path


def _train(folder: Path, data: Path, model: str, readout: str, targets=TARGETS, epochs: int = 2,
           model_options: dict | None = None, training: dict | None = None, **properties):
    raw = {"name": f"{model}-{readout}", "output": str(folder), "seed": 0,
           "data": {"path": str(data), "split": {"train": [0, 10], "validation": [10, 12], "test": [12, 14]}},
           "model": {"name": model, **SMALL_CONFIGS[model], "cutoff": 4.0, **(model_options or {})},
           "properties": {"targets": list(targets), "readout": readout, "pooling_width": 16, "pooling_heads": 2,
                          **properties},
           "training": {"epochs": epochs, "batch_size": 4, "lr": 1e-3, "warmup_epochs": 1, "threads": 1,
                        **(training or {})}}
    return train(parse_config(raw), progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, qm9_file) -> dict[str, Path]:
    """A JAT property model per readout, each trained for two epochs on ten molecules."""
    return {readout: _train(tmp_path_factory.mktemp(readout), qm9_file, "jat", readout)
            for readout in ("sum", "mean", "attention")}


@pytest.mark.parametrize("readout", ["sum", "mean", "attention"])
def test_every_readout_trains_and_logs_each_target(trained, readout):
    path = trained[readout]
    log = [json.loads(line) for line in (path.parent / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    for target in TARGETS:
        assert np.isfinite(log[-1][f"train_loss_{target}"]) and log[-1][f"val_{target}_mae"] > 0
    card = json.loads((path.parent / "card.json").read_text())
    assert card["properties"]["readout"] == readout and card["properties"]["units"] == ["eV"] * 3
    assert set(card["metrics"]["test"]) == {f"{t}_{m}" for t in TARGETS for m in ("mae", "rmse")}


@pytest.mark.parametrize("model", ["cmret", "geomatt"])
def test_other_backbones_train(tmp_path, qm9_file, model):
    path = _train(tmp_path, qm9_file, model, "attention", epochs=1)
    predicted = load_property_model(path)[0].predict(qm9_atoms()[:3])
    assert all(np.isfinite(predicted[t]).all() for t in TARGETS)


def test_extensive_target_and_resume(tmp_path, qm9_file):
    _train(tmp_path, qm9_file, "jat", "mean", targets=["u0", "gap"], extensive=["u0"], epochs=1)
    path = _train(tmp_path, qm9_file, "jat", "mean", targets=["u0", "gap"], extensive=["u0"], epochs=2)
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    frames = qm9_atoms()
    predicted = load_property_model(path)[0].predict(frames)
    reference = np.array([a.info["u0"] for a in frames])
    assert np.abs(predicted["u0"] - reference).max() < 0.05 * np.abs(reference).max()  # references fitted


def test_keep_final_writes_the_last_epochs_weights(tmp_path, qm9_file, monkeypatch):
    """With training.keep=final the model file holds the last epoch's weights, though (by a stand-in
    validation score) epoch 1 scored best: the card's validation errors are those logged for epoch 3."""
    import attnff.train.properties as properties

    scores = iter([1.0, 2.0, 3.0])
    monkeypatch.setattr(properties, "_score", lambda *args: next(scores))
    path = _train(tmp_path, qm9_file, "jat", "mean", epochs=3, training={"keep": "final", "lr": 1e-2})
    card = json.loads((path.parent / "card.json").read_text())
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert card["training"]["best_epoch"] == 1 and card["training"]["kept_epoch"] == 3
    target = f"{TARGETS[0]}_mae"
    assert abs(log[2][f"val_{target}"] - log[0][f"val_{target}"]) > 1e-3 * log[0][f"val_{target}"]
    assert card["metrics"]["validation"][target] == pytest.approx(log[2][f"val_{target}"], rel=1e-4)


def test_resume_continues_from_the_checkpoint(tmp_path, qm9_file):
    raw_path = _train(tmp_path, qm9_file, "jat", "sum", epochs=1)
    config = json.loads((raw_path.parent / "card.json").read_text())
    assert config["training"]["epochs_run"] == 1
    raw = {"name": "jat-sum", "output": str(tmp_path), "seed": 0,
           "data": {"path": str(qm9_file), "split": {"train": [0, 10], "validation": [10, 12]}},
           "model": {"name": "jat", **SMALL_CONFIGS["jat"], "cutoff": 4.0},
           "properties": {"targets": TARGETS, "readout": "sum"},
           "training": {"epochs": 2, "batch_size": 4, "warmup_epochs": 1, "threads": 1}}
    train(parse_config(raw), resume=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]


def _permuted(atoms: Atoms, seed: int = 1) -> Atoms:
    return atoms[np.random.default_rng(seed).permutation(len(atoms))]


@pytest.mark.parametrize("readout", ["sum", "mean", "attention"])
def test_permutation_and_padding_invariance_of_a_trained_model(trained, readout):
    model = load_property_model(trained[readout])[0]
    frames = qm9_atoms()
    small, large = frames[2], frames[-1]  # water (3 atoms), padded to the largest molecule in a batch
    alone = model.predict([small], dtype=torch.float64)
    together = model.predict([large, small, large], dtype=torch.float64)
    permuted = model.predict([_permuted(small), _permuted(large)], dtype=torch.float64)
    for target in TARGETS:
        assert together[target][1] == pytest.approx(alone[target][0], abs=1e-10)
        assert permuted[target][0] == pytest.approx(alone[target][0], abs=1e-10)
        assert permuted[target][1] == pytest.approx(together[target][0], abs=1e-10)


@pytest.mark.parametrize("readout", ["mean", "attention"])
def test_intensive_readouts_ignore_a_duplicated_set(trained, readout):
    """Pooling the atom features of a molecule twice over gives the same standardised outputs (intensive);
    the sum readout doubles them."""
    for name in ("sum", readout):
        model = load_property_model(trained[name])[0]
        inputs = model.inputs(collate([model._configuration(qm9_atoms()[-1], 0)], model.cutoff))
        features = model.net.backbone.represent(inputs)["features"]
        once = model.net.pool(features, inputs)
        doubled = replace(inputs, batch=torch.cat([inputs.batch, inputs.batch]))
        twice = model.net.pool(torch.cat([features, features]), doubled)
        torch.testing.assert_close(twice, 2 * once if name == "sum" else once, atol=1e-10, rtol=1e-10)


def test_batched_prediction_equals_one_at_a_time(trained):
    model = load_property_model(trained["attention"])[0]
    frames = qm9_atoms()
    batched = model.predict(frames, batch_size=64, dtype=torch.float64)
    single = model.predict(frames, batch_size=1, dtype=torch.float64)
    for target in TARGETS:
        np.testing.assert_allclose(batched[target], single[target], atol=1e-10)


def test_save_load_round_trip_and_calculator(tmp_path, trained):
    model, meta = load_property_model(trained["attention"])
    path = save_potential(model, tmp_path / "copy.safetensors", meta["card"])
    again, _ = load_property_model(path)
    frames = qm9_atoms()
    first = model.predict(frames, dtype=torch.float64)
    second = again.predict(frames, dtype=torch.float64)
    for target in TARGETS:
        np.testing.assert_array_equal(first[target], second[target])
    with pytest.raises(ModelFileError, match="property model"):
        load_potential(path)

    calc = AttnCalculator.load(path, dtype="float64")
    water = frames[2].copy()
    water.calc = calc
    homo, lumo = calc.get_homo_lumo(water)
    assert homo == pytest.approx(first["homo"][2], abs=1e-9) and lumo == pytest.approx(first["lumo"][2], abs=1e-9)
    assert calc.get_property("gap", water) == pytest.approx(first["gap"][2], abs=1e-9)
    assert set(calc.implemented_properties) == set(TARGETS)
    with pytest.raises(PropertyNotImplementedError, match="property model"):
        water.get_potential_energy()
    with pytest.raises(PropertyNotImplementedError, match="property model"):
        water.get_forces()
    with pytest.raises(ValueError, match="needs a structure"):
        AttnCalculator.load(path).get_homo_lumo()


def test_shipped_qm9_model_loads_by_name_and_predicts(tmp_path):
    calc = AttnCalculator.load("jat-qm9-homo-lumo")
    card = calc.metadata["card"]
    assert card["properties"]["targets"] == TARGETS and card["data"]["sizes"]["test"] == 10_831
    assert card["metrics"]["test"]["gap_mae"] < 0.3  # eV
    ethanol = molecule("CH3CH2OH")
    ethanol.calc = calc
    homo, lumo = calc.get_homo_lumo(ethanol)
    assert -8.0 < homo < -6.0 and lumo > homo  # QM9 (B3LYP): ethanol HOMO -7.06 eV
    frames = qm9_atoms()
    write(tmp_path / "mols.xyz", frames)
    assert main(["predict", "jat-qm9-homo-lumo", str(tmp_path / "mols.xyz"), "-o", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    gaps = np.array([float(r["gap_eV"]) for r in rows])
    reference = np.array([a.info["gap"] for a in frames])
    # typical QM9 sizes (the last rows: 7-9 heavy atoms); the 1-3 heavy-atom molecules are rare in QM9 and
    # predicted far worse (methane's gap by 4 eV; the model card says so)
    assert np.abs(gaps - reference)[-4:].mean() < 0.5


def test_a_potential_refuses_property_calls():
    calc = AttnCalculator(small_potential("jat"), dtype="float64")
    atoms = molecule("H2O")
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="property model"):
        calc.get_homo_lumo(atoms)
    with pytest.raises(PropertyNotImplementedError, match="property model"):
        calc.get_property("gap", atoms)


def test_property_model_refuses_charged_molecules(trained):
    model = load_property_model(trained["mean"])[0]
    ion = molecule("H2O")
    ion.info["charge"] = 1
    from attnff.errors import ChargeSpinError

    with pytest.raises(ChargeSpinError, match="neutral"):
        model.predict([ion])


def test_cmret_vector_dipole_head_rotates_with_the_molecule(tmp_path, qm9_file):
    path = _train(tmp_path, qm9_file, "cmret", "mean", targets=["dipole", "gap"], dipole_head="vector", epochs=1,
                  model_options={"dipole": True})
    model = load_property_model(path)[0]
    water = molecule("H2O")
    turned = water.copy()
    turned.rotate(70, (1, 2, 3), center=(0, 0, 0))
    out = model.predict([water, turned], dtype=torch.float64)
    rotation = np.linalg.lstsq(water.positions, turned.positions, rcond=None)[0]
    np.testing.assert_allclose(out["dipole_vector"][0] @ rotation, out["dipole_vector"][1], atol=1e-8)
    assert out["dipole"][0] == pytest.approx(out["dipole"][1], abs=1e-8)
    calc = AttnCalculator.load(path, dtype="float64")
    assert "dipole" in calc.implemented_properties and "dipole_magnitude" in calc.implemented_properties
    water.calc = calc
    assert np.linalg.norm(water.get_dipole_moment()) * 4.8032 == pytest.approx(out["dipole"][0], rel=1e-3)


def test_config_refuses_unknown_readout_and_vector_dipole_without_head(tmp_path, qm9_file):
    with pytest.raises(ConfigError, match="readout"):
        parse_config({"name": "x", "output": str(tmp_path), "data": {"path": str(qm9_file)},
                      "model": {"name": "jat"}, "properties": {"targets": ["gap"], "readout": "max"}})
    with pytest.raises(ValueError, match="dipole head"):
        PropertyModel("jat", parse_config({"name": "x", "output": str(tmp_path), "data": {"path": "x"},
                                           "model": {"name": "jat"}}).model, [1, 6],
                      PropertyConfig(targets=("dipole",), dipole_head="vector"))


def test_cli_predict_writes_a_row_per_structure(tmp_path, trained, qm9_file, capsys):
    out = tmp_path / "out.csv"
    assert main(["predict", str(trained["attention"]), str(qm9_file), "-o", str(out), "--batch-size", "5"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 14 and rows[0]["formula"] == "CH4"
    assert list(rows[0]) == ["index", "formula", "homo_eV", "lumo_eV", "gap_eV"]
    expected = load_property_model(trained["attention"])[0].predict(qm9_atoms())
    np.testing.assert_allclose([float(r["gap_eV"]) for r in rows], expected["gap"], atol=1e-5)
    assert main(["predict", str(trained["attention"]), str(tmp_path / "missing.xyz")]) == 2
