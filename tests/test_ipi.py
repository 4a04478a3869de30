"""attnff.ipi: a client answers an i-PI-protocol server with the direct calculator's forces; PIMD with two clients."""

import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.socketio import SocketServer
from ase.units import kB

from attnff.calculator import AttnCalculator
from attnff.ipi import read_ipi_properties, run_ipi_client

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ipi"


def ch2():
    """Methylene, bent (C at the origin, 1.08 A bonds, 135 degrees)."""
    from ase import Atoms

    half = np.radians(135.0) / 2
    return Atoms("CH2", positions=[[0, 0, 0], [1.08 * np.sin(half), 1.08 * np.cos(half), 0],
                                   [-1.08 * np.sin(half), 1.08 * np.cos(half), 0]])


def serve(atoms, **client_options):
    """Forces and energy for ``atoms`` from an attnff client, over a unix socket with ASE's i-PI server."""
    name = f"attnff-test-{uuid.uuid4().hex[:8]}"
    server = SocketServer(unixsocket=name, timeout=120)
    server.serversocket.settimeout(60)  # a client that failed before connecting fails the test, not hangs it
    served, errors = [], []

    def client():
        try:
            served.append(run_ipi_client(structure=atoms, unix=name, device="cpu", timeout=60, **client_options))
        except Exception as error:  # noqa: BLE001 -- reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        results = [server.calculate(atoms) for _ in range(2)]
    finally:
        server.close()  # sends EXIT: the client returns
        thread.join(60)
    assert not errors, errors
    assert served == [2]
    return results[-1]


@pytest.mark.parametrize("potential, charge, multiplicity", [("jat-md17-ethanol", 0, None),
                                                               ("cmret-ch2", 0, 1), ("cmret-ch2", 0, 3)])
def test_client_forces_equal_calculator(potential, charge, multiplicity):
    atoms = molecule("CH3CH2OH") if "ethanol" in potential else ch2()
    atoms.rattle(0.05, seed=1)
    result = serve(atoms.copy(), potential=potential, charge=charge, multiplicity=multiplicity)
    atoms.info.update(charge=charge)
    if multiplicity is not None:
        atoms.info["multiplicity"] = multiplicity
    atoms.calc = AttnCalculator.load(potential, device="cpu", dtype="float64")
    assert result["energy"] == pytest.approx(atoms.get_potential_energy(), abs=1e-8)
    # i-PI's wire format is Hartree and Bohr in float64: exact up to the unit conversions
    assert np.abs(result["forces"] - atoms.get_forces()).max() < 1e-8


def test_client_refuses_impossible_state():
    from attnff.errors import ChargeSpinError

    with pytest.raises(ChargeSpinError):
        run_ipi_client("cmret-ch2", ch2(), unix="never-connected", multiplicity=2)  # 8 electrons: odd 2S + 1


@pytest.mark.skipif(shutil.which("i-pi") is None, reason="i-PI is not installed (pip install ipi)")
def test_pimd_two_clients_quantum_kinetic_energy(tmp_path):
    """PIMD of ethanol (8 beads, 300 K) with two clients: both serve beads, and the hydrogens' centroid-virial
    kinetic energy lies well above the classical 3/2 kT per atom."""
    steps, beads = 80, 8
    name = f"attnff-pimd-{uuid.uuid4().hex[:8]}"
    text = (EXAMPLE / "input.xml").read_text()
    text = text.replace("<address>attnff-ethanol</address>", f"<address>{name}</address>")
    text = text.replace("<total_steps>2000</total_steps>", f"<total_steps>{steps}</total_steps>")
    (tmp_path / "input.xml").write_text(text)
    shutil.copy(EXAMPLE / "ethanol.xyz", tmp_path)
    server = subprocess.Popen(["i-pi", "input.xml"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    socket = Path(f"/tmp/ipi_{name}")
    try:
        for _ in range(600):
            if socket.exists() or server.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert socket.exists(), server.stdout.read().decode()
        served, errors = [], []

        def client():
            try:
                served.append(run_ipi_client("jat-md17-ethanol", tmp_path / "ethanol.xyz", unix=name, device="cpu",
                                             timeout=120))
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        server.wait(timeout=600)
        for thread in threads:
            thread.join(60)
    finally:
        if server.poll() is None:
            server.kill()
    assert not errors, errors
    assert len(served) == 2 and min(served) > 0  # the two clients shared the beads
    assert sum(served) >= steps * beads
    table = read_ipi_properties(tmp_path / "pimd.out")
    classical = 1.5 * kB * 300.0
    hydrogen = table["kinetic_cv(H)"][2:] / 6  # eV per H atom
    assert hydrogen.mean() > 1.4 * classical
    assert table["kinetic_cv(O)"][2:].mean() < hydrogen.mean()
