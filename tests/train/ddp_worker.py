"""Data-parallel test runs: processes on 127.0.0.1 (gloo) that train or evaluate, record what they write,
and, when told, kill themselves after a given barrier (a rank dying mid-run)."""

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from attnff.data import GraphDataset, read_configurations
from attnff.data.readers import DataSpec
from attnff.model_file import load_potential
from attnff.train import evaluate, loop, parse_config, train
from attnff.train.distributed import Ranks

#: seconds a spawned run may take before the test fails (instead of hanging)
TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _record_writes(watched: Path, events: list) -> None:
    """Note every Python-level open for writing, rename, removal and mkdir under ``watched``."""
    watched = str(watched)

    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, Path)) and str(args[0]).startswith(watched):
            mode = args[1] or "r"
            if any(flag in mode for flag in "wax+"):
                events.append(["open", os.path.basename(str(args[0])), mode])
        elif event in ("os.rename", "os.remove", "os.mkdir") and str(args[0]).startswith(watched):
            events.append([event, os.path.basename(str(args[0]))])

    sys.addaudithook(hook)


def _worker(rank: int, world_size: int, port: int, jobs: list, log_dir: str, kill: tuple | None) -> None:
    """One rank: join the group, run the jobs in order, write this rank's record of writes."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    events: list = []
    if jobs[0][0] == "train":
        _record_writes(Path(jobs[0][1]["output"]), events)
    calls = {"save_checkpoint": 0, "save_potential": 0}
    for name in calls:
        original = getattr(loop, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        setattr(loop, name, counted)
    if kill is not None and kill[0] == rank:
        barrier, passed = Ranks.barrier, [0]

        def dying_barrier(self):
            barrier(self)
            passed[0] += 1
            if passed[0] == kill[1]:
                os.kill(os.getpid(), signal.SIGKILL)

        Ranks.barrier = dying_barrier
    for job in jobs:
        if job[0] == "train":
            _, raw, resume, *outputs = job  # outputs: one output folder per rank (nodes without a shared disk)
            raw = {**raw, "output": outputs[0][rank]} if outputs else raw
            train(parse_config(raw), resume=resume, progress=rank == 0)
        elif job[0] == "evaluate":
            _, potential_path, data_path, out = job
            potential, _ = load_potential(potential_path)
            dataset = GraphDataset(read_configurations(DataSpec(data_path)), potential.cutoff)
            ranks = Ranks.from_environment("cpu")
            reduce = lambda values, r=ranks: r.sum(torch.from_numpy(values)).numpy()  # noqa: E731
            metrics = evaluate(potential, dataset, 4, ranks.shard(range(len(dataset))), reduce)
            if rank == 0:
                Path(out).write_text(json.dumps(metrics))
    dist.barrier()
    dist.destroy_process_group()
    Path(log_dir, f"rank{rank}.json").write_text(json.dumps({"events": events, "calls": calls}))


def spawn(world_size: int, jobs: list, log_dir: Path, kill: tuple | None = None) -> str:
    """Run ``jobs`` on ``world_size`` spawned ranks; "ok", or "killed" when a rank died (the others
    are then ended, as torchrun does). Fails on an error in a rank or after TIMEOUT_S."""
    log_dir.mkdir(parents=True, exist_ok=True)
    context = mp.start_processes(_worker, args=(world_size, free_port(), jobs, str(log_dir), kill),
                                 nprocs=world_size, join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=1.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"a {world_size}-process run did not end within {TIMEOUT_S} s (hang?)")
    except (mp.ProcessExitedException, mp.ProcessRaisedException):
        # the victim's death may surface as another rank's lost connection first
        if kill is not None and context.processes[kill[0]].exitcode == -signal.SIGKILL:
            return "killed"
        raise
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
            process.join()
    return "ok"


def read_records(log_dir: Path, world_size: int) -> list[dict]:
    return [json.loads(Path(log_dir, f"rank{r}.json").read_text()) for r in range(world_size)]


