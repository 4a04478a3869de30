"""Command line: ``attnff train|eval|list``; each parses arguments and calls one library function."""

import argparse
import json
import shlex
import sys

from .errors import ConfigError, ModelFileError

__all__ = ["main"]


def _train(args) -> None:
    from .train import load_config, train

    config = load_config(args.config, args.set)
    path = train(config, resume=args.resume, progress=not args.no_progress,
                 command=" ".join(shlex.quote(a) for a in ["attnff", *sys.argv[1:]]))
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


def _list(args) -> None:
    from .model_file import list_potentials

    for name, description in list_potentials().items():
        print(f"{name:28s} {description}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnff", description="attention-based interatomic potentials")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a potential from a YAML config")
    train.add_argument("config", help="YAML training config")
    train.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pt")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config entry, e.g. training.epochs=10 (repeatable)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    ev = commands.add_parser("eval", help="errors of a potential on a data file")
    ev.add_argument("potential", help="shipped name or file")
    ev.add_argument("data", help="data file")
    ev.add_argument("--format", default="auto")
    ev.add_argument("--energy-unit", default="eV")
    ev.add_argument("--length-unit", default="Angstrom")
    ev.add_argument("--energy-key")
    ev.add_argument("--forces-key")
    ev.add_argument("--spin-key")
    ev.add_argument("--range", type=int, nargs=2, metavar=("START", "STOP"), help="evaluate indices START..STOP-1")
    ev.set_defaults(run=_eval)

    ls = commands.add_parser("list", help="shipped potentials")
    ls.set_defaults(run=_list)
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
