"""Command line: ``attnff train|eval|predict|list|md|scan``; each parses arguments and calls one library function."""

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .errors import ConfigError, ModelFileError

__all__ = ["main"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, except where there is none to show (required, unset, flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False, argparse.SUPPRESS) or not action.help:
            return action.help or ""
        return super()._get_help_string(action) or ""


if TYPE_CHECKING:
    from ase import Atoms


def _read_one(path: str) -> "Atoms":
    """The structure in ``path`` (its last frame), read by ASE."""
    from ase import Atoms
    from ase.io import read

    atoms = read(path)
    assert isinstance(atoms, Atoms)  # one index (the default, the last frame) reads one frame
    return atoms


def _recompute_choice(args) -> bool | str:
    """--recompute-layers as the calculator's recompute_layers argument."""
    choices: dict[str, bool | str] = {"auto": "auto", "yes": True, "no": False}
    return choices[args.recompute_layers]


def _train(args) -> None:
    import os

    from .train import TrainingInterrupted, load_config, train

    threads = [] if args.threads is None else ["--threads", str(args.threads)]
    overrides = args.set if args.threads is None else [*args.set, f"training.threads={args.threads}"]
    config = load_config(args.config, overrides)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        path = train(config, resume=args.resume, progress=not args.no_progress,
                     command=" ".join(shlex.quote(a) for a in ["attnff", *sys.argv[1:]]))
    except TrainingInterrupted as stop:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        launcher = ["torchrun", f"--nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', world)}", "-m", "attnff"] \
            if world > 1 else ["attnff"]
        again = [*launcher, "train", args.config, *[a for item in args.set for a in ("--set", item)], *threads]
        if main_rank and stop.checkpoint is None:
            print("attnff: interrupted before the first epoch ended; nothing to resume. Start again with:\n  "
                  + shlex.join(again), file=sys.stderr)
        elif main_rank:
            print(f"attnff: interrupted; kept the checkpoint of epoch {stop.epoch} ({stop.checkpoint}). "
                  "Resume with:\n  " + shlex.join([*again, "--resume"]), file=sys.stderr)
        raise SystemExit(130) from None
    if main_rank:
        print(f"wrote {path}")


def _eval(args) -> None:
    from .data import DataSpec, GraphDataset, read_configurations
    from .model_file import load_potential, resolve_potential
    from .train import evaluate

    potential, _ = load_potential(resolve_potential(args.potential))
    spec = DataSpec(args.data, args.format, args.energy_unit, args.length_unit, args.energy_key,
                    args.forces_key, None, args.spin_key)
    configs = read_configurations(spec)
    indices = range(*args.range) if args.range else None
    print(json.dumps(evaluate(potential, GraphDataset(configs, potential.cutoff), indices=indices), indent=2))


def _predict(args) -> None:
    from .predict import predict_file

    path = predict_file(args.model, args.structures, args.output, args.batch_size, args.device, args.dtype)
    print(f"wrote {path}")


def _list(args) -> None:
    from .model_file import list_potentials

    for name, description in list_potentials().items():
        print(f"{name:28s} {description}")


def _positive(kind):
    """argparse type: a ``kind`` (int or float) above zero, refused with the flag's name by argparse."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{'an integer' if kind is int else 'a number'} expected, "
                                             f"got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a whole number 0 or above expected, got {text!r}")
    return int(text)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number expected, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or above, got {text}")
    return value


#: with ``--threads auto``: structures below this many atoms run on one thread (docs/performance.md:
#: ethanol takes the same wall time on 1 and 2 threads at half the CPU time; 768 atoms gain 1.8x from 2)
ONE_THREAD_BELOW_ATOMS = 200


def _threads(args, num_atoms: int) -> int | None:
    """The calculator's ``threads`` for ``--threads`` (a count, or auto: one thread for small structures)."""
    if args.threads == "auto":
        return 1 if num_atoms < ONE_THREAD_BELOW_ATOMS else None
    return int(args.threads)


def _thread_count(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"a positive integer or 'auto' expected, got {text!r}")


#: library argument names -> the flags that set them, so that refusals name what the user typed
_FLAGS = {"pressure_bar": "--pressure", "temperature_K": "--temperature", "timestep_fs": "--timestep",
          "log_interval": "--log-interval", "traj_interval": "--traj-interval", "steps": "--steps"}


def _in_flags(message: str) -> str:
    for name, flag in _FLAGS.items():
        message = message.replace(name, flag)
    return message


def _fail(error: Exception) -> NoReturn:
    """Report a refused input (bad structure, state or parameter) like main() does, exit status 2."""
    print(f"attnff: error: {_in_flags(str(error))}", file=sys.stderr)
    raise SystemExit(2)


def _md(args) -> None:
    from dataclasses import asdict
    from pathlib import Path

    from .calculator import AttnCalculator
    from .md import LOG, run
    from .md_analysis import md_analysis
    from .plots import md_plot

    if args.ensemble == "npt" and args.thermostat not in (None, "nose-hoover"):
        _fail(ValueError("npt uses a Nose-Hoover chain thermostat with the MTK barostat; "
                         f"--thermostat {args.thermostat} is not available for npt"))
    if args.ensemble == "nve" and args.thermostat is not None:
        _fail(ValueError("nve has no thermostat; use --ensemble nvt"))
    if args.ensemble == "npt" and args.pressure is None:
        _fail(ValueError("--ensemble npt needs --pressure (bar)"))
    if args.ensemble != "npt" and args.pressure is not None:
        _fail(ValueError(f"--pressure is only used with --ensemble npt, not {args.ensemble}"))
    ensemble = f"nvt-{args.thermostat or 'langevin'}" if args.ensemble == "nvt" else args.ensemble
    try:
        atoms = _read_one(args.structure)
        calc = AttnCalculator.load(args.potential, device=args.device, dtype=args.dtype,
                                   recompute_layers=_recompute_choice(args), compile_model=args.compile,
                                   threads=_threads(args, len(atoms)))
        summary = run(atoms, calc, ensemble=ensemble, temperature_K=args.temperature,
                      timestep_fs=args.timestep, steps=args.steps, out_dir=args.out, pressure_bar=args.pressure,
                      friction=args.friction, seed=args.seed, log_interval=args.log_interval,
                      traj_interval=args.traj_interval, restart=args.restart, progress=not args.no_progress)
    except (ValueError, FileExistsError) as error:
        _fail(error)
    thermostatted = args.ensemble in ("nvt", "npt")
    md_plot(Path(args.out) / LOG, Path(args.out) / "md.png",
            title=f"{calc.potential_name}: {args.ensemble.upper()}, {len(atoms)} atoms, {args.timestep:g} fs steps",
            target_temperature_K=args.temperature if thermostatted else None)
    report = asdict(summary)
    report.update(md_analysis(Path(args.out), args.rdf, args.labile_bonds))
    print(json.dumps(report, indent=2))
    if report["broken_molecule_frames"]:
        print(f"attnff: warning: molecules changed (bonds broken or formed) in {report['broken_molecule_frames']} "
              f"of {report['analysed_frames']} frames, first at step {report['first_broken_step']}", file=sys.stderr)
    if not summary.ok:
        print(f"attnff: MD stopped early: {summary.failure}", file=sys.stderr)
        raise SystemExit(1)


def _export_lammps(args) -> None:
    from .lammps import export_lammps_command

    try:
        export_lammps_command(args)
    except ValueError as error:
        _fail(error)


def _ipi_client(args) -> None:
    from .ipi import ipi_client_command

    try:
        ipi_client_command(args)
    except ValueError as error:
        _fail(error)


def _element_pair_argument(text: str) -> str:
    from .analysis import element_pair

    try:
        element_pair(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _scan(args) -> None:
    import warnings
    from pathlib import Path

    import numpy as np

    from . import scan
    from .calculator import AttnCalculator
    from .plots import scan_plot

    states = [(args.charge, m) for m in args.multiplicity] if args.multiplicity else [(args.charge, None)]
    values = np.linspace(args.start, args.stop, args.points)
    options = dict(states=states, relax=args.relax, move=args.move, fmax=args.fmax, steps=args.max_steps)
    function: Callable[..., scan.ScanResult] = (scan.bond if args.bond else scan.angle if args.angle
                                                else scan.dihedral)
    indices = args.bond or args.angle or args.dihedral
    try:
        atoms = _read_one(args.structure)
        calc = AttnCalculator.load(args.potential, device=args.device, dtype=args.dtype,
                                   recompute_layers=_recompute_choice(args), compile_model=args.compile,
                                   threads=_threads(args, len(atoms)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-converged points are listed below instead
            result = function(atoms, calc, *indices, values, **options)
    except ValueError as error:
        _fail(error)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / "scan.csv")
    scan_plot(result, out / "scan.png")
    print(f"wrote {out / 'scan.csv'} and {out / 'scan.png'}")
    for state, point in result.nonconverged():
        print(f"not converged: state (charge, multiplicity) = {state} at {result.coordinates[0]} = {point[0]:.6g}",
              file=sys.stderr)


def _add_potential_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("structure", help="structure file readable by ase.io.read (last frame is used)")
    parser.add_argument("--potential", required=True, help="shipped potential name or potential file")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                        help="precision of the model evaluation")
    parser.add_argument("--recompute-layers", choices=["auto", "yes", "no"], default="auto", nargs="?", const="yes",
                        help="recompute layers while taking forces: less memory for large systems, ~1.3-1.6x the "
                             "time; auto (default) recomputes only when a plain call would not fit comfortably; "
                             "the bare flag means yes")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model: the first step compiles (a minute or more), later steps are "
                             "faster (docs/performance.md)")
    parser.add_argument("--threads", default="auto", type=_thread_count, metavar="N",
                        help=f"torch CPU threads: a count, or auto (one thread below {ONE_THREAD_BELOW_ATOMS} atoms, "
                             "torch's default of one per core above)")
    parser.add_argument("--out", required=True, help="output folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnff", description="attention-based interatomic potentials")
    parser.add_argument("--version", action="version", version=f"attnff {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a potential from a YAML config (several processes: "
                                "torchrun --nproc_per_node=N -m attnff train ...; docs/training.md)",
                                formatter_class=HelpFormatter)
    train.add_argument("config", help="YAML training config")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUTPUT/checkpoint.pt (also on another number of processes)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config entry, e.g. training.epochs=10 (repeatable)")
    train.add_argument("--threads", type=int, metavar="N",
                       help="torch CPU threads per process, overriding training.threads (default: the "
                            "config's; 0 is torch's default)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    ev = commands.add_parser("eval", help="errors of a potential on a data file", formatter_class=HelpFormatter)
    ev.add_argument("potential", help="shipped name or file")
    ev.add_argument("data", help="data file")
    ev.add_argument("--format", default="auto", help="extxyz, db, npz, hdf5 or auto (from the file name)")
    ev.add_argument("--energy-unit", default="eV", help="energy unit of the file (eV, kcal/mol, Hartree, ...)")
    ev.add_argument("--length-unit", default="Angstrom", help="length unit of the file (Angstrom, Bohr)")
    ev.add_argument("--energy-key", help="name of the energies in the file (default: the format's own)")
    ev.add_argument("--forces-key", help="name of the forces in the file")
    ev.add_argument("--spin-key", help="name of the spin quantum number S per structure (multiplicity 2S+1)")
    ev.add_argument("--range", type=int, nargs=2, metavar=("START", "STOP"), help="evaluate indices START..STOP-1")
    ev.set_defaults(run=_eval)

    pr = commands.add_parser("predict", help="per-molecule properties (HOMO, LUMO, gap, ...) of every structure "
                             "in a file from a property model, in batches; writes a CSV", formatter_class=HelpFormatter)
    pr.add_argument("model", help="shipped property model name (e.g. jat-qm9-homo-lumo) or model file")
    pr.add_argument("structures", help="structure file (anything ase.io reads)")
    pr.add_argument("-o", "--output", default="predictions.csv", help="CSV to write")
    pr.add_argument("--batch-size", type=_positive(int), default=64, help="structures per model call")
    pr.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    pr.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="precision")
    pr.set_defaults(run=_predict)

    ls = commands.add_parser("list", help="shipped potentials")
    ls.set_defaults(run=_list)

    md = commands.add_parser("md", help="molecular dynamics (ASE integrators); writes md.traj, md_log.csv, "
                             "summary.json, md.png", formatter_class=HelpFormatter)
    _add_potential_options(md)
    md.add_argument("--ensemble", choices=["nve", "nvt", "npt"], default="nve",
                    help="nve (velocity Verlet), nvt (thermostat below) or npt (Nose-Hoover chain + MTK barostat)")
    md.add_argument("--thermostat", choices=["langevin", "bussi", "nose-hoover"],
                    help="nvt thermostat (default langevin); npt always uses nose-hoover")
    md.add_argument("--temperature", type=_non_negative, default=300.0,
                    help="K: initial Maxwell-Boltzmann velocities and thermostat target (in NVE the kinetic "
                         "energy shares itself with the potential energy, so the mean settles near half of it)")
    md.add_argument("--pressure", type=float, help="bar, npt only")
    md.add_argument("--timestep", type=_positive(float), default=0.5, help="fs")
    md.add_argument("--steps", type=_non_negative_int, default=1000, help="MD steps")
    md.add_argument("--friction", type=_positive(float), default=0.01, help="Langevin friction, 1/fs")
    md.add_argument("--seed", type=int, default=0, help="seed of the initial velocities and the thermostat noise")
    md.add_argument("--log-interval", type=_positive(int), default=10, help="steps between log rows")
    md.add_argument("--traj-interval", type=_positive(int), default=10, help="steps between trajectory frames")
    md.add_argument("--restart", action="store_true", help="continue from OUT/md.traj")
    md.add_argument("--no-progress", action="store_true", help="no progress bar")
    md.add_argument("--rdf", nargs="+", default=[], type=_element_pair_argument, metavar="A-B",
                    help="element pairs for intermolecular g(r) over the second half (periodic cells), "
                         "e.g. --rdf N-O N-N O-O; writes rdf.csv and rdf.png")
    md.add_argument("--labile-bonds", nargs="+", default=[], type=_element_pair_argument, metavar="A-B",
                    help="element pairs whose bonds the bond check leaves out (exchangeable protons, "
                         "e.g. N-H O-H); frames where only they changed are counted apart")
    md.set_defaults(run=_md)

    sc = commands.add_parser("scan", help="1-D potential energy scan; writes scan.csv and scan.png",
                             formatter_class=HelpFormatter)
    _add_potential_options(sc)
    coordinate = sc.add_mutually_exclusive_group(required=True)
    coordinate.add_argument("--bond", type=int, nargs=2, metavar=("I", "J"), help="distance I-J; J moves")
    coordinate.add_argument("--angle", type=int, nargs=3, metavar=("I", "J", "K"), help="angle I-J-K; K moves")
    coordinate.add_argument("--dihedral", type=int, nargs=4, metavar=("I", "J", "K", "L"),
                            help="dihedral I-J-K-L; L moves")
    sc.add_argument("--from", dest="start", type=float, required=True, help="first value, Angstrom or degrees")
    sc.add_argument("--to", dest="stop", type=float, required=True, help="last value, Angstrom or degrees")
    sc.add_argument("--points", type=_positive(int), required=True, help="number of evenly spaced values")
    sc.add_argument("--charge", type=int, default=0, help="net charge in e")
    sc.add_argument("--multiplicity", type=int, nargs="+", metavar="M",
                    help="one or more multiplicities 2S+1, one curve each (default: the lowest)")
    sc.add_argument("--move", choices=["atom", "fragment"], default="atom",
                    help="move only the last atom, or the fragment bonded to it")
    sc.add_argument("--relax", action="store_true", help="relax the other coordinates at each point (BFGS)")
    sc.add_argument("--fmax", type=_positive(float), default=0.02, help="relaxation force threshold, eV/Angstrom")
    sc.add_argument("--max-steps", type=_positive(int), default=200, help="BFGS steps per point")
    sc.set_defaults(run=_scan)

    from .ipi import add_ipi_client_arguments
    from .lammps import add_export_lammps_arguments

    export = commands.add_parser("export-lammps", help="write the file `pair_style mliap unified` loads (a reference "
                                 "to the potential file and its sha256, no weights; docs/engines.md)",
                                 formatter_class=HelpFormatter)
    add_export_lammps_arguments(export)
    export.set_defaults(run=_export_lammps)
    client = commands.add_parser("ipi-client", help="serve forces to an i-PI server through a socket "
                                 "(docs/engines.md)", formatter_class=HelpFormatter)
    add_ipi_client_arguments(client)
    client.set_defaults(run=_ipi_client)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, ModelFileError, FileNotFoundError) as error:
        print(f"attnff: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
