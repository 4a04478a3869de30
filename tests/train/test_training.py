"""Training from files: a tiny run writes a loadable potential; resume is exact; configs are checked."""

import json

import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from safetensors.torch import load_file

import attnff.train.loop as loop
from attnff import AttnCalculator
from attnff.cli import main
from attnff.errors import ConfigError
from attnff.train import load_config, parse_config, train
from attnff.train.config import TrainingConfig

from .tiny_runs import EPOCHS, tiny_raw, write_emt_data


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """EMT-labelled molecules and periodic cells (energies, forces, stress) as extxyz."""
    return write_emt_data(tmp_path_factory.mktemp("data") / "emt.extxyz")


_raw = tiny_raw


def test_tiny_run_writes_loadable_potential_with_card(data_file, tmp_path):
    path = train(parse_config(_raw(data_file, tmp_path / "run")), progress=False, command="pytest")
    calc = AttnCalculator.load(path, device="cpu")
    card = calc.metadata["card"]
    assert card["training"]["epochs_run"] == EPOCHS and card["training"]["seed"] == 3
    assert card["data"]["sizes"] == {"train": 14, "validation": 5, "test": 5}
    assert card["states"] == [[0, 1]] and card["elements"] == ["H", "C", "O", "Cu"]
    assert card["metrics"]["test"]["stress_mae"] >= 0 and card["metrics"]["test"]["forces_mae"] > 0
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, EPOCHS + 1))
    atoms = molecule("CH3OH")
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    cell.calc = calc
    assert np.isfinite(cell.get_stress()).all()


def test_max_force_drops_training_frames_and_scores_test_within_cap(data_file, tmp_path):
    frames = read(data_file, ":")
    largest = sorted(np.linalg.norm(a.get_forces(), axis=1).max() for a in frames)
    cap, above = float(largest[-3]), 2
    raw = _raw(data_file, tmp_path / "run", epochs=1)
    raw["data"] = {"path": str(data_file), "test_path": str(data_file), "max_force": cap,
                   "split": {"train": 0.75, "validation": 0.25}}
    config = parse_config(raw)
    train_configs, val_configs, test_configs, _ = loop.load_splits(config)
    assert len(train_configs) + len(val_configs) == len(frames) - above and len(test_configs) == len(frames)
    assert all(np.linalg.norm(c.forces, axis=1).max() <= cap for c in train_configs + val_configs)
    card = AttnCalculator.load(train(config, progress=False), device="cpu").metadata["card"]
    assert card["data"]["dropped_above_max_force"] == above
    assert card["data"]["test_within_max_force"] == len(frames) - above
    assert card["metrics"]["test_within_max_force"]["count"] == len(frames) - above
    assert card["metrics"]["test"]["count"] == len(frames)


@pytest.mark.parametrize("loss", ["mse", "huber", "logcosh"])
def test_each_loss_trains_to_finite_falling_losses(data_file, tmp_path, loss):
    train(parse_config(_raw(data_file, tmp_path / loss, loss=loss, ema_decay=0.0)), progress=False)
    log = [json.loads(line) for line in (tmp_path / loss / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == EPOCHS
    for record in log:
        assert all(np.isfinite(v) for v in record.values()), record
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    card = json.loads((tmp_path / loss / "card.json").read_text())
    assert all(np.isfinite(v) for part in ("validation", "test") for v in card["metrics"][part].values())


def test_a_nan_loss_stops_training(data_file, tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "combine_terms", lambda *args: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(FloatingPointError, match="epoch 1: the training loss is nan"):
        train(parse_config(_raw(data_file, tmp_path / "nan")), progress=False)


def test_resume_continues_exactly(data_file, tmp_path, monkeypatch):
    straight = train(parse_config(_raw(data_file, tmp_path / "a")), progress=False)

    original, calls = loop.save_checkpoint, []

    def interrupted(state, path):
        original(state, path)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is cut off right after epoch 2's checkpoint

    monkeypatch.setattr(loop, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(parse_config(_raw(data_file, tmp_path / "b")), progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    resumed = train(parse_config(_raw(data_file, tmp_path / "b")), resume=True, progress=False)

    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] == b[key]).all(), key
    drop = lambda r: {k: v for k, v in r.items() if k not in ("elapsed_s", "epoch_cpu_s")}  # noqa: E731
    logs = [[drop(json.loads(x)) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("a", "b")]
    assert logs[0] == logs[1]


@pytest.mark.parametrize("keep", ["best", "final"])
def test_the_written_weights_are_the_kept_epochs(data_file, tmp_path, monkeypatch, keep):
    """keep="best": the epoch with the lowest validation score (here, by a stand-in score, epoch 2);
    keep="final": the last epoch's. The card's validation errors (float64) are those the log recorded
    for that epoch (float32)."""
    scores = iter([3.0, 1.0, 2.0, 4.0, 5.0])
    monkeypatch.setattr(loop, "_selection_score", lambda val, weights: next(scores))
    raw = _raw(data_file, tmp_path / keep, keep=keep, epochs=5, lr=1e-2, ema_decay=0.5)
    card = AttnCalculator.load(train(parse_config(raw), progress=False), device="cpu").metadata["card"]
    log = [json.loads(line) for line in (tmp_path / keep / "metrics.jsonl").read_text().splitlines()]
    epoch = 2 if keep == "best" else 5
    assert card["training"]["best_epoch"] == 2 and card["training"]["keep"] == keep
    assert card["training"]["kept_epoch"] == epoch
    others = [r["val_forces_mae"] for r in log if r["epoch"] != epoch]
    assert min(abs(v - log[epoch - 1]["val_forces_mae"]) for v in others) > 1e-3  # the epochs are told apart
    assert card["metrics"]["validation"]["forces_mae"] == pytest.approx(log[epoch - 1]["val_forces_mae"], rel=1e-4)


def test_config_errors_name_the_problem(data_file, tmp_path):
    raw = _raw(data_file, tmp_path)
    with pytest.raises(ConfigError, match="learning_rate"):
        parse_config({**raw, "training": {"learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match="training.epochs"):
        parse_config({**raw, "training": {"epochs": "many"}})
    with pytest.raises(ConfigError, match="depth"):
        parse_config({**raw, "model": {"name": "jat", "depth": 3}})
    with pytest.raises(ConfigError, match="unknown model"):
        parse_config({**raw, "model": {"name": "schnet"}})
    with pytest.raises(ConfigError, match="divisible"):
        parse_config({**raw, "model": {"name": "jat", "width": 10, "num_heads": 4}})
    with pytest.raises(ConfigError, match=r"training.keep must be one of \['best', 'final'\], got 'last'"):
        parse_config({**raw, "training": {"keep": "last"}})
    with pytest.raises(ConfigError, match="training.loss must be one of"):
        parse_config({**raw, "training": {"loss": "l1"}})
    with pytest.raises(ConfigError, match="training.dtype must be one of"):
        parse_config({**raw, "training": {"dtype": "bfloat16"}})
    with pytest.raises(ConfigError, match="training.ddp_backend must be one of"):
        parse_config({**raw, "training": {"ddp_backend": "mpi"}})
    with pytest.raises(ConfigError, match="training.keep must be one of"):
        TrainingConfig(keep="last")  # type: ignore[arg-type]


def test_exponent_notation_reads_as_a_number_in_files_and_overrides(data_file, tmp_path):
    """PyYAML alone reads 1e-3 and 1.0e4 as strings; configs and --set read them as numbers."""
    raw = _raw(data_file, "out", lr="LR", lr_min="LR_MIN")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw).replace("lr: LR", "lr: 1e-3").replace("lr_min: LR_MIN", "lr_min: 2E-6"))
    loaded = load_config(config, ["training.energy_weight=1.0e4"])
    assert (loaded.training.lr, loaded.training.lr_min, loaded.training.energy_weight) == (1e-3, 2e-6, 1e4)


def test_cli_train_with_overrides(data_file, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_raw(data_file, "out")))
    assert main(["train", str(config), "--set", "training.epochs=1", "--no-progress"]) == 0
    assert (tmp_path / "out" / "tiny.safetensors").is_file()
    assert load_config(config, ["training.epochs=1"]).training.epochs == 1
    assert main(["train", str(config), "--set", "training.bogus=1"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_fine_tuning_keeps_the_source_scale_only_when_asked(data_file, tmp_path):
    first = train(parse_config(_raw(data_file, tmp_path / "base", epochs=1)), progress=False)
    source_scale = float(AttnCalculator.load(first, device="cpu").potential.scale)
    stronger = tmp_path / "stronger.extxyz"  # the same frames with twice the forces: another RMS force
    frames = read(data_file, ":")
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=2 * atoms.get_forces())
    write(stronger, frames)
    scales = {}
    for keep in (False, True):
        raw = _raw(data_file, tmp_path / f"keep{keep}", epochs=1, init_from=str(first), init_keep_scale=keep,
                   stress_weight=0.0)
        raw["data"]["path"] = str(stronger)
        written = train(parse_config(raw), progress=False)
        scales[keep] = float(AttnCalculator.load(written, device="cpu").potential.scale)
    assert scales[True] == pytest.approx(source_scale, rel=1e-12)
    assert abs(scales[False] - source_scale) > 1e-3 * source_scale


def test_several_data_files_and_fine_tuning_from_a_potential(data_file, tmp_path):
    first = train(parse_config(_raw(data_file, tmp_path / "base", epochs=1)), progress=False)
    raw = _raw(data_file, tmp_path / "tuned", epochs=1, init_from=str(first))
    raw["data"]["path"] = [str(data_file), str(data_file)]
    tuned = train(parse_config(raw), progress=False)
    card = AttnCalculator.load(tuned, device="cpu").metadata["card"]
    assert card["data"]["sizes"]["train"] == 29 and card["data"]["file"] == "emt.extxyz, emt.extxyz"
    grown = train(parse_config({**raw, "model": {**raw["model"], "angular": 2},  # an addable option
                                "output": str(tmp_path / "angular")}), progress=False)
    assert AttnCalculator.load(grown, device="cpu").potential.model_config["angular"] == 2
    raw["model"]["width"] = 12
    with pytest.raises(ConfigError, match="init_from"):
        train(parse_config({**raw, "output": str(tmp_path / "bad")}), progress=False)
