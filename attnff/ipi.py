"""i-PI clients: an attnff potential serving forces to an i-PI server through ASE's socket client.

i-PI (path-integral MD, replica exchange, ...) owns the dynamics and sends positions and cell over a
socket; a client answers with energy, forces and virial. Every bead of a ring polymer is one request,
and i-PI hands pending requests to whichever client is free, so N clients connected to one address
share the beads of every step. Each client is one process (``attnff ipi-client``, or
``run_ipi_client`` in a script); start as many as the server should use.

i-PI sends positions only, so a client takes the atoms (elements and their order) from a structure
file, the same one i-PI initialises from. The charge and multiplicity of CMRET potentials with
charge/spin come from options (default: neutral, lowest multiplicity), set in ``atoms.info`` as for
``AttnCalculator``.
"""

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.socketio import SocketClient

from .calculator import AttnCalculator

__all__ = ["add_ipi_client_arguments", "ipi_client_atoms", "ipi_client_command", "main", "read_ipi_properties",
           "run_ipi_client"]


def ipi_client_atoms(structure: str | os.PathLike | Atoms, potential: str | os.PathLike, charge: int = 0,
                     multiplicity: int | None = None, device: str = "auto", dtype: str = "float64") -> Atoms:
    """The client's Atoms: the structure with an AttnCalculator attached and its charge state in ``info``.

    Args:
        structure: a file ASE reads (xyz, extxyz, ...; the last frame) or Atoms, with i-PI's atom order.
        potential: shipped potential name or attnff safetensors path.
        charge: net charge in e; multiplicity: 2S + 1 (None: the lowest consistent with the electron count).
        device, dtype: the calculator's (float64 by default: i-PI estimators such as the centroid-virial
            kinetic energy use forces of every bead, and float32 noise would enter them).
    """
    from ase.io import read

    atoms = structure.copy() if isinstance(structure, Atoms) else read(structure, index=-1)
    atoms.info["charge"] = int(charge)
    if multiplicity is not None:
        atoms.info["multiplicity"] = int(multiplicity)
    else:
        atoms.info.pop("multiplicity", None)
    atoms.calc = AttnCalculator.load(potential, device=device, dtype=dtype)
    atoms.get_forces()  # fail here (unknown element, impossible charge state), not after connecting
    return atoms


def run_ipi_client(potential: str | os.PathLike, structure: str | os.PathLike | Atoms, unix: str | None = None,
                   host: str = "localhost", port: int | None = None, charge: int = 0, multiplicity: int | None = None,
                   device: str = "auto", dtype: str = "float64", timeout: float | None = None,
                   log: str | os.PathLike | None = None) -> int:
    """Connect one attnff client to an i-PI server and serve force requests until i-PI ends the run.

    Args:
        potential: shipped potential name or attnff safetensors path.
        structure: the atoms i-PI simulates (file or Atoms), in i-PI's order.
        unix: name of i-PI's unix socket (``<ffsocket mode="unix"><address>NAME``, the file /tmp/ipi_NAME);
            None: connect over TCP to ``host``:``port`` (``mode="inet"``).
        charge, multiplicity: the charge state (potentials with charge/spin).
        device, dtype: the calculator's.
        timeout: seconds to wait for the server before giving up (None: wait).
        log: file for ASE's protocol log (None: no log).

    Returns:
        The number of force requests served.
    """
    if unix is None and port is None:
        raise ValueError("give the unix socket name (unix=...) or a TCP port (port=...)")
    atoms = ipi_client_atoms(structure, potential, charge, multiplicity, device, dtype)
    periodic = bool(atoms.pbc.all())
    log_handle = open(Path(log), "a") if log is not None else None
    try:
        client = SocketClient(host=host, port=port, unixsocket=unix, timeout=timeout, log=log_handle)
        served = 0
        try:
            for _ in client.irun(atoms, use_stress=periodic):
                served += 1
        finally:
            client.close()
    finally:
        if log_handle is not None:
            log_handle.close()
    return served


def read_ipi_properties(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of an i-PI properties file by name, units dropped: "kinetic_cv{electronvolt}(H)" -> "kinetic_cv(H)".

    The values are in the units the file's header names (i-PI writes them as asked in ``<properties>``).
    """
    import re


    names: list[str] = []
    with open(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            match = re.match(r"#\s*column\s+\d+\s+-->\s+(\S+)", line)
            if match:
                names.append(re.sub(r"\{[^}]*\}", "", match.group(1)))
    values = np.loadtxt(path, ndmin=2)
    return {name: values[:, k] for k, name in enumerate(names)}


def add_ipi_client_arguments(parser) -> None:
    """The options of ``attnff ipi-client`` on an argparse parser."""
    parser.add_argument("--potential", required=True, help="shipped potential name or attnff safetensors path")
    parser.add_argument("--structure", required=True,
                        help="atoms in i-PI's order (xyz/extxyz/...; the file i-PI initialises from)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix", help="i-PI unix socket name (<address> of a mode='unix' ffsocket; /tmp/ipi_NAME)")
    where.add_argument("--port", type=int, help="i-PI TCP port (mode='inet' ffsocket)")
    parser.add_argument("--host", default="localhost", help="i-PI host for --port (default localhost)")
    parser.add_argument("--charge", type=int, default=0, help="net charge in e (default 0)")
    parser.add_argument("--multiplicity", type=int, default=None,
                        help="2S + 1 (default: the lowest consistent with the electron count)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the server")
    parser.add_argument("--log", default=None, help="file for the socket protocol log")


def ipi_client_command(args) -> int:
    """``attnff ipi-client``: serve one i-PI server until it ends the run; prints the requests served."""
    served = run_ipi_client(args.potential, args.structure, unix=args.unix, host=args.host, port=args.port,
                            charge=args.charge, multiplicity=args.multiplicity, device=args.device, dtype=args.dtype,
                            timeout=args.timeout, log=args.log)
    print(f"attnff ipi-client: served {served} force requests")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m attnff.ipi ...``: the same as ``attnff ipi-client ...``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m attnff.ipi", description="attnff client for an i-PI server")
    add_ipi_client_arguments(parser)
    return ipi_client_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
