"""Speed benchmark: energy + forces per MD step through the ASE calculator; writes docs/performance.md.

    python benchmarks/speed.py                       # every size, attnff models, both allocators
    python benchmarks/speed.py --sizes 9 96 768      # a subset (9 = ethanol, others = water boxes)
    python benchmarks/speed.py --setup-peers         # create benchmarks/.peers-venv with the peers
    python benchmarks/speed.py --peers               # also time the installed peers in the same run
    python benchmarks/speed.py --report-only         # rewrite the doc and the plot from stored results
    python benchmarks/speed.py --quick --results /tmp/r.json --doc /tmp/p.md --plot /tmp/p.png

Systems: ethanol (examples/ethanol.xyz, 9 atoms, not periodic) and periodic liquid water
at 1.0 g/cm^3 built by replicating one deterministic, randomly packed 96-atom cell
(32 molecules): 96, 768 (2^3 copies), 6144 (4^3) and 49152 (8^3) atoms.

Each case (model, system, dtype, allocator) runs in a fresh subprocess, so its peak RSS
(``resource.getrusage(...).ru_maxrss``) is its own. Inside it, the atoms move by a small
deterministic displacement before each call (so the calculator really recomputes; the
displacement never exceeds half the neighbour-list skin, so the list is reused as in MD),
``--warmup`` calls are discarded and the median of ``--repeats`` timed calls is reported in
ms per call and microseconds per atom per step. Time is the process CPU time (user +
system, so page faults count) with one torch thread by default: on this machine, shared
with other jobs, the wall time of a niced process mostly measures its wait for a core (the
wall-time median is stored too, as wall_ms_per_call). The cost of one neighbour-list
build is timed separately (``nl_ms``); in MD it is paid once every few tens of steps.

Allocator variants (``--allocators``):
  default  what a user gets: AttnCalculator's default ``keep_memory=True`` (glibc thresholds
           raised by mallopt inside the process, see attnff/memory.py); peers: plain glibc.
  glibc    glibc's defaults untouched (``keep_memory=False``): freed autograd buffers above
           32 MiB are unmapped and page-faulted again on the next call.
  env      glibc's defaults plus MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ = 32 GiB in
           the child's environment (``keep_memory=False``), the fix a user can apply by hand.

Results accumulate in benchmarks/results/speed.json (one entry per case, replaced when
re-measured), so long sweeps can run in parts; the allocator table reads
benchmarks/results/speed_allocators.json when it exists (a run with all three variants back
to back, so that they share the machine's load); the doc and the log-log plot
(docs/images/performance_scaling.png) are rewritten from all stored entries after every run.
``--recompute`` adds each model with ``recompute_layers=True`` (layer intermediates recomputed
while taking forces instead of kept: less memory, more time), stored as ``<model>@recompute``;
``--no-recompute`` adds each model with ``recompute_layers=False`` (never recomputed, whatever the
memory), stored as ``<model>@plain``;
``--compile`` adds each model with ``compile_model=True`` (torch.compile, dynamic shapes), stored
as ``<model>@compile`` with the wall time of its first (compiling) call.
A child gets an address-space limit (``--memory-limit-gib``, default 12); a case that
exceeds it is stored as out of memory, not run again unless asked for.

Peers (``--peers``): mace-torch, schnetpack (SchNet, PaiNN), torchmd-net (equivariant
transformer) and nequip, randomly initialised at comparable hyperparameters (cutoff 5 A,
64 features, 4 interaction layers), timed by benchmarks/peer_runner.py with the peers
venv's Python on the same structures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PEERS_VENV = BENCH / ".peers-venv"
DEFAULT_RESULTS = BENCH / "results" / "speed.json"
#: the allocator experiment, all three variants of each case measured back to back in one run
DEFAULT_ALLOCATOR_RESULTS = BENCH / "results" / "speed_allocators.json"
DEFAULT_DOC = ROOT / "docs" / "performance.md"
DEFAULT_PLOT = ROOT / "docs" / "images" / "performance_scaling.png"

ATTNFF_MODELS = {"jat": "jat-md17-ethanol", "cmret": "cmret-md17-ethanol", "geomatt": "geomatt-md17-ethanol"}
PEER_MODELS = ("schnet", "painn", "nequip", "mace", "torchmd-et")
#: pip distribution that provides each peer model
PEER_PACKAGES = {"schnet": "schnetpack", "painn": "schnetpack", "nequip": "nequip", "mace": "mace-torch",
                 "torchmd-et": "torchmd-net"}
ALL_SIZES = (9, 96, 768, 6144, 49152)
TORCH_PIN = "torch==2.13.0"
#: environment of the "kept" allocator variant: freed memory stays mapped in the heap
KEEP_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 30), "MALLOC_TRIM_THRESHOLD_": str(32 << 30)}
ALLOCATORS = ("default", "glibc", "env")

# --- structures -------------------------------------------------------------------------------

WATER_MOLAR_MASS = 18.01528  # g/mol
AVOGADRO = 6.02214076e23
OH_BOND, HOH_ANGLE = 0.9572, math.radians(104.52)  # TIP3P geometry, Angstrom and rad


def water_cell_length(molecules: int, density: float = 1.0) -> float:
    """Edge in Angstrom of the cubic cell holding ``molecules`` waters at ``density`` g/cm^3."""
    volume_cm3 = molecules * WATER_MOLAR_MASS / AVOGADRO / density
    return (volume_cm3 * 1e24) ** (1.0 / 3.0)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def water_unit_cell(molecules: int = 32, seed: int = 0, min_oo: float = 2.5, min_other: float = 1.5):
    """A deterministic, randomly packed periodic cell of water at 1.0 g/cm^3 (ase.Atoms, O H H order).

    Oxygens are placed by rejection sampling (periodic O-O distance >= ``min_oo``), each
    molecule with TIP3P geometry and a random orientation, rejected again while any
    intermolecular pair is closer than ``min_other``.
    """
    from ase import Atoms

    length = water_cell_length(molecules)
    rng = np.random.default_rng(seed)
    local = np.array([[0.0, 0.0, 0.0],
                      [OH_BOND, 0.0, 0.0],
                      [OH_BOND * math.cos(HOH_ANGLE), OH_BOND * math.sin(HOH_ANGLE), 0.0]])
    placed: list[np.ndarray] = []

    def min_image(delta: np.ndarray) -> np.ndarray:
        return delta - length * np.round(delta / length)

    attempts = 0
    while len(placed) < molecules:
        attempts += 1
        if attempts > 200_000:
            raise RuntimeError("could not pack the water cell; lower min_oo or min_other")
        centre = rng.uniform(0.0, length, size=3)
        mol = centre + local @ _random_rotation(rng).T
        if placed:
            others = np.stack(placed)  # (M, 3, 3)
            d_oo = np.linalg.norm(min_image(others[:, 0] - mol[0]), axis=-1)
            if d_oo.min() < min_oo:
                continue
            d_all = np.linalg.norm(min_image(others.reshape(-1, 1, 3) - mol[None]), axis=-1)
            if d_all.min() < min_other:
                continue
        placed.append(mol)
    positions = np.concatenate(placed) % length
    return Atoms("OH2" * molecules, positions=positions, cell=[length] * 3, pbc=True)


def build_system(n_atoms: int):
    """Ethanol (9) or a water box of 96 * k^3 atoms; ase.Atoms."""
    from ase.io import read

    if n_atoms == 9:
        return read(ROOT / "examples" / "ethanol.xyz")
    copies = round((n_atoms / 96) ** (1.0 / 3.0))
    if 96 * copies**3 != n_atoms:
        raise ValueError(f"water boxes have 96 * k^3 atoms (96, 768, 6144, 49152, ...), not {n_atoms}")
    return water_unit_cell().repeat((copies, copies, copies))


def system_label(n_atoms: int) -> str:
    return "ethanol" if n_atoms == 9 else f"water {n_atoms}"


def displacement_pattern(n_atoms: int, seed: int = 1) -> np.ndarray:
    """(N, 3) unit-scale random directions; call k moves the atoms by 0.02 sin(k) times this, in Angstrom."""
    return np.random.default_rng(seed).normal(size=(n_atoms, 3)) / math.sqrt(3.0)


STEP_AMPLITUDE = 0.02  # Angstrom; max |move| about 0.02 * 4 / sqrt(3) < 0.05, far below skin / 2


# --- one case in a child process --------------------------------------------------------------

def _limit_memory(gib: float) -> None:
    if gib > 0:
        limit = int(gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def time_calls(atoms, warmup: int, repeats: int, max_seconds: float) -> dict:
    """Time ``atoms.get_forces()`` calls (energy computed in the same call) after warm-up.

    Returns the medians of the process CPU time (user + system, all threads: page faults
    count) and of the wall time per call, in ms, and the number of timed calls. On a machine
    shared with other jobs the CPU time is the meaningful number: the wall time of a niced
    process also holds the time it waited for a core.
    """
    base = atoms.positions.copy()
    pattern = displacement_pattern(len(atoms))
    cpu, wall = [], []
    started = time.process_time()
    for k in range(warmup + repeats):
        atoms.positions = base + STEP_AMPLITUDE * math.sin(k + 1.0) * pattern
        c0, t0 = time.process_time(), time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        c1, t1 = time.process_time(), time.perf_counter()
        if k >= warmup:
            cpu.append(c1 - c0)
            wall.append(t1 - t0)
            # a slow case stops after at least 3 timed calls once over its CPU-time budget
            if len(cpu) >= 3 and time.process_time() - started > max_seconds:
                break
    return {"ms_per_call": 1e3 * float(np.median(cpu)), "wall_ms_per_call": 1e3 * float(np.median(wall)),
            "calls": len(cpu)}


def run_attnff_case(case: dict) -> dict:
    """Time one attnff model on one system (in this process); returns the result fields."""
    import torch

    torch.set_num_threads(case["threads"])
    from attnff import AttnCalculator
    from attnff.neighbors import neighbor_list

    atoms = load_structure(case["structure"])
    import inspect

    options = {}
    if "keep_memory" in inspect.signature(AttnCalculator.__init__).parameters:  # absent before the change
        options["keep_memory"] = case["allocator"] == "default"
    if case["model"].endswith("@recompute"):
        options["recompute_layers"] = True
    if case["model"].endswith("@plain"):
        options["recompute_layers"] = False
    compiling = case["model"].endswith("@compile")
    if compiling:
        options["compile_model"] = True
    name = ATTNFF_MODELS[case["model"].split("@")[0]]
    calc = AttnCalculator.load(name, device="cpu", dtype=case["dtype"], **options)
    atoms.calc = calc
    first = {}
    if compiling:  # the compiling call, timed apart from the warm-up
        t0 = time.perf_counter()
        atoms.get_forces()
        first = {"first_call_s": time.perf_counter() - t0, "compiled": calc.compiled}
    fields = time_calls(atoms, case["warmup"], case["repeats"], case["max_seconds"]) | first
    t0 = time.process_time()
    neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, calc.potential.cutoff + calc.neighbors.skin)
    fields["nl_ms"] = 1e3 * (time.process_time() - t0)
    fields["edges"] = int(calc.neighbors._built.edge_index.shape[1]) if calc.neighbors._built is not None else 0
    fields.update(nl_builds=calc.neighbors.builds, threads=torch.get_num_threads())
    fields["recomputed"] = bool(calc.potential.recompute_layers)  # recompute_layers="auto" may switch it on
    return fields


def save_structure(atoms, path: Path) -> None:
    np.savez(path, numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array, pbc=atoms.pbc)


def load_structure(path: str):
    from ase import Atoms

    data = np.load(path)
    return Atoms(numbers=data["numbers"], positions=data["positions"], cell=data["cell"], pbc=data["pbc"])


def child_main(case_json: str) -> None:
    """Entry of the child process: run one case, print one JSON line."""
    case = json.loads(case_json)
    _limit_memory(case["memory_limit_gib"])
    try:
        fields = run_attnff_case(case)
        fields["status"] = "ok"
    except MemoryError as error:
        fields = {"status": "oom", "note": f"MemoryError: {error}"[:200]}
    except RuntimeError as error:  # torch reports failed allocations as RuntimeError
        text = str(error)
        status = "oom" if "alloc" in text.lower() or "memory" in text.lower() else "error"
        fields = {"status": status, "note": text.splitlines()[0][:200] if text else repr(error)}
    fields["peak_rss_mib"] = _peak_rss_mib()
    print("RESULT " + json.dumps(fields), flush=True)


# --- orchestration ----------------------------------------------------------------------------

def case_key(case: dict) -> str:
    return f"{case['model']}|{case['n_atoms']}|{case['dtype']}|{case['allocator']}"


def run_case_subprocess(case: dict, timeout: float) -> dict:
    """Run one case in a fresh interpreter (attnff: this file; peers: the peers venv's runner)."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(case["threads"]), MKL_NUM_THREADS=str(case["threads"]))
    root = case.get("attnff_root") or str(ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for key in KEEP_MEMORY_ENV:
        env.pop(key, None)
    if case["allocator"] == "env":
        env.update(KEEP_MEMORY_ENV)
    if case["model"] in PEER_MODELS:
        command = [str(PEERS_VENV / "bin" / "python"), str(BENCH / "peer_runner.py"), json.dumps(case)]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(case)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"over {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if lines:
        result = json.loads(lines[-1][len("RESULT "):])
    else:
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        # SIGKILL: the kernel's OOM killer; other signals (e.g. a stopped run) are not memory errors
        oom = proc.returncode == -9 or "MemoryError" in proc.stderr or "bad_alloc" in proc.stderr
        status = "oom" if oom else ("killed" if proc.returncode < 0 else "error")
        result = {"status": status, "note": f"exit {proc.returncode}: {tail[:200]}"}
    result["wall_s"] = time.perf_counter() - started
    return result


def machine_load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"cases": {}}


def save_results(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


#: RSS of an interpreter with torch and the model loaded, before any call (GiB)
BASE_RSS_GIB = 0.25


def predicted_peak_gib(results: dict, model: str, n_atoms: int, dtype: str) -> float | None:
    """Peak RSS (GiB) extrapolated linearly in atoms, or None without a smaller water box measured.

    Through the two largest smaller boxes measured when there are two (fixed part and slope
    from the data), else from the largest one and BASE_RSS_GIB as the fixed part.
    """
    measured = sorted({r["n_atoms"]: r["peak_rss_mib"] / 1024 for r in results["cases"].values()
                       if r.get("model") == model and r.get("dtype") == dtype and r.get("status") == "ok"
                       and 96 <= r["n_atoms"] < n_atoms}.items())
    if not measured:
        return None
    n, rss = measured[-1]
    if len(measured) >= 2:
        (n0, rss0), slope = measured[-2], (rss - measured[-2][1]) / (n - measured[-2][0])
        if slope > 0:
            return rss0 + slope * (n_atoms - n0)
    return BASE_RSS_GIB + (rss - BASE_RSS_GIB) * n_atoms / n


def should_skip(model: str, n_atoms: int, dtype: str, case_allocator: str, args, results: dict) -> str | None:
    """A reason to skip the case without running it, or None."""
    predicted = predicted_peak_gib(results, model, n_atoms, dtype)
    # a plain attnff model adapts itself (recompute_layers="auto" within the RLIMIT_AS budget): no guard
    adapts = model in ATTNFF_MODELS
    if args.memory_limit_gib > 0 and predicted is not None and predicted > args.memory_limit_gib and not adapts:
        return (f"predicted peak RSS {predicted:.1f} GiB (linear in atoms from smaller boxes) "
                f"exceeds the {args.memory_limit_gib:g} GiB limit")
    if model.endswith("@baseline") and case_allocator == "default" and "glibc" in args.allocators:
        return "the baseline's default is glibc's"
    if model in PEER_MODELS:
        if n_atoms > args.peer_max_atoms:
            return f"skipped: peers only up to {args.peer_max_atoms} atoms (memory guard)"
        if case_allocator == "glibc" and "default" in args.allocators:
            return "a peer's default is glibc's"
    return None


def run_sweep(args) -> None:
    results = load_results(args.results)
    models = [] if args.variants_only else list(args.models)
    if args.baseline_root:
        models += [f"{model}@baseline" for model in args.models]
    if args.recompute:
        models += [f"{model}@recompute" for model in args.models]
    if args.no_recompute:
        models += [f"{model}@plain" for model in args.models]
    if args.compile:
        models += [f"{model}@compile" for model in args.models]
    if args.peers:
        available = peers_available()
        for peer in args.peer_models:
            if peer in available:
                models.append(peer)
            else:
                print(f"peer {peer}: not available ({peer_install_note(peer)})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n_atoms in args.sizes:
            structure = Path(tmp) / f"system_{n_atoms}.npz"
            save_structure(build_system(n_atoms), structure)
            for model in models:
                for dtype in args.dtypes:
                    for allocator in args.allocators:
                        case = {"model": model, "n_atoms": n_atoms, "dtype": dtype, "allocator": allocator,
                                "structure": str(structure), "warmup": args.warmup, "repeats": args.repeats,
                                "max_seconds": args.max_seconds, "threads": args.threads,
                                "memory_limit_gib": args.memory_limit_gib}
                        if model.endswith("@baseline"):
                            case["attnff_root"] = str(args.baseline_root)
                        key = case_key(case)
                        previous = results["cases"].get(key)
                        if previous and previous.get("status") == "oom" and not args.retry_oom:
                            print(f"{key}: stored as out of memory, not rerun", flush=True)
                            continue
                        reason = should_skip(model, n_atoms, dtype, allocator, args, load_results(args.results))
                        if reason:
                            result = {"status": "skipped", "note": reason}
                        else:
                            result = run_case_subprocess(case, args.case_timeout)
                        result.update(model=model, n_atoms=n_atoms, dtype=dtype, allocator=allocator,
                                      load=machine_load(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      run=args.run_label)
                        # re-read before writing: another sweep may share the file
                        results = load_results(args.results)
                        results["cases"][key] = result
                        save_results(results, args.results)
                        print(f"{key}: {format_result(result)}", flush=True)
    results = load_results(args.results)
    results["machine"] = machine_description()
    save_results(results, args.results)


def format_result(result: dict) -> str:
    if result.get("status") != "ok":
        return f"{result.get('status')} ({result.get('note', '')})"
    return (f"{result['ms_per_call']:.2f} ms/call, {us_per_atom(result):.1f} us/atom/step, "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB, {result['calls']} calls")


def us_per_atom(result: dict) -> float:
    return 1e3 * result["ms_per_call"] / result["n_atoms"]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


# --- peers venv -------------------------------------------------------------------------------

def peers_status_file() -> Path:
    return PEERS_VENV / "attnff_peers_status.json"


def peers_available() -> set[str]:
    path = peers_status_file()
    if not path.exists():
        return set()
    status = json.loads(path.read_text())
    return {peer for peer, package in PEER_PACKAGES.items() if status.get(package, {}).get("ok")}


def peer_install_note(peer: str) -> str:
    path = peers_status_file()
    if not path.exists():
        return "no peers venv; run --setup-peers"
    return json.loads(path.read_text()).get(PEER_PACKAGES[peer], {}).get("note", "not attempted")


#: import checked after installing each distribution
PEER_IMPORTS = {"schnetpack": ("import typing, torch.utils.data.dataloader as d; "
                               "d.T_co = typing.TypeVar('T_co', covariant=True); import schnetpack"),
                "nequip": "import nequip",
                "mace-torch": "from mace.modules import MACE", "torchmd-net": "import torchmdnet.models.model"}


def setup_peers(packages: list[str]) -> None:
    """Create benchmarks/.peers-venv: torch 2.13.0 (CPU) first, then each peer on its own."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    constraints = PEERS_VENV / "constraints.txt"
    constraints.write_text(TORCH_PIN + "\n")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    status_path = peers_status_file()
    status = json.loads(status_path.read_text()) if status_path.exists() else {}
    log = PEERS_VENV / "install.log"

    def install(name: str, requirement: list[str], check: str) -> None:
        started = time.perf_counter()
        with log.open("a") as stream:
            stream.write(f"\n==== {name}: pip install {' '.join(requirement)}\n")
            stream.flush()
            proc = subprocess.run(pip + ["-c", str(constraints)] + requirement, stdout=stream, stderr=stream)
        if proc.returncode != 0:
            entry = {"ok": False, "note": f"pip install failed (exit {proc.returncode}); see {log.name}"}
        else:
            test = subprocess.run([str(python), "-c", check], capture_output=True, text=True)
            tail = (test.stderr.strip().splitlines() or [""])[-1]
            entry = {"ok": test.returncode == 0, "note": "installed" if test.returncode == 0
                     else f"installed but import fails: {tail[:200]}"}
        version = subprocess.run([str(python), "-m", "pip", "show", name], capture_output=True, text=True).stdout
        entry["version"] = next((line.split(":", 1)[1].strip() for line in version.splitlines()
                                 if line.startswith("Version:")), None)
        entry["seconds"] = round(time.perf_counter() - started)
        status[name] = entry
        status_path.write_text(json.dumps(status, indent=1) + "\n")
        print(f"{name}: {entry}", flush=True)

    install("torch", [TORCH_PIN, "numpy", "ase"], "import torch, ase")
    if not status["torch"]["ok"]:
        raise SystemExit("torch did not install in the peers venv; see " + str(log))
    for package in packages:
        install(package, [package], PEER_IMPORTS[package])


# --- report -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(ALL_SIZES),
                        help="atom counts: 9 (ethanol) and water boxes 96 * k^3 (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=list(ATTNFF_MODELS), choices=list(ATTNFF_MODELS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--allocators", nargs="+", default=list(ALLOCATORS), choices=list(ALLOCATORS))
    parser.add_argument("--peers", action="store_true", help="also time the peers installed by --setup-peers")
    parser.add_argument("--only-peers", action="store_true", help="time the peers but no attnff model")
    parser.add_argument("--peer-max-atoms", type=int, default=6144, help="skip peers above this size")
    parser.add_argument("--peer-models", nargs="+", default=list(PEER_MODELS), choices=list(PEER_MODELS),
                        help="with --peers: which peers to time")
    parser.add_argument("--setup-peers", action="store_true", help="create the peers venv and exit")
    parser.add_argument("--peer-packages", nargs="+", default=["schnetpack", "nequip", "mace-torch", "torchmd-net"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="CPU-time budget of the timed calls of one case (at least 3 calls are timed)")
    parser.add_argument("--case-timeout", type=float, default=7200.0, help="wall-clock limit of one case")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in each child (default 1: the 2 cores are shared with other jobs)")
    parser.add_argument("--memory-limit-gib", type=float, default=12.0, help="RLIMIT_AS of each child; 0: none")
    parser.add_argument("--baseline-root", type=Path,
                        help="also time each attnff model with the attnff package found under this path (e.g. a "
                             "`git worktree` of an older commit), stored as <model>@baseline")
    parser.add_argument("--recompute", action="store_true",
                        help="also time each model with recompute_layers=True (stored as <model>@recompute)")
    parser.add_argument("--no-recompute", action="store_true",
                        help="also time each model with recompute_layers=False (stored as <model>@plain)")
    parser.add_argument("--compile", action="store_true",
                        help="also time each model with compile_model=True (stored as <model>@compile)")
    parser.add_argument("--variants-only", action="store_true",
                        help="time only the --baseline-root/--recompute/--no-recompute/--compile variants, "
                             "not the plain models")
    parser.add_argument("--retry-oom", action="store_true", help="rerun cases stored as out of memory")
    parser.add_argument("--run-label", default=time.strftime("%Y-%m-%d", time.gmtime()),
                        help="text stored with each result as 'run' (default: today's date, UTC); the report pairs "
                             "before/after cases of the same run")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: ethanol and 96 atoms, JAT, float32")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the doc and plot")
    parser.add_argument("--no-report", action="store_true", help="store the results but leave the doc alone")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--allocator-results", type=Path, default=DEFAULT_ALLOCATOR_RESULTS,
                        help="results file of the allocator table, if it exists (else --results): e.g. "
                             "--results this --sizes 768 6144 --models jat cmret")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    args = parser.parse_args(argv)

    if args.child:
        child_main(args.child)
        return
    if args.setup_peers:
        setup_peers(args.peer_packages)
        return
    if args.quick:
        args.sizes, args.models, args.dtypes, args.allocators = [9, 96], ["jat"], ["float32"], ["default"]
        args.warmup, args.repeats = 1, 3
    if args.only_peers:
        args.models, args.peers = [], True
    if not args.report_only:
        run_sweep(args)
    if not args.no_report:
        if str(BENCH) not in sys.path:
            sys.path.insert(0, str(BENCH))
        from speed_report import write_report  # benchmarks/speed_report.py

        allocators = load_results(args.allocator_results) if args.allocator_results.exists() else None
        write_report(load_results(args.results), args.doc, args.plot, allocators)


if __name__ == "__main__":
    main()
