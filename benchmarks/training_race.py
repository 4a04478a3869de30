"""Accuracy per CPU-minute: attnff's JAT, CMRET and GeomAtt against MACE and PaiNN on MD17 ethanol.

    python benchmarks/training_race.py --setup                 # peer venvs (MACE; schnetpack for PaiNN)
    nice python benchmarks/training_race.py --run              # train, two contestants at a time
    python benchmarks/training_race.py --evaluate --report     # test errors at each checkpoint; docs

Every contestant trains on the same split of the 2000-frame MD17 ethanol file (0-949 train,
950-999 validation, 1000-1999 test) in one process with one thread, with its package's own training
command and its documented small-molecule recipe (``RECIPES``). The driver reads each process's CPU
time (user + system, the whole process tree) from /proc every ``POLL_S`` seconds; when the package
writes a checkpoint, the driver copies it with the CPU seconds spent so far. The model a contestant
has "at B CPU-minutes" is its last checkpoint written before B minutes; its test errors are computed
afterwards (not counted) on the 1000 test frames in float64 where the package allows it.

Interruptions lose nothing already copied: ``--run`` again restores each contestant's last copied
checkpoint, restarts its package with its resume option and counts CPU time from that copy's.
A contestant's state records its recipe's arguments at its first start: a run is neither resumed nor
judged under a recipe changed since (delete its state to train it again).
State: runs/training-race/ (``--workdir``). Results: benchmarks/results/training_race.json, and
with ``--report`` docs/accuracy_race.md and docs/images/accuracy_race.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from attnff.units import ENERGY_UNITS  # noqa: E402
from reference_data import reference_path  # noqa: E402

DATA = ROOT / "data" / "external" / "md17_ethanol_2000.npz"
SPLIT = {"train": (0, 950), "validation": (950, 1000), "test": (1000, 2000)}
CHECKPOINTS_MIN = (10, 20, 40, 80)
POLL_S = 2.0
TICKS = os.sysconf("SC_CLK_TCK")
KCAL_MOL_EV = ENERGY_UNITS["kcal/mol"]
RESULTS = ROOT / "benchmarks" / "results" / "training_race.json"
DOC = ROOT / "docs" / "accuracy_race.md"
PLOT = ROOT / "docs" / "images" / "accuracy_race.png"
PEER_VENVS = {"mace": ROOT / "benchmarks" / ".peers-venv-mace", "painn": ROOT / "benchmarks" / ".peers-venv"}
PEER_PACKAGES = {"mace": ["mace-torch==0.3.16", "torchmetrics==1.4.3"], "painn": ["schnetpack==2.0.4"]}
#: published full-budget MD17 ethanol test force MAEs (1000 training configurations), kcal/mol/A
PUBLISHED = {"SchNet": 0.39, "sGDML": 0.33, "PaiNN": 0.23, "DimeNet": 0.23}


# --- CPU time of a process tree -----------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from "state" on (field 3 of proc(5))


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and its live descendants, plus its reaped children."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
        tree.update(frontier)
    total = 0
    for pid in tree:
        fields = _stat(pid)
        if fields is not None:  # utime, stime, cutime, cstime: fields 14-17, here 11-14
            total += sum(int(v) for v in fields[11:15])
    return total / TICKS


# --- data -----------------------------------------------------------------------------------------

def load_ethanol() -> dict[str, np.ndarray]:
    """The 2000 frames: R (A), z, E (kcal/mol), F (kcal/mol/A)."""
    path = Path(reference_path(DATA))
    if not path.exists():
        raise SystemExit(f"no MD17 ethanol file at {DATA} (docs/data.md says where to get it)")
    with np.load(path) as data:
        return {key: np.asarray(data[key]) for key in ("R", "z", "E", "F")}


def write_peer_data(workdir: Path) -> None:
    """extxyz files (eV, for MACE) and an ASE database with a split file (kcal/mol, for schnetpack)."""
    from ase import Atoms
    from ase.io import write

    data = load_ethanol()
    folder = workdir / "data"
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for r, e, f in zip(data["R"], data["E"].reshape(-1), data["F"], strict=True):
        atoms = Atoms(numbers=data["z"], positions=r)
        atoms.info["REF_energy"] = float(e) * KCAL_MOL_EV
        atoms.arrays["REF_forces"] = f * KCAL_MOL_EV
        frames.append(atoms)
    for name, (start, stop) in SPLIT.items():
        write(folder / f"{name}.xyz", frames[start:stop], format="extxyz")
    np.savez(folder / "split.npz", **{f"{key}_idx": np.arange(*SPLIT[name])
                                       for key, name in (("train", "train"), ("val", "validation"),
                                                         ("test", "test"))})
    np.savez(folder / "ethanol.npz", **data)


# --- contestants -----------------------------------------------------------------------------------

@dataclass
class Contestant:
    """One package's model and recipe in the race."""

    name: str
    label: str
    kind: str  # "attnff", "mace" or "painn"
    recipe: str  # what docs/accuracy_race.md states
    args: list[str] = field(default_factory=list)
    #: another contestant whose training run this one reads (it trains nothing; its args differ only in
    #: what takes no part in training, such as training.keep)
    trained_by: str | None = None
    #: why the run ended before the last checkpoint, where it did (the report says "stopped", not "not yet")
    ended: str | None = None

    @property
    def run_name(self) -> str:
        return self.trained_by or self.name

    def python(self) -> str:
        return sys.executable if self.kind == "attnff" else str(PEER_VENVS[self.kind] / "bin" / "python")

    def command(self, run_dir: Path, resume: bool) -> list[str]:
        data = run_dir.parent.parent / "data"
        if self.kind == "attnff":
            return [self.python(), "-m", "attnff", "train", str(ROOT / self.args[0]), "--no-progress",
                    "--set", f"output={run_dir}", "--set", f"data.path={reference_path(DATA)}",
                    "--set", "training.max_minutes=0", "--set", "training.threads=1",
                    *[a for item in self.args[1:] for a in ("--set", item)], *(["--resume"] if resume else [])]
        if self.kind == "mace":
            return [str(PEER_VENVS["mace"] / "bin" / "mace_run_train"), f"--work_dir={run_dir}",
                    f"--train_file={data / 'train.xyz'}", f"--valid_file={data / 'validation.xyz'}",
                    *self.args, "--restart_latest"]
        return [str(PEER_VENVS["painn"] / "bin" / "spktrain"), "experiment=md17", "data=custom",
                f"data.datapath={data / 'ethanol.db'}", f"+data.split_file={data / 'split.npz'}",
                "data.num_train=950", "data.num_val=50", "data.num_test=1000", "data.num_workers=0",
                "data.num_val_workers=0", "data.num_test_workers=0", f"run.path={run_dir.parent}",
                f"run.id={run_dir.name}", "run.experiment=md17_ethanol", "trainer.accelerator=cpu", "logger=csv",
                *self.args]

    def watched(self, run_dir: Path) -> list[Path]:
        """Files whose change marks a new checkpoint (all are copied together)."""
        if self.kind == "attnff":
            return [run_dir / "checkpoint.pt"]
        if self.kind == "mace":
            return sorted((run_dir / "checkpoints").glob("*.pt"))
        return [run_dir / "checkpoints" / "last.ckpt", run_dir / "best_model"]


#: the shipped JAT config before its angular terms and tuning, and with the first angular terms only
JAT_OPTIMISER_BEFORE = ["training.lr=1.0e-3", "training.weight_decay=0.0"]
JAT_DISTANCES_ONLY = ["model.angular=0", "model.angular_degree=2", "model.angular_mixing=false",
                      "model.angular_products=false", *JAT_OPTIMISER_BEFORE]
JAT_ANGULAR = ["model.angular=16", "model.angular_degree=3", "model.angular_mixing=true",
               "model.angular_products=false", *JAT_OPTIMISER_BEFORE]
#: the CMRET recipe of the shipped config, pinned so that its race line and levers stay put if the config changes
CMRET_BEFORE = ["model.envelope=cosine", "model.angular=0", "model.angular_degree=2", "model.angular_mixing=false",
                "model.angular_products=false", "training.lr=1.0e-3"]
#: GeomAtt's recipe before the angular term, pinned likewise
GEOMATT_BEFORE = ["model.angular=0", "model.angular_degree=2", "model.angular_mixing=false",
                  "model.angular_products=false"]
#: JAT's angular invariants with four-body products, as overrides for any model that has them
ANGULAR_PRODUCTS = ["model.angular=16", "model.angular_degree=3", "model.angular_mixing=true",
                    "model.angular_products=true"]
#: what the shipped CMRET recipe sets beyond the config's model and schedule, pinned for the lines built on it
CMRET_ANGULAR = ["model.envelope=polynomial", "training.lr=3.0e-3", *ANGULAR_PRODUCTS]
CONTESTANTS = {
    "jat": Contestant("jat", "attnff JAT, distances only", "attnff",
                      "JAT with distances only (the thesis' invariants), width 64, 4 layers, 4 heads, 16 Bessel "
                      "functions, batch 16, lr 1e-3 warm-up + cosine, forces weight 100, EMA 0.995; 1850 epochs "
                      "(sized for 80 CPU-minutes; the schedule ended at 78)",
                      ["examples/configs/jat_md17_ethanol.yaml", *JAT_DISTANCES_ONLY, "training.epochs=1850",
                       "training.patience=1850"]),
    "cmret": Contestant("cmret", "attnff CMRET, no angular term", "attnff",
                        "CMRET's recipe before the angular term: width 64, 4 layers, 4 heads, 32 basis "
                        "functions, cosine envelope, batch 10, lr 1e-3 warm-up + cosine, forces weight 100, EMA "
                        "0.99; 410 epochs (sized for 80 CPU-minutes; the schedule ended at 65)",
                        ["examples/configs/cmret_md17_ethanol.yaml", *CMRET_BEFORE, "training.epochs=410",
                         "training.patience=410"]),
    "cmret-angular": Contestant("cmret-angular", "attnff CMRET + angular products", "attnff",
                                "examples/configs/cmret_md17_ethanol.yaml, the shipped recipe: as attnff CMRET "
                                "with no angular term, plus JAT's angular invariants and four-body products in "
                                "every layer (16 channels, degree 3, mixed) and peak lr 3e-3 (each measured below, "
                                "Levers), and the polynomial envelope (the energy twice differentiable at the cutoff; "
                                "also measured below); 280 epochs (sized for 80 "
                                "CPU-minutes from the 17 CPU-seconds per epoch measured beside the GeomAtt + "
                                "angular run on the other core; the schedule ended at 73)",
                                ["examples/configs/cmret_md17_ethanol.yaml", *CMRET_ANGULAR, "training.epochs=280",
                                 "training.patience=280"]),
    "cmret-angular-b5": Contestant("cmret-angular-b5", "attnff CMRET + angular products, batch 5", "attnff",
                                   "as attnff CMRET + angular products, with batch 5 (from 10): twice the optimiser "
                                   "steps per epoch; 200 epochs (sized for 80 CPU-minutes from a two-epoch probe "
                                   "beside another run); it diverged: the training loss "
                                   "became NaN in epoch 60, at 21 CPU-minutes, where the run stopped",
                                   ["examples/configs/cmret_md17_ethanol.yaml", *CMRET_ANGULAR,
                                    "training.batch_size=5",
                                    "training.epochs=200", "training.patience=200"],
                                   ended="diverged at 21 CPU-minutes"),
    "cmret-angular-wd": Contestant("cmret-angular-wd", "attnff CMRET + angular products, weight decay 0.01",
                                   "attnff",
                                   "as attnff CMRET + angular products, with AdamW weight decay 0.01 (from 0): at 80 "
                                   "CPU-minutes the shipped recipe fits its training set far more closely than "
                                   "its validation set (train loss against validation errors in its "
                                   "metrics.jsonl); 280 epochs (the schedule ended at 68 CPU-minutes)",
                                   ["examples/configs/cmret_md17_ethanol.yaml", *CMRET_ANGULAR,
                                    "training.weight_decay=0.01",
                                    "training.epochs=280", "training.patience=280"]),
    "cmret-angular-huber": Contestant("cmret-angular-huber", "attnff CMRET + angular products, Huber loss", "attnff",
                                      "as attnff CMRET + angular products, with the Huber loss (delta 0.01) instead "
                                      "of MSE (-4.5 % at 10 CPU-minutes, Levers); 280 epochs, as the shipped recipe",
                                      ["examples/configs/cmret_md17_ethanol.yaml", *CMRET_ANGULAR,
                                       "training.loss=huber",
                                       "training.epochs=280", "training.patience=280"]),
    "geomatt": Contestant("geomatt", "attnff GeomAtt, no angular term", "attnff",
                          "GeomAtt's recipe before the angular term: width 64, 3 layers, orders 2-4, 100 Gaussians, "
                          "batch 10, lr 1e-3 warm-up + cosine, forces weight 100, EMA 0.99; 320 epochs (the schedule "
                          "sized for 80 CPU-minutes; it ended at 76). Its 40- and 80-minute models are the same "
                          "best-validation weights: the validation error stopped improving before 40 CPU-minutes",
                          ["examples/configs/geomatt_md17_ethanol.yaml", *GEOMATT_BEFORE, "training.epochs=320",
                           "training.patience=320"]),
    "geomatt-angular": Contestant("geomatt-angular", "attnff GeomAtt + angular products", "attnff",
                                  "examples/configs/geomatt_md17_ethanol.yaml, the shipped recipe: as attnff "
                                  "GeomAtt with no angular term, plus JAT's angular invariants and four-body "
                                  "products in every interaction (16 channels, degree 3, mixed; measured below, "
                                  "Levers); 230 epochs "
                                  "(sized for 80 CPU-minutes from the lever's 21 CPU-seconds per epoch beside "
                                  "another run; the schedule ended at 95, after the 80-minute checkpoint)",
                                  ["examples/configs/geomatt_md17_ethanol.yaml", "training.epochs=230",
                                   "training.patience=230"]),
    "jat-angular": Contestant("jat-angular", "attnff JAT + angular", "attnff",
                              "as attnff JAT with distances only, plus 16 channels of angular invariants "
                              "(degree 3, mixed over channels) in every layer, as jat-ean uses them; 1000 epochs "
                              "(the schedule ended at 50 "
                              "CPU-minutes)",
                              ["examples/configs/jat_md17_ethanol.yaml", *JAT_ANGULAR, "training.epochs=1000",
                               "training.patience=1000"]),
    "jat-products": Contestant("jat-products", "attnff JAT + angular products", "attnff",
                               "examples/configs/jat_md17_ethanol.yaml, the shipped recipe: as attnff JAT + angular, "
                               "with the four-body angular products, peak lr 3e-3 and AdamW weight decay 0.05 (each "
                               "measured below, Levers); 950 epochs (sized for 80 CPU-minutes from a probe under "
                               "load; alone on its core the schedule ended at 56.5)",
                               ["examples/configs/jat_md17_ethanol.yaml", "training.epochs=950",
                                "training.patience=950"]),
    "jat-products-long": Contestant("jat-products-long", "attnff JAT + angular products, longer schedule",
                                    "attnff",
                                    "as attnff JAT + angular products, with 1100 epochs (sized for 80 CPU-minutes "
                                    "at the 4.4 CPU-seconds per epoch measured beside a CMRET run on the other core)",
                                    ["examples/configs/jat_md17_ethanol.yaml", "training.epochs=1100",
                                     "training.patience=1100"]),
    "mace": Contestant(
        "mace", "MACE", "mace",
        "mace-torch 0.3.16, the README's training example: MACE, 128x0e+128x1o, r_max 5, batch 10, EMA 0.99, "
        "amsgrad, E0s average, float64, lr 0.01, energy/forces weights 1/100, stage two (SWA: weights 1000/100, "
        "lr 1e-3) for the last fifth of the epochs that fit 80 CPU-minutes",
        ["--name=mace", "--model=MACE", "--hidden_irreps=128x0e + 128x1o", "--r_max=5.0", "--batch_size=10",
         "--max_num_epochs=27", "--swa", "--start_swa=22", "--ema", "--ema_decay=0.99", "--amsgrad",
         "--E0s=average", "--config_type_weights={\"Default\":1.0}", "--device=cpu", "--seed=123",
         "--error_table=TotalMAE"]),
    "painn": Contestant(
        "painn", "PaiNN (schnetpack)", "painn",
        "schnetpack 2.0.4, `spktrain experiment=md17` on the race's split: PaiNN, 128 features, 3 interactions, "
        "cosine cutoff 5 A, batch 10, Adam lr 1e-3 with reduce-on-plateau, energy/forces weights 0.01/0.99 "
        "(kcal/mol), EMA 0.995, float32",
        []),
}




def judged_by_final_weights(contestant: Contestant) -> Contestant:
    """The same training run, its checkpoints judged by their last epoch's weights (training.keep=final)."""
    return Contestant(f"{contestant.name}-final", f"{contestant.label}, final weights", contestant.kind,
                      f"the run of {contestant.label}, with each checkpoint's last-epoch (EMA) weights instead of "
                      "the best-validation epoch's (training.keep=final)",
                      [*contestant.args, "training.keep=final"], trained_by=contestant.name)


for _judged in ("jat-products", "jat-products-long"):
    CONTESTANTS[f"{_judged}-final"] = judged_by_final_weights(CONTESTANTS[_judged])


# --- the race ----------------------------------------------------------------------------------

class Race:
    """Runs contestants under a CPU budget, copying their checkpoints with the CPU seconds spent."""

    def __init__(self, workdir: Path):
        self.workdir = workdir.resolve()
        self.state: dict[str, dict] = {}

    def _state_path(self, name: str) -> Path:
        return self.workdir / "state" / f"{name}.json"

    def save(self, name: str) -> None:
        """One file per contestant, so that several drivers may run different contestants."""
        path = self._state_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entry(name), indent=1) + "\n")
        tmp.replace(path)

    def entry(self, name: str) -> dict:
        if name not in self.state:
            path = self._state_path(name)
            self.state[name] = json.loads(path.read_text()) if path.exists() else {"snapshots": [], "finished": False}
        return self.state[name]

    def check_recipe(self, contestant: Contestant) -> None:
        """Refuse to resume or judge a run trained with other settings than the contestant's now (the
        state records them at the first start; states from before that record nothing)."""
        trained = CONTESTANTS[contestant.run_name]
        recorded = self.entry(trained.name).get("args")
        if recorded is not None and recorded != trained.args:
            raise SystemExit(f"{trained.name}: its run under {self.workdir} was trained with {recorded}, the recipe "
                             f"now says {trained.args}; delete state/{trained.name}.json, runs/{trained.name} and "
                             f"snapshots/{trained.name} there to train it again")

    def run_dir(self, name: str) -> Path:
        return self.workdir / "runs" / name

    def start(self, contestant: Contestant) -> tuple[subprocess.Popen, float, dict]:
        """Start (or resume from its last copied checkpoint) one contestant."""
        self.check_recipe(contestant)
        entry, run_dir = self.entry(contestant.name), self.run_dir(contestant.name)
        snapshots = entry["snapshots"]
        if snapshots:  # the package resumes from exactly the last copy; later work is redone and recounted
            last = self.workdir / "snapshots" / contestant.name / snapshots[-1]["folder"]
            for old in contestant.watched(run_dir):
                old.unlink(missing_ok=True)
            for path, rel in snapshots[-1]["files"].items():
                target = run_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(last / path, target)
            offset = snapshots[-1]["cpu_s"]
        else:
            entry["args"] = contestant.args
            shutil.rmtree(run_dir, ignore_errors=True)
            offset = 0.0
        run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PYTHONUNBUFFERED": "1"}
        if contestant.kind == "attnff":  # this checkout's attnff, whatever else is installed
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        log = open(self.workdir / f"{contestant.name}.log", "a")  # noqa: SIM115 (closed with the process)
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start at {offset:.0f} CPU-s\n")
        log.flush()
        cwd = run_dir if contestant.kind != "painn" else run_dir.parent
        process = subprocess.Popen(contestant.command(run_dir, resume=bool(snapshots)), cwd=cwd, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        seen = {str(p): self._signature(p) for p in contestant.watched(run_dir)}
        return process, offset, seen

    @staticmethod
    def _signature(path: Path) -> tuple[float, int] | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def snapshot(self, contestant: Contestant, cpu_s: float) -> None:
        run_dir = self.run_dir(contestant.name)
        folder = f"{cpu_s:08.0f}"
        target = self.workdir / "snapshots" / contestant.name / folder
        target.mkdir(parents=True, exist_ok=True)
        files = {}
        for path in contestant.watched(run_dir):
            if path.exists():
                shutil.copy2(path, target / path.name)
                files[path.name] = str(path.relative_to(run_dir))
        entry = self.entry(contestant.name)
        entry["snapshots"].append({"cpu_s": round(cpu_s, 1), "folder": folder, "files": files,
                                   "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        self.save(contestant.name)

    def run(self, names: list[str], budget_min: float, parallel: int) -> None:
        queue = [n for n in names if CONTESTANTS[n].trained_by is None and not self.entry(n)["finished"]
                 and not (self.entry(n)["snapshots"] and self.entry(n)["snapshots"][-1]["cpu_s"] >= 60 * budget_min)]
        running: dict[str, tuple[subprocess.Popen, float, dict]] = {}
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        try:
            while (queue or running) and not stop["now"]:
                while queue and len(running) < parallel:
                    name = queue.pop(0)
                    running[name] = self.start(CONTESTANTS[name])
                    print(f"{time.strftime('%H:%M:%S')} started {name}", flush=True)
                time.sleep(POLL_S)
                for name, (process, offset, seen) in list(running.items()):
                    contestant = CONTESTANTS[name]
                    cpu = offset + tree_cpu_seconds(process.pid)
                    changed = False
                    for path in contestant.watched(self.run_dir(name)):
                        signature = self._signature(path)
                        if signature is not None and signature != seen.get(str(path)):
                            time.sleep(0.5)  # let a plain (non-atomic) write finish
                            if self._signature(path) == signature:
                                seen[str(path)] = signature
                                changed = True
                    if changed:
                        self.snapshot(contestant, cpu)
                    done = process.poll() is not None
                    if cpu >= 60 * budget_min or done:
                        if not done:
                            os.killpg(process.pid, signal.SIGTERM)
                            try:
                                process.wait(30)
                            except subprocess.TimeoutExpired:
                                os.killpg(process.pid, signal.SIGKILL)
                        elif process.returncode != 0:
                            print(f"{name} exited with {process.returncode}; see {self.workdir / (name + '.log')}",
                                  flush=True)
                        self.entry(name)["finished"] = done and process.returncode == 0
                        self.entry(name)["cpu_s_at_stop"] = round(cpu, 1)
                        self.save(name)
                        del running[name]
                        print(f"{time.strftime('%H:%M:%S')} stopped {name} at {cpu / 60:.1f} CPU-min", flush=True)
        finally:  # interrupted: how far each one got counts for "budget reached" (not for its model)
            for name, (process, offset, _) in running.items():
                if process.poll() is None:
                    self.entry(name)["cpu_s_at_stop"] = round(offset + tree_cpu_seconds(process.pid), 1)
                    self.save(name)
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait()


# --- evaluation --------------------------------------------------------------------------------------

def snapshot_at(entry: dict, budget_s: float) -> dict | None:
    """The last checkpoint copied at or before ``budget_s`` CPU seconds."""
    before = [s for s in entry["snapshots"] if s["cpu_s"] <= budget_s]
    return before[-1] if before else None


def evaluate_snapshot(race: Race, name: str, snapshot: dict) -> dict:
    """Test energy and force MAE (eV, eV/A) of one copied checkpoint, in the contestant's environment."""
    contestant = CONTESTANTS[name]
    folder = race.workdir / "snapshots" / contestant.run_name / snapshot["folder"]
    result = folder / ("test_errors.json" if contestant.trained_by is None else f"test_errors-{name}.json")
    if result.exists():
        return json.loads(result.read_text())
    scratch = race.workdir / "eval" / name / snapshot["folder"]
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if contestant.kind == "attnff":
        shutil.copy2(folder / "checkpoint.pt", scratch / "checkpoint.pt")
        import torch

        epoch = int(torch.load(scratch / "checkpoint.pt", weights_only=True)["state"]["epoch"])
        command = [*contestant.command(scratch, resume=True), "--set", f"training.epochs={epoch}"]
        subprocess.run(command, check=True, env=env, capture_output=True)
        test = json.loads((scratch / "card.json").read_text())["metrics"]["test"]
        errors = {"energy_mae": test["energy_mae"], "forces_mae": test["forces_mae"], "epoch": epoch}
    else:
        training_command = contestant.command(race.run_dir(name), resume=True)
        command = [contestant.python(), str(ROOT / "benchmarks" / "race_peer_eval.py"), contestant.kind,
                   str(folder), str(scratch), str(race.workdir / "data"), json.dumps(training_command)]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"evaluating {name} at {snapshot['folder']} failed:\n{done.stderr[-3000:]}")
        errors = json.loads(done.stdout.strip().splitlines()[-1])
    result.write_text(json.dumps(errors) + "\n")
    return errors


def evaluate(race: Race, names: list[str]) -> dict:
    """Test errors of each contestant's model at each budget it has reached, into RESULTS (merged)."""
    updated = {}
    for name in names:
        race.check_recipe(CONTESTANTS[name])
        entry = race.entry(CONTESTANTS[name].run_name)
        rows = {}
        for minutes in CHECKPOINTS_MIN:
            snapshot = snapshot_at(entry, 60 * minutes)
            reached = entry.get("finished") or max([entry.get("cpu_s_at_stop", 0)]
                                                   + [s["cpu_s"] for s in entry["snapshots"]]) >= 60 * minutes
            if snapshot is None or not reached:
                continue
            errors = evaluate_snapshot(race, name, snapshot)
            rows[str(minutes)] = {**errors, "checkpoint_cpu_min": round(snapshot["cpu_s"] / 60, 2)}
            print(f"{name} {minutes} CPU-min: forces {errors['forces_mae'] / KCAL_MOL_EV:.3f} kcal/mol/A", flush=True)
        c = CONTESTANTS[name]
        updated[name] = {"label": c.label, "kind": c.kind, "recipe": c.recipe, "trained_by": c.trained_by,
                         "ended": c.ended,
                         "checkpoints": rows,
                         "checkpoints_written": len(entry["snapshots"]),
                         "checkpoints_at_cpu_min": [round(s["cpu_s"] / 60, 2) for s in entry["snapshots"][:12]]
                         + [round(s["cpu_s"] / 60, 2) for s in entry["snapshots"][12:][-1:]]}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # another --evaluate may have written
    results.update(updated)
    RESULTS.write_text(json.dumps({name: results[name] for name in CONTESTANTS if name in results}, indent=1) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "training-race")
    parser.add_argument("--only", nargs="+", choices=list(CONTESTANTS), default=list(CONTESTANTS))
    parser.add_argument("--setup", action="store_true", help="create the peer venvs and the peers' data files")
    parser.add_argument("--run", action="store_true", help="train (resumes where a previous --run stopped)")
    parser.add_argument("--budget", type=float, default=80.0, help="CPU-minutes per contestant")
    parser.add_argument("--parallel", type=int, default=2, help="contestants at a time (one thread each)")
    parser.add_argument("--evaluate", action="store_true", help="test errors at 10/20/40/80 CPU-minutes")
    parser.add_argument("--report", action="store_true", help="write docs/accuracy_race.md and the plot")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    race = Race(args.workdir)
    if args.setup:
        setup(args.workdir)
    if args.run:
        race.run(args.only, args.budget, args.parallel)
    if args.evaluate:
        evaluate(race, args.only)
    if args.report:
        from race_report import write_report

        levers = ROOT / "benchmarks" / "results" / "race_levers.json"
        write_report(json.loads(RESULTS.read_text()), DOC, PLOT, CHECKPOINTS_MIN, PUBLISHED,
                     json.loads(levers.read_text()) if levers.exists() else None)


def setup(workdir: Path) -> None:
    """Peer venvs (torch 2.13.0 CPU first, then the package) and the peers' data files."""
    for kind, venv in PEER_VENVS.items():
        python = venv / "bin" / "python"
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        constraints = venv / "constraints.txt"
        constraints.write_text("torch==2.13.0\n")
        subprocess.run([*pip, "-c", str(constraints), *PEER_PACKAGES[kind]], check=True)
        if kind == "painn":  # schnetpack 2.0.4 against torch 2.13: see the shim's comments
            site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  check=True, capture_output=True, text=True).stdout.strip()
            shutil.copy2(ROOT / "benchmarks" / "schnetpack_shim.py", Path(site) / "sitecustomize.py")
    write_peer_data(workdir)
    if not (workdir / "data" / "ethanol.db").exists():
        subprocess.run([str(PEER_VENVS["painn"] / "bin" / "python"), "-c", SPK_DB, str(workdir / "data")], check=True)


#: run in the schnetpack venv: the ASE database schnetpack reads, in the md17 experiment's units
SPK_DB = """
import sys, numpy as np
from ase import Atoms
from schnetpack.data import ASEAtomsData
folder = sys.argv[1]
d = np.load(folder + "/ethanol.npz")
db = ASEAtomsData.create(folder + "/ethanol.db", distance_unit="Ang",
                         property_unit_dict={"energy": "kcal/mol", "forces": "kcal/mol/Ang"})
db.add_systems([{"energy": np.array([e]), "forces": f} for e, f in zip(d["E"].reshape(-1), d["F"])],
               [Atoms(numbers=d["z"], positions=r) for r in d["R"]])
"""


if __name__ == "__main__":
    main()
