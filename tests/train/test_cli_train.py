"""`attnff train` as users meet it: Ctrl-C, --resume, the closing error report, --threads, wrong files."""

import json
import shlex

import pytest
import torch
import yaml

import attnff.train.checkpoint as checkpoint
import attnff.train.loop as loop
from attnff.cli import main
from attnff.train.checkpoint import load_checkpoint

from .tiny_runs import EPOCHS, tiny_raw, write_emt_data


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    data = write_emt_data(folder / "emt.extxyz")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw(data, "out")))
    return path


def _interrupt_in_third_save(monkeypatch):
    """Ctrl-C halfway through writing epoch 3's checkpoint: a partial temporary file, then the interrupt."""
    original, calls = torch.save, []

    def save(obj, target, *args, **kwargs):
        calls.append(target)
        if len(calls) == 3:
            with open(target, "wb") as handle:
                handle.write(b"PK partial")
            raise KeyboardInterrupt
        return original(obj, target, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)


def test_ctrl_c_keeps_the_last_checkpoint_and_prints_the_resume_command(config_file, monkeypatch, capsys):
    out = config_file.parent / "out"
    _interrupt_in_third_save(monkeypatch)
    command = ["train", str(config_file), "--set", "training.lr=0.002", "--threads", "1", "--no-progress"]
    with pytest.raises(SystemExit) as stopped:
        main(command)
    assert stopped.value.code == 130
    interrupted = load_checkpoint(out / "checkpoint.pt")["state"]
    assert interrupted["epoch"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
    err = capsys.readouterr().err
    assert f"kept the checkpoint of epoch 2 ({out / 'checkpoint.pt'})" in err
    resume = err.strip().splitlines()[-1].strip()
    assert resume == shlex.join(["attnff", *command[:-1], "--resume"])

    monkeypatch.undo()
    assert main(shlex.split(resume)[1:] + ["--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"resumed from {out / 'checkpoint.pt'} after epoch 2; best validation at epoch" in printed
    assert "forces MAE" in printed.split("resumed from")[1].splitlines()[0]
    test_line = next(line for line in printed.splitlines() if line.startswith("test errors:"))
    for unit in (" meV (", " meV/atom)", " meV/A", "(5 configurations)"):
        assert unit in test_line
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["epochs_run"] == EPOCHS
    assert card["training"]["threads"] == 1 and card["training"]["lr"] == 0.002
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == list(range(1, EPOCHS + 1))
    # CPU time: the epochs before the interruption carried over, each later epoch added once
    cpu_s = load_checkpoint(out / "checkpoint.pt")["state"]["cpu_s"]
    assert interrupted["cpu_s"] == pytest.approx(sum(row["epoch_cpu_s"] for row in log[:2]), abs=1e-3)
    assert cpu_s - interrupted["cpu_s"] == pytest.approx(sum(row["epoch_cpu_s"] for row in log[2:]), abs=1e-3 * EPOCHS)
    assert card["training"]["cpu_time_minutes"] == round(cpu_s / 60, 2)


def test_interrupt_before_any_epoch_says_there_is_nothing_to_resume(config_file, tmp_path, monkeypatch, capsys):
    raw = yaml.safe_load(config_file.read_text())
    raw["data"]["path"] = str(config_file.parent / "emt.extxyz")
    raw["output"] = str(tmp_path / "early")
    path = tmp_path / "early.yaml"
    path.write_text(yaml.safe_dump(raw))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_train_epoch", interrupted)
    with pytest.raises(SystemExit):
        main(["train", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "--resume" not in err


def test_resume_without_a_checkpoint_says_so(config_file, tmp_path, capsys):
    raw = yaml.safe_load(config_file.read_text())
    raw["data"]["path"] = str(config_file.parent / "emt.extxyz")
    raw["output"] = str(tmp_path / "fresh")
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--resume", "--set", "training.epochs=1", "--no-progress"]) == 0
    assert f"no checkpoint at {tmp_path / 'fresh' / 'checkpoint.pt'}: starting from epoch 0" in capsys.readouterr().out


def test_init_from_a_checkpoint_points_to_the_potential_file(config_file, tmp_path, capsys):
    raw = yaml.safe_load(config_file.read_text())
    raw["data"]["path"] = str(config_file.parent / "emt.extxyz")
    raw["output"] = str(tmp_path / "first")
    path = tmp_path / "first.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(path), "--set", "training.epochs=1", "--no-progress"]) == 0
    capsys.readouterr()
    checkpoint_path = tmp_path / "first" / "checkpoint.pt"
    assert main(["train", str(path), "--set", "training.epochs=1", "--set", f"training.init_from={checkpoint_path}",
                 "--set", f"output={tmp_path / 'second'}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt is a training checkpoint" in err
    assert f"use {tmp_path / 'first' / 'tiny.safetensors'}" in err


def test_train_help_shows_defaults_and_threads(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads N" in text and "training.threads" in text
    assert "overriding training.threads (default: the config's; 0 is torch's default)" in text
    assert "(default: [])" in text
