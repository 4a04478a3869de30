"""Potential files: exact round trip, and clear refusals of pickled, truncated, foreign or future files."""

import json
import pickle

import numpy as np
import pytest
import torch
from ase.build import molecule
from safetensors.torch import save_file

from attnff import AttnCalculator, list_potentials, load_potential, save_potential
from attnff.errors import ModelFileError
from attnff.model_file import FORMAT_VERSION, read_metadata, resolve_potential
from tests.conftest import small_potential


def test_round_trip_reproduces_outputs_exactly(tmp_path, model_name):
    potential = small_potential(model_name)
    path = save_potential(potential, tmp_path / "p.safetensors", card={"description": "test"})
    loaded, meta = load_potential(path)
    assert meta["card"]["description"] == "test" and meta["format_version"] == FORMAT_VERSION
    atoms = molecule("CH3CH2OH")
    results = []
    for p in (potential, loaded):
        atoms.calc = AttnCalculator(p, device="cpu", dtype="float64")
        results.append((atoms.get_potential_energy(), atoms.get_forces()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_calculator_load_from_path(tmp_path):
    path = save_potential(small_potential("jat"), tmp_path / "mine.safetensors")
    calc = AttnCalculator.load(path, device="cpu")
    assert calc.dtype == torch.float32 and calc.metadata["model"] == "jat"


def test_pickled_file_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save(small_potential("jat").state_dict(), path)
    with pytest.raises(ModelFileError, match="never unpickles"):
        load_potential(path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="never unpickles"):
        load_potential(raw)


def test_truncated_file(tmp_path):
    path = save_potential(small_potential("jat"), tmp_path / "p.safetensors")
    data = path.read_bytes()
    for keep in (4, 200, len(data) - 10):
        path.write_bytes(data[:keep])
        with pytest.raises(ModelFileError, match="truncated"):
            load_potential(path)


def test_garbage_header(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes((20).to_bytes(8, "little") + b"{not json at all!!!}" + b"\0" * 10)
    with pytest.raises(ModelFileError, match="corrupt"):
        load_potential(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelFileError, match="without attnff metadata"):
        load_potential(path)


def _rewrite_metadata(path, edit):
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["attnff"])
    edit(meta)
    header["__metadata__"]["attnff"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + n:])


def test_wrong_version(tmp_path):
    path = save_potential(small_potential("jat"), tmp_path / "p.safetensors")
    _rewrite_metadata(path, lambda meta: meta.update(format_version=99))
    with pytest.raises(ModelFileError, match="version 99"):
        load_potential(path)


def test_metadata_not_matching_weights(tmp_path):
    path = save_potential(small_potential("jat"), tmp_path / "p.safetensors")
    _rewrite_metadata(path, lambda meta: meta["config"].update(num_layers=5))
    with pytest.raises(ModelFileError, match="does not match"):
        load_potential(path)


def test_unknown_model_option_in_file(tmp_path):
    path = save_potential(small_potential("jat"), tmp_path / "p.safetensors")
    _rewrite_metadata(path, lambda meta: meta["config"].update(flux_capacitor=True))
    with pytest.raises(ModelFileError, match="flux_capacitor"):
        load_potential(path)


def test_missing_file_and_unknown_name():
    with pytest.raises(ModelFileError, match="no potential file or shipped potential"):
        AttnCalculator.load("no-such-potential")


def test_shipped_potentials_listed_with_descriptions():
    shipped = list_potentials()
    assert "jat-md17-ethanol" in shipped
    assert all(description for description in shipped.values())
    for name in shipped:
        meta = read_metadata(resolve_potential(name))
        card = meta["card"]
        if meta.get("kind") == "properties":  # a property model: a test MAE per target, no forces
            test = card["metrics"]["test"]
            assert all(test[f"{t}_mae"] > 0 for t in meta["properties"]["targets"]) and card["training"]["command"]
            continue
        assert card["metrics"]["test"]["forces_mae"] > 0 and card["training"]["command"]


def test_header_length_with_high_byte_0x80_is_not_taken_for_a_pickle(tmp_path):
    """A valid file whose header length is 128 mod 256 starts with byte 0x80, like a pickle."""
    potential = small_potential("jat")
    for pad in range(264):  # safetensors pads its header to a multiple of 8 bytes: 264 pads cover every low byte
        path = save_potential(potential, tmp_path / "p.safetensors", card={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            load_potential(path)
            return
    pytest.fail("no header length hit 0x80 in its low byte; widen the padding range")
