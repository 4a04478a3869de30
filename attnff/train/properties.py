"""Training property models (``properties:`` in the run config): per-molecule targets such as HOMO, LUMO, gap.

The same run as for potentials (attnff.train.loop): AdamW with warm-up and cosine decay, EMA of the weights,
gradient clipping, early stopping, a checkpoint every epoch with exact resume, ``metrics.jsonl``, and a model
file with its card at the end. What differs:
- targets are standardised (models.property): the loss is ``training.loss`` of (prediction - y) / sd_y per
  target, averaged over the targets; the metrics log holds the loss and validation MAE/RMSE per target;
- the validation score that selects the best epoch is the mean over targets of MAE / sd_y;
- training runs on one process (``torchrun`` is refused: no DistributedDataParallel here).
"""

import json
import math
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..data.dataset import GraphDataset
from ..data.properties import read_property_data, target_units
from ..device import resolve_device, resolve_dtype
from ..errors import ConfigError
from ..model_file import save_potential
from ..models import config_to_dict
from ..properties import PropertyModel
from ..version import __version__
from .checkpoint import kept_epoch, kept_weights, load_checkpoint, restore_training, save_checkpoint
from .config import RunConfig
from .loop import TrainingInterrupted, _schedule, _trim_log
from .loss import elementwise_loss

__all__ = ["train_properties", "evaluate_properties", "PropertySet"]


class PropertySet:
    """Molecules with their graphs and an (M, T) target matrix."""

    def __init__(self, configs, targets, cutoff: float):
        self.graphs = GraphDataset(configs, cutoff)
        self.values = torch.tensor([[c.properties[t] for t in targets] for c in configs], dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.graphs)


def _fit_standardisation(model: PropertyModel, configs, values: np.ndarray) -> np.ndarray:
    """Set the model's shift, scale and per-element references from the training targets; returns
    sd_y per target (the loss and score units)."""
    net, config = model.net, model.property_config
    spread = values.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    counts = np.stack([[np.count_nonzero(c.numbers == z) for z in model.species] for c in configs]).astype(float)
    atoms = counts.sum(axis=1)
    shift, scale = values.mean(axis=0), spread.copy()
    references = np.zeros((len(model.species), len(config.targets)))
    for k, target in enumerate(config.targets):
        if target in config.extensive:
            references[:, k] = np.linalg.lstsq(counts, values[:, k], rcond=None)[0]
            residual = (values[:, k] - counts @ references[:, k]) / atoms
            shift[k], scale[k] = 0.0, float(np.sqrt(np.mean(residual**2))) or 1.0
    with torch.no_grad():
        net.shift.copy_(torch.from_numpy(shift))
        net.scale.copy_(torch.from_numpy(scale))
        net.references.copy_(torch.from_numpy(references))
    return spread


def _predict(model, data: PropertySet, batch_size: int, device, dtype) -> np.ndarray:
    """(M, T) predictions for a set, in target units (float64)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = data.graphs.batch(range(start, min(start + batch_size, len(data)))).to(device, dtype)
            out.append(model(batch)["targets"].double().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, data.values.shape[1]))


def evaluate_properties(model, data: PropertySet, targets, batch_size: int = 64, device="cpu",
                        dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """{"<target>_mae", "<target>_rmse"} in target units over a set."""
    error = _predict(model, data, batch_size, device, dtype) - data.values.numpy()
    metrics = {}
    for k, target in enumerate(targets):
        metrics[f"{target}_mae"] = float(np.abs(error[:, k]).mean())
        metrics[f"{target}_rmse"] = float(np.sqrt((error[:, k] ** 2).mean()))
    return metrics


def _score(metrics: dict, targets, spread: np.ndarray) -> float:
    return float(np.mean([metrics[f"{t}_mae"] / s for t, s in zip(targets, spread)]))


def _format(metrics: dict, targets, units) -> str:
    parts = []
    for target, unit in zip(targets, units):
        value = metrics[f"{target}_mae"]
        parts.append(f"{target} MAE {1e3 * value:.1f} meV" if unit == "eV" else
                     f"{target} MAE {value:.4g} {unit}".rstrip())
    return ", ".join(parts)


def train_properties(config: RunConfig, resume: bool = False, progress: bool = True, command: str = "") -> Path:
    """Train the property model of ``config`` (its ``properties`` section); returns the model file's path.

    Raises:
        TrainingInterrupted: on Ctrl-C, with the checkpoint to resume from.
        FloatingPointError: when an epoch's training loss is not finite.
        ConfigError: run under torchrun, or data lacking a target.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("property models train on one process; run `attnff train` without torchrun")
    t = config.training
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path, log_path = out / "checkpoint.pt", out / "metrics.jsonl"
    device, dtype = resolve_device(t.device), resolve_dtype(t.dtype)
    torch.manual_seed(config.seed)
    if t.threads:
        torch.set_num_threads(t.threads)

    prop = config.properties
    targets = prop.targets
    if not prop.units:
        prop = replace(prop, units=target_units(targets))
    configs, splits, source = read_property_data(config.data.paths, config.data.format, config.data.split,
                                                 config.seed, targets)
    train_configs = [configs[k] for k in splits["train"]]
    val_configs = [configs[k] for k in splits["validation"]]
    test_configs = [configs[k] for k in splits.get("test", [])]
    species = sorted({int(z) for c in train_configs for z in c.numbers})
    unseen = sorted({int(z) for c in val_configs + test_configs for z in c.numbers} - set(species))
    if unseen:
        raise ConfigError(f"elements {unseen} occur in validation/test molecules but not in the training set")
    model = PropertyModel(config.model_name, config.model, species, prop)
    train_values = np.array([[c.properties[k] for k in targets] for c in train_configs])
    spread = _fit_standardisation(model, train_configs, train_values)
    model = model.to(device=device, dtype=dtype)
    train_set = PropertySet(train_configs, targets, model.cutoff)
    val_set = PropertySet(val_configs, targets, model.cutoff)
    inverse_spread = torch.tensor(1.0 / spread, device=device, dtype=dtype)

    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / t.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, steps_per_epoch))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True) \
        if t.ema_decay > 0 else None

    state = {"epoch": 0, "best_score": float("inf"), "best_epoch": 0, "bad_epochs": 0, "elapsed": 0.0,
             "best_state": None}
    if resume and checkpoint_path.exists():
        state = restore_training(checkpoint_path, model, optimizer, scheduler, ema)
        _trim_log(log_path, state["epoch"])
        print(f"resumed from {checkpoint_path} after epoch {state['epoch']}", flush=True)
    elif log_path.exists():
        log_path.unlink()

    bar = tqdm(total=t.epochs, initial=state["epoch"], desc=config.name, unit="epoch", disable=not progress)
    try:
        while state["epoch"] < t.epochs and state["bad_epochs"] < t.patience:
            if t.max_minutes and state["elapsed"] >= 60 * t.max_minutes:
                break
            started = time.perf_counter()
            epoch = state["epoch"] + 1
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            model.train()
            losses = _train_epoch(model, train_set, t, generator, optimizer, scheduler, ema, inverse_spread,
                                  device, dtype)
            if not all(math.isfinite(v) for v in losses):
                raise FloatingPointError(f"epoch {epoch}: the training loss is {losses}; lower training.lr")
            averaged = (ema.module if ema is not None else model).eval()
            val = evaluate_properties(averaged, val_set, targets, t.eval_batch_size, device, dtype)
            score = _score(val, targets, spread)
            state["elapsed"] += time.perf_counter() - started
            state["epoch"] = epoch
            if score < state["best_score"]:
                state.update(best_score=score, best_epoch=epoch, bad_epochs=0,
                             best_state={k: v.detach().cpu().clone() for k, v in averaged.state_dict().items()})
            else:
                state["bad_epochs"] += 1
            record = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], "train_loss": float(np.mean(losses)),
                      **{f"train_loss_{k}": v for k, v in zip(targets, losses)},
                      "elapsed_s": round(state["elapsed"], 2), "val_score": score,
                      **{f"val_{k}": v for k, v in val.items()}}
            with open(log_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "ema": ema.state_dict() if ema else {},
                             "rng": torch.get_rng_state(), "state": state}, checkpoint_path)
            bar.update(1)
            bar.set_postfix_str(_format(val, targets, prop.units))
    except KeyboardInterrupt:
        bar.close()
        epoch = int(load_checkpoint(checkpoint_path)["state"]["epoch"]) if checkpoint_path.exists() else 0
        raise TrainingInterrupted(checkpoint_path if epoch else None, epoch) from None
    bar.close()

    kept = kept_weights(t.keep, state, (ema.module if ema is not None else model))
    final = model.to(dtype=torch.float64)
    if kept is not None:
        final.load_state_dict(kept)
    final.eval()
    batch_size = t.eval_batch_size
    metrics = {"validation": evaluate_properties(final, val_set, targets, batch_size, device)}
    if test_configs:
        metrics["test"] = evaluate_properties(final, PropertySet(test_configs, targets, final.cutoff), targets,
                                              batch_size, device)
    path = out / f"{config.name}.safetensors"
    card = {
        "name": config.name, "description": config.description, "reference": config.reference,
        "domain": config.domain, "model": config.model_name, "model_config": config_to_dict(config.model),
        "properties": model.metadata()["properties"],
        "data": {**source, "sizes": {k: int(len(v)) for k, v in splits.items()},
                 "target_sd": dict(zip(targets, spread.tolist()))},
        "training": {**asdict(t), "seed": config.seed, "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
                     "kept_epoch": kept_epoch(t.keep, state),
                     "wall_time_minutes": round(state["elapsed"] / 60, 2),
                     "parameters": sum(p.numel() for p in final.parameters()),
                     "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                     "torch": torch.__version__, "attnff": __version__, "command": command},
        "metrics": metrics,
    }
    save_potential(final, path, card)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"validation errors: {_format(metrics['validation'], targets, prop.units)}", flush=True)
    if "test" in metrics:
        print(f"test errors: {_format(metrics['test'], targets, prop.units)}", flush=True)
    return path


def _train_epoch(model, data: PropertySet, t, generator, optimizer, scheduler, ema, inverse_spread, device,
                 dtype) -> list[float]:
    """One pass in shuffled batches; returns the mean loss per target over the batches."""
    order = torch.randperm(len(data), generator=generator).tolist()
    sums = torch.zeros(data.values.shape[1], dtype=torch.float64)
    steps = 0
    for start in range(0, len(order), t.batch_size):
        indices = order[start:start + t.batch_size]
        batch = data.graphs.batch(indices).to(device, dtype)
        reference = data.values[indices].to(device=device, dtype=dtype)
        error = (model(batch)["targets"] - reference) * inverse_spread
        per_target = torch.stack([elementwise_loss(error[:, k], t.loss, t.loss_delta)
                                  for k in range(error.shape[1])])
        loss = per_target.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        sums += per_target.detach().double().cpu()
        steps += 1
    return (sums / max(steps, 1)).tolist()
