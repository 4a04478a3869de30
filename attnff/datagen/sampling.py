"""Resumable sampling of labelled configurations: packed boxes, short MD, and active learning.

Work is split into segments. A segment packs one box, optionally relaxes it, runs
Langevin MD with a driver (the reference itself, or a trained attnff potential for
active learning) and labels a frame every ``stride`` steps with the reference. A
segment with ``equilibrate_steps`` uses the potential only to equilibrate the box and
hands the MD over to the reference, which drives ``warmup_steps`` and then the labelled
frames: reference MD of an equilibrated liquid, at a fraction of the reference's cost.
Every labelled frame is appended to the segment's part file at once, with its
momenta, so an interrupted run continues from the last frame and loses nothing.
The random numbers of each MD chunk are seeded by (segment seed, frame index),
so a resumed segment follows the same recipe as an uninterrupted one; it agrees
with it up to the SCF tolerance (the resumed SCF starts from a fresh guess).
"""

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from io import StringIO
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from ase import Atoms, io, units
from ase.md.langevin import Langevin
from ase.optimize import FIRE

from ..errors import InvalidStructureError
from ..md import thermalize_momenta
from .packing import pack_box
from .reference import reference_label, tblite_calculator

__all__ = ["Segment", "run_segment", "generate", "min_distance"]


@dataclass(frozen=True)
class Segment:
    """One box and its trajectory.

    Attributes:
        index: position in the plan; names the part file.
        seed: seeds the packing and every MD chunk.
        density_g_cm3: packing density.
        temperature_K: Langevin temperature.
        frames: labelled frames this segment contributes.
        stride: MD steps between labelled frames.
        relax_steps: FIRE steps before MD (driver forces).
        relax_labels: how many of the relax steps are labelled too (evenly spaced; reference driver only).
        timestep_fs: MD time step.
        friction_per_fs: Langevin friction.
        potential: attnff potential name or file driving the MD (active learning), or None for the reference.
        equilibrate_steps: with a potential, MD steps it runs before the reference takes the MD over
            (0: the potential drives every step, active learning).
        warmup_steps: reference MD steps after the hand-over before the first labelled frame.
    """

    index: int
    seed: int
    density_g_cm3: float
    temperature_K: float
    frames: int
    stride: int
    relax_steps: int = 20
    relax_labels: int = 4
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.02
    potential: str | None = None
    equilibrate_steps: int = 0
    warmup_steps: int = 0

    @property
    def name(self) -> str:
        return f"segment{self.index:04d}"

    @property
    def labelled_relax_frames(self) -> int:
        return 0 if self.potential else min(self.relax_labels, self.frames)

    @property
    def reference_drives_labels(self) -> bool:
        """Whether the reference runs the MD between labelled frames (not a trained potential)."""
        return self.potential is None or self.equilibrate_steps > 0

    @property
    def stage(self) -> str:
        """The stage name of the segment's MD frames: "md", "active" or "equilibrated-md"."""
        if self.potential is None:
            return "md"
        return "equilibrated-md" if self.equilibrate_steps else "active"

    def driver_label(self, method: str) -> str:
        """``info["driver"]`` of the segment's frames: what ran the MD that led to them."""
        if self.potential is None:
            return method
        if self.equilibrate_steps:
            return f"{method} after {self.equilibrate_steps} steps of {self.potential}"
        return self.potential


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance (Angstrom), minimum image for periodic directions."""
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return float(distances[np.triu_indices(len(atoms), 1)].min())


def _read_part(path: Path) -> list[Atoms]:
    """Frames already labelled; a torn last frame (interrupted write) is dropped and the file rewritten."""
    if not path.exists():
        return []
    text = path.read_text()
    frames = []
    lines = text.splitlines(keepends=True)
    cursor, kept = 0, 0
    while cursor < len(lines):
        try:
            natoms = int(lines[cursor])
        except ValueError:
            break
        block = lines[cursor:cursor + natoms + 2]
        if len(block) < natoms + 2 or not block[-1].endswith("\n"):
            break
        frame = io.read(StringIO("".join(block)), format="extxyz")
        assert isinstance(frame, Atoms)  # one frame per block
        frames.append(frame)
        cursor += natoms + 2
        kept += sum(len(line) for line in block)
    if kept != len(text):
        path.write_text(text[:kept])
    return frames


def _append(path: Path, atoms: Atoms) -> None:
    """Append one frame and flush it to disk."""
    with path.open("a") as handle:
        io.write(handle, atoms, format="extxyz")
        handle.flush()
        os.fsync(handle.fileno())


def _driver(segment: Segment, reference):
    if segment.potential is None:
        return reference
    from ..calculator import AttnCalculator
    return AttnCalculator.load(segment.potential, device="cpu", dtype="float32")


_PACKING_RETRIES = 50


def _start(segment: Segment, molecules: list[Atoms], attempt: int) -> Atoms:
    """A freshly packed box; at high density a random insertion order can jam, so other seeds are tried."""
    for retry in range(_PACKING_RETRIES):
        try:
            return pack_box(molecules, segment.density_g_cm3, seed=segment.seed + 7919 * attempt + 104729 * retry)
        except ValueError as error:
            failure = error
    raise ValueError(f"segment {segment.name}: {_PACKING_RETRIES} packing seeds failed; last: {failure}")


def _langevin(atoms: Atoms, segment: Segment, rng: np.random.Generator) -> Langevin:
    """The segment's Langevin integrator for one chunk of MD, drawing its noise from ``rng``."""
    return Langevin(atoms, segment.timestep_fs * units.fs, temperature_K=segment.temperature_K,
                    friction=segment.friction_per_fs / units.fs, rng=rng, fixcm=False)


#: closest approach (Angstrom) at which an active-learning trajectory counts as collided
_COLLISION_DISTANCE = 0.6


def _md_chunk(atoms: Atoms, segment: Segment, rng: np.random.Generator) -> bool:
    """Run ``segment.stride`` MD steps; False when a trained potential let atoms collide.

    A collision is two atoms closer than 0.6 A after the chunk, or, within it, closer than the
    calculator accepts (it refuses overlapping atoms). The reference driver never collides here:
    its errors propagate.
    """
    return _run_md(atoms, segment, rng, segment.stride, segment.reference_drives_labels)


def _run_md(atoms: Atoms, segment: Segment, rng: np.random.Generator, steps: int, reference_driven: bool) -> bool:
    """``steps`` Langevin steps; False when a trained potential let atoms collide (see ``_md_chunk``)."""
    try:
        _langevin(atoms, segment, rng).run(steps)
    except InvalidStructureError:
        if reference_driven:
            raise
        return False
    return reference_driven or min_distance(atoms) >= _COLLISION_DISTANCE


def _equilibrated_start(segment: Segment, molecules: list[Atoms], driver, reference) -> Atoms:
    """A packed box relaxed and run for ``segment.equilibrate_steps`` with the potential, then
    ``segment.warmup_steps`` with the reference (whose calculator it then carries)."""
    attempt = 0
    while True:
        atoms = _start(segment, molecules, attempt)
        atoms.calc = driver
        FIRE(atoms, maxstep=0.1, logfile=None).run(fmax=0.05, steps=segment.relax_steps)
        rng = np.random.default_rng([segment.seed, 1_000_000 + attempt])
        thermalize_momenta(atoms, segment.temperature_K, rng=rng)
        if _run_md(atoms, segment, rng, segment.equilibrate_steps, reference_driven=False):
            break
        attempt += 1  # the potential let atoms collide: start afresh
    atoms.calc = reference
    _run_md(atoms, segment, rng, segment.warmup_steps, reference_driven=True)
    return atoms


def run_segment(segment: Segment, molecules: list[Atoms], method: str, part_path: Path, progress=None) -> dict:
    """Label the frames of ``segment`` that ``part_path`` does not hold yet; returns timing information.

    ``progress``, if given, is a queue that receives 1 for every newly labelled frame.
    """
    part_path = Path(part_path)
    done = _read_part(part_path)
    started = time.perf_counter()
    if len(done) >= segment.frames:
        return {"segment": segment.name, "new_frames": 0, "seconds": 0.0}
    reference = tblite_calculator(method)
    attempt = 0
    if done:
        atoms = done[-1].copy()
    elif segment.equilibrate_steps:
        atoms = _equilibrated_start(segment, molecules, _driver(segment, reference), reference)
    else:
        atoms = _start(segment, molecules, attempt)
    # the MD between labels: the reference, or the trained potential in active learning
    driver = reference if segment.reference_drives_labels else _driver(segment, reference)
    atoms.calc = driver

    def label(frame_index: int, stage: str) -> None:
        labelled = reference_label(atoms, reference, method)
        labelled.info.update(segment=segment.index, frame=frame_index, stage=stage,
                             temperature_K=segment.temperature_K, density_target=segment.density_g_cm3,
                             driver=segment.driver_label(method))
        _append(part_path, labelled)
        if progress is not None:
            progress.put(1)

    relax_labels = segment.labelled_relax_frames
    if not done and relax_labels == 0 and not segment.equilibrate_steps:
        FIRE(atoms, maxstep=0.1, logfile=None).run(fmax=0.05, steps=segment.relax_steps)
    if len(done) < relax_labels:
        optimizer = FIRE(atoms, maxstep=0.1, logfile=None)
        for frame_index in range(len(done), relax_labels):
            optimizer.run(fmax=0.0, steps=max(1, segment.relax_steps // relax_labels))
            label(frame_index, "relax")
    for frame_index in range(max(len(done), relax_labels), segment.frames):
        rng = np.random.default_rng([segment.seed, frame_index])
        if frame_index == relax_labels and not segment.equilibrate_steps:  # equilibrated boxes are thermal
            thermalize_momenta(atoms, segment.temperature_K, rng=rng)
        while not _md_chunk(atoms, segment, rng):
            attempt += 1  # the trained potential let atoms collide: start this segment's box afresh
            atoms = _start(segment, molecules, attempt)
            atoms.calc = driver
            FIRE(atoms, maxstep=0.1, logfile=None).run(fmax=0.05, steps=segment.relax_steps)
            thermalize_momenta(atoms, segment.temperature_K, rng=rng)
        label(frame_index, segment.stage)
    return {"segment": segment.name, "new_frames": segment.frames - len(done),
            "seconds": time.perf_counter() - started}


_PROGRESS = None  # the worker's progress queue, set by _worker_init


def _worker_init(progress, parent_pid: int) -> None:
    """One thread per worker; report frames to ``progress``; exit when the parent process is gone."""
    global _PROGRESS
    _PROGRESS = progress
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)

    def watch_parent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)  # frames already written are complete on disk; a torn one is dropped on resume

    threading.Thread(target=watch_parent, daemon=True).start()


def _run_in_worker(segment, molecules, method, part_path):
    return run_segment(segment, molecules, method, part_path, _PROGRESS)


def generate(segments: list[Segment], molecules: list[Atoms], method: str, out: Path, workers: int = 1,
             show_progress: bool = True) -> str:
    """Label every segment (resuming from ``<out>.parts/``), then write ``out`` and its sha256.

    Returns the sha256 hex digest of ``out``. ``<out>.json`` records the plan, the method and
    the seconds spent on each segment in this and earlier runs.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    paths = [parts / f"{segment.name}.extxyz" for segment in segments]
    timing_path = parts / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    total = sum(s.frames for s in segments)
    already = sum(min(len(_read_part(p)), s.frames) for s, p in zip(segments, paths))
    context = get_context("spawn")
    queue = context.Queue()
    with tqdm(total=total, initial=already, unit="frame", disable=not show_progress, desc=f"{method} labels") as bar:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                                 initargs=(queue, os.getpid())) as pool:
            pending = {pool.submit(_run_in_worker, s, molecules, method, p): s for s, p in zip(segments, paths)}
            while pending:
                finished = [f for f in pending if f.done()]
                while not queue.empty():
                    bar.update(queue.get())
                for future in finished:
                    result = future.result()
                    timing[result["segment"]] = timing.get(result["segment"], 0.0) + result["seconds"]
                    timing_path.write_text(json.dumps(timing, indent=1))
                    del pending[future]
                if pending and not finished:
                    time.sleep(0.5)
            while not queue.empty():
                bar.update(queue.get())
    frames = [frame for path in paths for frame in _read_part(path)]
    temporary = out.with_name(out.name + ".tmp")
    io.write(temporary, frames, format="extxyz")
    temporary.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    out.with_name(out.name + ".json").write_text(json.dumps({
        "method": frames[0].info["method"], "frames": len(frames), "sha256": digest,
        "segments": [asdict(s) for s in segments], "label_seconds_per_segment": timing,
        "label_seconds_total": sum(timing.values())}, indent=1))
    return digest
