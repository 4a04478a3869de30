"""Data-parallel training (gloo, 2 processes on 127.0.0.1) against one process on the same global batches.

float64 throughout: the two runs add the same numbers in another order, so weights and metrics agree
to rounding (relative 1e-9 after a few epochs of AdamW), not bit for bit.
"""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from attnff.data import GraphDataset, read_configurations
from attnff.data.readers import DataSpec
from attnff.model_file import load_potential
from attnff.train import evaluate, parse_config, train
from attnff.train.checkpoint import load_checkpoint
from attnff.train.distributed import Ranks

from .ddp_worker import read_records, spawn
from .tiny_runs import EPOCHS, tiny_raw, write_emt_data

#: float64 runs on one and two processes differ by summation order only
RTOL, ATOL = 1e-9, 1e-12

#: batch 3 of 14 structures: global batches 3, 3, 3, 3, 2, split 2 + 1 and 1 + 1 over two ranks,
#: methanol (6 atoms) and Cu cells (4 atoms, stress) mixed: ranks hold different atom counts
TRAINING = {"dtype": "float64", "batch_size": 3, "ema_decay": 0.9, "eval_batch_size": 2}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return write_emt_data(tmp_path_factory.mktemp("data") / "emt.extxyz")


@pytest.fixture(scope="module")
def single(data_file, tmp_path_factory):
    """The one-process run that the data-parallel runs must reproduce."""
    out = tmp_path_factory.mktemp("single") / "run"
    train(parse_config(tiny_raw(data_file, out, **TRAINING)), progress=False)
    return out


def _log(run):
    return [{k: v for k, v in json.loads(line).items() if k not in ("elapsed_s", "epoch_cpu_s")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_run(run, reference):
    """Checkpointed weights, optimiser moments, EMA, written potential and metrics agree."""
    a, b = load_checkpoint(run / "checkpoint.pt"), load_checkpoint(reference / "checkpoint.pt")
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            torch.testing.assert_close(a[part][key], b[part][key], rtol=RTOL, atol=ATOL, msg=f"{part} {key}")
    for moments, expected in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        torch.testing.assert_close(moments["exp_avg"], expected["exp_avg"], rtol=1e-7, atol=1e-12)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    assert {k: v for k, v in a["state"].items() if k not in ("elapsed", "cpu_s", "best_state", "best_score")} == \
        {k: v for k, v in b["state"].items() if k not in ("elapsed", "cpu_s", "best_state", "best_score")}
    weights, expected = load_file(str(run / "tiny.safetensors")), load_file(str(reference / "tiny.safetensors"))
    for key in expected:
        torch.testing.assert_close(weights[key], expected[key], rtol=RTOL, atol=ATOL, msg=key)
    log, expected_log = _log(run), _log(reference)
    assert [r["epoch"] for r in log] == list(range(1, EPOCHS + 1))
    for record, want in zip(log, expected_log):
        assert record.keys() == want.keys()
        for key in record:
            assert record[key] == pytest.approx(want[key], rel=RTOL, abs=ATOL), key
    card, expected_card = (json.loads((r / "card.json").read_text()) for r in (run, reference))
    for part in ("validation", "test"):
        assert card["metrics"][part]["count"] == expected_card["metrics"][part]["count"] == 5
        for key, value in expected_card["metrics"][part].items():
            assert card["metrics"][part][key] == pytest.approx(value, rel=RTOL, abs=ATOL), (part, key)


def test_two_processes_train_like_one_and_only_rank_0_writes(data_file, single, tmp_path):
    eval_out = tmp_path / "logs" / "eval.json"
    jobs = [("train", tiny_raw(data_file, tmp_path / "ddp", **TRAINING), False),
            ("evaluate", str(single / "tiny.safetensors"), str(data_file), str(eval_out))]
    assert spawn(2, jobs, tmp_path / "logs") == "ok"
    _assert_same_run(tmp_path / "ddp", single)

    # metrics of the same weights over all 24 configurations, each scored once
    potential, _ = load_potential(single / "tiny.safetensors")
    dataset = GraphDataset(read_configurations(DataSpec(str(data_file))), potential.cutoff)
    expected, sharded = evaluate(potential, dataset, 4), json.loads(eval_out.read_text())
    assert sharded["count"] == expected["count"] == 24
    assert sharded.keys() == expected.keys()
    for key, value in expected.items():
        assert sharded[key] == pytest.approx(value, rel=1e-12), key

    main, other = read_records(tmp_path / "logs", 2)
    assert other == {"events": [], "calls": {"save_checkpoint": 0, "save_potential": 0}}
    assert main["calls"] == {"save_checkpoint": EPOCHS, "save_potential": 1}
    opened = [event[1] for event in main["events"] if event[0] == "open"]
    assert sorted(opened) == sorted(["metrics.jsonl"] * EPOCHS + ["card.json"])
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in single.iterdir())


def test_killed_rank_resumes_on_any_number_of_processes(data_file, single, tmp_path):
    raw = tiny_raw(data_file, tmp_path / "run", **TRAINING)
    # rank 1 dies after epoch 1's checkpoint; two processes resume, and rank 0 dies after epoch 2's
    assert spawn(2, [("train", raw, False)], tmp_path / "logs", kill=(1, 1)) == "killed"
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["state"]["epoch"] == 1
    assert spawn(2, [("train", raw, True)], tmp_path / "logs", kill=(0, 1)) == "killed"
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["state"]["epoch"] == 2
    assert not (tmp_path / "run" / "tiny.safetensors").exists()
    train(parse_config(raw), resume=True, progress=False)  # and one process finishes the run
    _assert_same_run(tmp_path / "run", single)


def test_resume_refused_on_all_ranks_when_a_rank_sees_no_checkpoint(data_file, tmp_path):
    raw = tiny_raw(data_file, tmp_path / "shared", **TRAINING, epochs=2)
    train(parse_config({**raw, "training": {**raw["training"], "epochs": 1}}), progress=False)
    outputs = [str(tmp_path / "shared"), str(tmp_path / "node2")]  # rank 1's node lacks the run folder
    with pytest.raises(Exception, match="must be on a file system that every node reads"):
        spawn(2, [("train", raw, True, outputs)], tmp_path / "logs")
    assert not (tmp_path / "node2").exists()


def test_parameters_unused_by_the_loss_train(data_file, tmp_path):
    """CMRET's dipole head without a dipole loss: its parameters take no gradient on any rank."""
    raw = tiny_raw(data_file, tmp_path / "ddp", **TRAINING, epochs=1)
    raw["model"] = {"name": "cmret", "width": 8, "num_heads": 2, "num_layers": 1, "num_basis": 4, "cutoff": 3.0,
                    "dipole": True}
    assert spawn(2, [("train", raw, False)], tmp_path / "logs") == "ok"
    single = train(parse_config({**raw, "output": str(tmp_path / "single")}), progress=False)
    a, b = load_file(str(tmp_path / "ddp" / "tiny.safetensors")), load_file(str(single))
    assert any("dipole" in key for key in b)
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=RTOL, atol=ATOL, msg=key)


def test_one_process_without_torchrun_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = Ranks.from_environment("cpu")
    assert (ranks.rank, ranks.world_size, ranks.enabled, ranks.is_main) == (0, 1, False, True)
    assert ranks.shard([5, 6, 7]) == [5, 6, 7]
    assert np.array_equal(ranks.sum(torch.tensor([1.0, 2.0])).numpy(), [1.0, 2.0])
    ranks.barrier()
