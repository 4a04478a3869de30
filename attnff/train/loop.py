"""The training run: data, reference energies, AdamW with warm-up + cosine, EMA, early stopping,
a checkpoint every epoch, exact resume, metrics log, and the potential file at the end."""

import hashlib
import inspect
import json
import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..data.dataset import GraphDataset, split_indices
from ..data.readers import read_configurations
from ..data.validate import default_multiplicity
from ..device import resolve_dtype
from ..errors import ConfigError, ModelFileError
from ..model_file import load_potential, resolve_potential, save_potential
from ..models import config_to_dict
from ..potential import Potential, fit_reference_energies
from ..version import __version__
from .checkpoint import (
    checkpoint_hint,
    is_checkpoint,
    kept_epoch,
    kept_weights,
    load_checkpoint,
    restore_training,
    save_checkpoint,
)
from .config import RunConfig
from .distributed import Ranks
from .loss import LossWeights, combine_terms, loss_terms
from .metrics import evaluate, format_errors

__all__ = ["train", "load_splits", "TrainingInterrupted"]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _energy_scale(configs, species, references) -> float:
    """RMS force component (eV/A) of the training set; without forces, the RMS per-atom
    energy left after the reference energies (what the network has to learn)."""
    forces = [c.forces for c in configs if c.forces is not None]
    if forces:
        return float(np.sqrt(np.mean(np.concatenate(forces) ** 2))) or 1.0
    reference = dict(zip(species, references))
    residual = np.array([(c.energy - sum(reference[int(z)] for z in c.numbers)) / len(c) for c in configs])
    return float(np.sqrt(np.mean(residual**2))) or 1.0


def _check_data(config: RunConfig, train_configs, other_configs, supports_charge_spin: bool) -> list[int]:
    """Refuse data the run cannot use, naming the problem; return the training species."""
    unlabelled = sum(c.energy is None for c in train_configs)
    if unlabelled:
        raise ConfigError(f"{unlabelled} training configurations have no energy (data.energy_key?)")
    species = sorted({int(z) for c in train_configs for z in c.numbers})
    unseen = sorted({int(z) for c in other_configs for z in c.numbers} - set(species))
    if unseen:
        raise ConfigError(f"elements {unseen} occur in validation/test data but not in the training set")
    if not supports_charge_spin:
        charged = sum(c.charge != 0 or c.multiplicity != default_multiplicity(c.numbers, 0)
                      for c in train_configs + other_configs)
        if charged:
            raise ConfigError(f"{charged} configurations carry a charge or non-default multiplicity, but model "
                              f"{config.model_name!r} is configured without charge/spin")
    return species


def _schedule(config: RunConfig, steps_per_epoch: int):
    t = config.training
    warmup = max(t.warmup_epochs * steps_per_epoch, 1)
    total = max(t.epochs * steps_per_epoch, warmup + 1)
    floor = t.lr_min / t.lr

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / (total - warmup), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _selection_score(metrics: dict, weights: LossWeights) -> float:
    score = 0.0
    if weights.energy and "energy_per_atom_mae" in metrics:
        score += weights.energy * metrics["energy_per_atom_mae"]
    if weights.forces and "forces_mae" in metrics:
        score += weights.forces * metrics["forces_mae"]
    if weights.stress and "stress_mae" in metrics:
        score += weights.stress * metrics["stress_mae"]
    if weights.dipole and "dipole_mae" in metrics:
        score += weights.dipole * metrics["dipole_mae"]
    return score


#: model options a run may add to, or raise above, its init_from source; their new weights start neutral.
#: JAT's ``angular`` only from 0: more channels would shift the output map's columns of each degree.
GROWABLE_OPTIONS = {"angular", "angular_degree", "angular_mixing", "angular_products"}


def _grows(option: str, old, new) -> bool:
    """Whether an init_from run may change ``option`` from the source's ``old`` to ``new``."""
    if option not in GROWABLE_OPTIONS or new <= old:
        return False
    return option != "angular" or not old


def _copy_leading(target: torch.Tensor, source: torch.Tensor) -> bool:
    """Copy ``source`` into the leading block of a ``target`` at least as large in every dimension."""
    if target.dim() != source.dim() or any(t < s for t, s in zip(target.shape, source.shape)):
        return False
    with torch.no_grad():
        target[tuple(slice(0, s) for s in source.shape)].copy_(source)
    return True


def _initialise_from(potential: Potential, name_or_path: str, keep_scale: bool = False) -> None:
    """Copy the model weights of a potential file (same model and species; same config, except that the
    run may grow an option of ``GROWABLE_OPTIONS``) into ``potential``; with ``keep_scale`` also its
    energy scale. Weights the source lacks keep their initialisation; a weight that grew (JAT's angular
    output map when ``angular_degree`` rises) takes the source's values in its leading block."""
    try:
        source, _ = load_potential(resolve_potential(name_or_path))
    except ModelFileError as error:
        if is_checkpoint(name_or_path):
            raise ModelFileError(f"training.init_from: {checkpoint_hint(name_or_path)}") from error
        raise
    source_config, config = source.model_config, potential.model_config  # with defaults filled in
    changed = {k for k in config if config[k] != source_config.get(k)}
    if (source.model_name, source.species) != (potential.model_name, potential.species) or \
            not all(_grows(k, source_config.get(k), config[k]) for k in changed):
        raise ConfigError(f"training.init_from {name_or_path!r} has model {source.model_name} "
                          f"{source_config} species {list(source.species)}; this run needs {potential.model_name} "
                          f"{config} species {list(potential.species)}")
    targets = potential.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith("model."):
            continue
        if key not in targets or not _copy_leading(targets[key], value):
            raise ConfigError(f"training.init_from {name_or_path!r} has weight {key} {tuple(value.shape)} "
                              "that this model lacks or holds smaller")
    if keep_scale:
        potential.scale.copy_(source.scale)


def _read_pool(config: RunConfig) -> tuple[list, int]:
    """The training/validation frames of a run, and how many ``data.max_force`` left out."""
    configs = [c for path in config.data.paths for c in read_configurations(config.data.spec(path))]
    kept = [c for c in configs if config.data.within_max_force(c)]
    return kept, len(configs) - len(kept)


def _split(config: RunConfig, configs: list):
    splits = split_indices(len(configs), config.data.split, config.seed)
    if config.data.test_paths:
        test_configs = [c for path in config.data.test_paths for c in read_configurations(config.data.spec(path))]
    else:
        test_configs = [configs[k] for k in splits.get("test", [])]
    train_configs = [configs[k] for k in splits["train"]]
    val_configs = [configs[k] for k in splits["validation"]]
    return train_configs, val_configs, test_configs, splits


def load_splits(config: RunConfig):
    """Read the data of a run: (train, validation, test) configurations and the split indices.

    Frames above ``data.max_force`` are dropped before the split; the test set is kept whole.
    """
    return _split(config, _read_pool(config)[0])


def _trim_log(log_path: Path, last_epoch: int) -> None:
    if not log_path.exists():
        return
    kept = [line for line in log_path.read_text().splitlines() if line and json.loads(line)["epoch"] <= last_epoch]
    log_path.write_text("".join(line + "\n" for line in kept))


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training. The last complete epoch's checkpoint is kept.

    Attributes:
        checkpoint: the checkpoint to resume from, or None when no epoch had finished.
        epoch: the last complete epoch (0 when none).
    """

    def __init__(self, checkpoint: Path | None, epoch: int):
        super().__init__(f"training interrupted after epoch {epoch}")
        self.checkpoint, self.epoch = checkpoint, epoch


#: DistributedDataParallel's switch for the per-step buffer broadcast (renamed in torch 2.13)
_NO_BUFFER_SYNC = {"forward_sync_buffers": False} \
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters else {"broadcast_buffers": False}


class _BatchLoss(torch.nn.Module):
    """The potential and its loss terms as one module: the one DistributedDataParallel wraps, so that
    its output (the loss sums, whose graph holds the force derivatives) is where backward starts and
    parameters left out of it (a dipole head without a dipole loss) are found unused."""

    def __init__(self, potential: Potential, weights: LossWeights, stress: bool):
        super().__init__()
        self.potential, self.weights, self.stress = potential, weights, stress

    def forward(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self.potential(batch, forces=self.weights.forces > 0, stress=self.stress, training=True)
        return loss_terms(pred, batch, self.weights)


def _say(ranks: Ranks, message: str) -> None:
    """Print on rank 0 only."""
    if ranks.is_main:
        print(message, flush=True)


def _resumed_message(path: Path, state: dict, log_path: Path) -> str:
    best = ""
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            record = json.loads(line)
            if record["epoch"] == state["best_epoch"]:
                val = {k[4:]: v for k, v in record.items() if k.startswith("val_")}
                best = f" ({format_errors(val)})"
    return (f"resumed from {path} after epoch {state['epoch']}; best validation at epoch {state['best_epoch']}, "
            f"score {state['best_score']:.6g}{best}")


def _postfix(val: dict) -> dict:
    """Progress-bar metrics with their units."""
    shown = {}
    if "forces_mae" in val:
        shown["val_F_mae"] = f"{1e3 * val['forces_mae']:.1f} meV/A"
    if "energy_per_atom_mae" in val:
        shown["val_E_mae"] = f"{1e3 * val['energy_per_atom_mae']:.2f} meV/atom"
    return shown


def train(config: RunConfig, resume: bool = False, progress: bool = True, command: str = "") -> Path:
    """Train the configured potential; returns the path of the written potential file.

    Under torchrun (WORLD_SIZE > 1 in the environment) the processes train one model with
    DistributedDataParallel: ``training.batch_size`` is the global batch, each rank takes a disjoint
    slice of it, metrics are reduced over ranks, and only rank 0 writes the checkpoint, the metrics
    log, the progress bar and the potential file (see attnff.train.distributed).

    Args:
        config: the run (see attnff.train.config).
        resume: continue from ``output/checkpoint.pt`` exactly where it stopped (on any number of
            processes).
        progress: show a tqdm progress bar.
        command: the command line that started the run, recorded in the model card.

    Raises:
        TrainingInterrupted: on Ctrl-C, with the checkpoint to resume from.
        FloatingPointError: when an epoch's training loss is not finite.
    """
    if config.properties is not None:  # a property model (per-molecule targets): attnff.train.properties
        from .properties import train_properties

        return train_properties(config, resume, progress, command)
    ranks = Ranks.from_environment(config.training.device, config.training.ddp_backend)
    try:
        return _train(config, ranks, resume, progress, command)
    finally:
        ranks.close()


def _train(config: RunConfig, ranks: Ranks, resume: bool, progress: bool, command: str) -> Path:
    t = config.training
    out = Path(config.output)
    if ranks.is_main:
        out.mkdir(parents=True, exist_ok=True)
    checkpoint_path, log_path = out / "checkpoint.pt", out / "metrics.jsonl"
    device, dtype = ranks.device, resolve_dtype(t.dtype)
    torch.manual_seed(config.seed)
    if t.threads:
        torch.set_num_threads(t.threads)

    pool, dropped = _read_pool(config)
    train_configs, val_configs, test_configs, splits = _split(config, pool)
    species = _check_data(config, train_configs, val_configs + test_configs, config.model.supports_charge_spin)
    trained_on = _trained_on(train_configs)
    references = fit_reference_energies([c.numbers for c in train_configs],
                                        np.array([c.energy for c in train_configs]), species)
    scale = _energy_scale(train_configs, species, references)
    potential = Potential(config.model_name, config.model, species, references, scale)
    if t.init_from:
        _initialise_from(potential, t.init_from, t.init_keep_scale)
    potential = potential.to(device=device, dtype=dtype)
    cutoff = potential.cutoff
    train_set, val_set = GraphDataset(train_configs, cutoff), GraphDataset(val_configs, cutoff)
    weights = LossWeights(t.energy_weight, t.forces_weight, t.stress_weight, t.loss, t.loss_delta, t.dipole_weight)
    if t.dipole_weight and not potential.has_dipole:
        raise ConfigError(f"training.dipole_weight is set, but model {config.model_name!r} has no dipole head")
    use_stress = t.stress_weight > 0 and any(c.stress is not None for c in train_configs)

    optimizer = torch.optim.AdamW(potential.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / t.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, steps_per_epoch))
    ema = AveragedModel(potential, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True) \
        if t.ema_decay > 0 else None
    averaged = lambda: ema.module if ema is not None else potential  # noqa: E731

    state = {"epoch": 0, "best_score": float("inf"), "best_epoch": 0, "bad_epochs": 0, "elapsed": 0.0,
             "cpu_s": 0.0, "best_state": None}
    if resume and checkpoint_path.exists():
        state = {"cpu_s": 0.0, **restore_training(checkpoint_path, potential, optimizer, scheduler, ema)}
    # also a barrier: every rank has read the checkpoint before rank 0 touches the log or writes again
    _check_same_start(ranks, state["epoch"], checkpoint_path)
    if state["epoch"]:
        if ranks.is_main:
            _trim_log(log_path, state["epoch"])
        _say(ranks, _resumed_message(checkpoint_path, state, log_path))
    else:
        if resume:
            _say(ranks, f"no checkpoint at {checkpoint_path}: starting from epoch 0")
        if ranks.is_main and log_path.exists():
            log_path.unlink()

    step_loss = _BatchLoss(potential, weights, use_stress)
    if ranks.enabled:
        # device_ids=None: batches are moved to the rank's device here, not by DDP. find_unused_parameters:
        # heads outside the loss (a dipole head without dipole_weight, charge/spin terms of neutral
        # batches) get no gradient. Buffers (references, scale) are equal on all ranks and never change.
        step_loss = DistributedDataParallel(step_loss, find_unused_parameters=True, **_NO_BUFFER_SYNC)
    reduce = (lambda values: ranks.sum(torch.from_numpy(values)).numpy()) if ranks.enabled else None  # noqa: E731

    bar = tqdm(total=t.epochs, initial=state["epoch"], desc=config.name, unit="epoch",
               disable=not (progress and ranks.is_main))
    try:
        while state["epoch"] < t.epochs and state["bad_epochs"] < t.patience:
            if t.max_minutes and state["elapsed"] >= 60 * t.max_minutes:
                break
            started, cpu_started = time.perf_counter(), time.process_time()
            epoch = state["epoch"] + 1
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            potential.train()
            train_loss = _train_epoch(step_loss, potential, ranks, train_set, t.batch_size, generator, weights,
                                      optimizer, scheduler, ema, t.grad_clip, dtype)
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"epoch {epoch}: the training loss is {train_loss}; lower training.lr "
                                         "or check the data (units, outliers: data.max_force)")
            model = averaged().eval()
            val = evaluate(model, val_set, t.eval_batch_size, ranks.shard(range(len(val_set))), reduce)
            # one decision for all ranks: rank 0's score and clock (max_minutes) are broadcast
            decided = ranks.from_main(torch.tensor([_selection_score(val, weights),
                                                    state["elapsed"] + time.perf_counter() - started]))
            score, state["elapsed"], state["epoch"] = float(decided[0]), float(decided[1]), epoch
            if score < state["best_score"]:
                state.update(best_score=score, best_epoch=epoch, bad_epochs=0,
                             best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            else:
                state["bad_epochs"] += 1
            epoch_cpu_s = time.process_time() - cpu_started  # this process's (rank 0's), all its threads
            state["cpu_s"] += epoch_cpu_s
            if ranks.is_main:
                record = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], "train_loss": train_loss,
                          "elapsed_s": round(state["elapsed"], 2), "epoch_cpu_s": round(epoch_cpu_s, 3),
                          **{f"val_{k}": v for k, v in val.items()}}
                # log first: a line past the last checkpoint is dropped on resume and written again
                with open(log_path, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
                save_checkpoint({"model": potential.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema else {},
                                 "rng": torch.get_rng_state(), "world_size": ranks.world_size,
                                 "state": state}, checkpoint_path)
                bar.update(1)
                bar.set_postfix(_postfix(val))
            ranks.barrier()
    except KeyboardInterrupt:
        bar.close()
        epoch = int(load_checkpoint(checkpoint_path)["state"]["epoch"]) if checkpoint_path.exists() else 0
        raise TrainingInterrupted(checkpoint_path if epoch else None, epoch) from None
    bar.close()
    kept = kept_weights(t.keep, state, averaged())
    return _finish(config, potential, kept, state, val_set, test_configs, splits, dropped, command, ranks, reduce,
                   trained_on)


def _check_same_start(ranks: Ranks, epoch: int, checkpoint_path: Path) -> None:
    """Refuse, on every rank at once, a start where the ranks read different checkpoints (a node
    without the output folder: it must be on a file system all nodes share, for --resume)."""
    if not ranks.enabled:
        return
    main_epoch = int(ranks.from_main(torch.tensor([float(epoch)]))[0])
    differing = int(ranks.sum(torch.tensor([float(epoch != main_epoch)]))[0])
    if differing:
        raise ConfigError(f"{differing} rank(s) start from another epoch than rank 0 (epoch {main_epoch}; this rank "
                          f"{ranks.rank}: {epoch}, checkpoint {checkpoint_path}): for --resume the output folder must "
                          "be on a file system that every node reads")


def _train_epoch(step_loss, potential, ranks: Ranks, train_set: GraphDataset, batch_size: int,
                 generator: torch.Generator, weights: LossWeights, optimizer, scheduler, ema, grad_clip: float,
                 dtype: torch.dtype) -> float:
    """One pass over the training set in global batches; returns the mean loss of the global batches.

    Each rank takes its slice of every global batch (the same seeded permutation on all ranks) and
    divides its loss sums by the counts of the whole global batch; DDP averages the gradients over
    ranks, so the loss is scaled by world_size to make that average the global batch's gradient. A
    rank whose slice is empty (a last batch smaller than the world) runs a zero-weighted structure,
    so that every rank takes part in every gradient reduction.
    """
    order = torch.randperm(len(train_set), generator=generator).tolist()
    losses = []
    for start in range(0, len(order), batch_size):
        global_batch = order[start:start + batch_size]
        mine = ranks.shard(global_batch)
        batch = train_set.batch(mine or global_batch[:1]).to(ranks.device, dtype)
        sums, counts = step_loss(batch)
        if not mine:
            sums, counts = sums * 0.0, counts * 0.0
        loss = combine_terms(sums, ranks.sum(counts), weights)
        optimizer.zero_grad(set_to_none=True)
        (loss * ranks.world_size).backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(potential.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(potential)
        losses.append(loss.detach())
    return float(ranks.sum(torch.stack(losses)).mean())


def _trained_on(train_configs) -> dict:
    """The card's record of what the training split holds: its elements and (charge, multiplicity) states."""
    symbols = sorted({int(z) for c in train_configs for z in c.numbers})
    states = sorted({(int(c.charge), int(c.multiplicity)) for c in train_configs})
    return {"elements": [chemical_symbols[z] for z in symbols], "states": [list(state) for state in states]}


def _finish(config, potential, kept, state, val_set, test_configs, splits, dropped, command, ranks: Ranks,
            reduce, trained_on: dict) -> Path:
    """Load the kept weights (training.keep), evaluate in float64 (each rank its shard), write the
    potential file with its card (rank 0), print the test errors."""
    path = Path(config.output) / f"{config.name}.safetensors"
    final = potential.to(dtype=torch.float64)
    if kept is not None:
        final.load_state_dict(kept)
    final.eval()
    batch_size = config.training.eval_batch_size
    val = evaluate(final, val_set, batch_size, ranks.shard(range(len(val_set))), reduce)
    test_set = GraphDataset(test_configs, final.cutoff)
    test = evaluate(final, test_set, batch_size, ranks.shard(range(len(test_set))), reduce) if test_configs else {}
    metrics = {"validation": val, "test": test}
    capped = [k for k, c in enumerate(test_configs) if config.data.within_max_force(c)]
    if config.data.max_force is not None and capped:
        metrics["test_within_max_force"] = evaluate(final, test_set, batch_size, ranks.shard(capped), reduce)
    if ranks.is_main:
        _write_potential(config, final, state, metrics, test_configs, splits, dropped, capped, command, path,
                         trained_on, ranks.world_size)
        _say(ranks, f"validation errors: {format_errors(val)}")
        if test:
            _say(ranks, f"test errors: {format_errors(test)}")
    ranks.barrier()
    return path


def _write_potential(config, final, state, metrics, test_configs, splits, dropped, capped, command,
                     path: Path, trained_on: dict, processes: int) -> None:
    """The potential file and card.json (rank 0 only)."""
    card = {
        "name": config.name,
        "description": config.description,
        "reference": config.reference,
        "domain": config.domain,
        **trained_on,
        "model": config.model_name,
        "model_config": config_to_dict(config.model),
        "data": {
            "file": ", ".join(os.path.basename(p) for p in config.data.paths),
            "sha256": ", ".join(_sha256(p) for p in config.data.paths),
            "test_file": ", ".join(os.path.basename(p) for p in config.data.test_paths) or None,
            "units_in_file": {"energy": config.data.energy_unit, "length": config.data.length_unit},
            "split": config.data.split,
            "sizes": {k: int(len(v)) for k, v in splits.items()} | {"test": len(test_configs)},
            "max_force": config.data.max_force,
            "test_within_max_force": len(capped),
            "dropped_above_max_force": dropped,
        },
        "training": {
            **asdict(config.training),
            "seed": config.seed,
            "epochs_run": state["epoch"],
            "best_epoch": state["best_epoch"],
            "kept_epoch": kept_epoch(config.training.keep, state),
            "wall_time_minutes": round(state["elapsed"] / 60, 2),
            "cpu_time_minutes": round(state["cpu_s"] / 60, 2),  # training epochs (rank 0), resumes included
            "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__,
            "attnff": __version__,
            "command": command,
            "processes": processes,
        },
        "metrics": metrics,
    }
    save_potential(final, path, card)
    (Path(config.output) / "card.json").write_text(json.dumps(card, indent=2) + "\n")
