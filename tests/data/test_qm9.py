"""QM9 reader: units on committed rows of qm9pack's CSV, the fixed split, and (with the qm9 extra) all of QM9."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from ase import units

from attnff.data.qm9 import (
    DEBYE_TO_E_ANGSTROM,
    POOLS,
    QM9_EXCLUDED,
    TARGETS,
    load_qm9,
    qm9_split,
    read_qm9_csv,
    records_from_arrays,
)
from attnff.errors import ConfigError

ROWS = Path(__file__).parent / "qm9_rows.csv"  # 14 molecules copied from qm9pack 1.0.3's qm9_part1.csv
HAS_QM9PACK = importlib.util.find_spec("qm9pack") is not None


def test_units_on_qm9_rows():
    index, numbers, positions, values = read_qm9_csv([ROWS])
    assert index[0] == 1 and list(numbers[0]) == [6, 1, 1, 1, 1]  # methane
    np.testing.assert_allclose(positions[0][0], [-0.0126981359, 1.0858041578, 0.0080009958])
    # methane's row: HOMO -0.3877 Ha, LUMO 0.1171 Ha, gap 0.5048 Ha, alpha 13.21 bohr^3, R2 35.3641 bohr^2
    np.testing.assert_allclose(values["homo"][0], -0.3877 * 27.211386, rtol=1e-6)
    np.testing.assert_allclose(values["lumo"][0], 0.1171 * units.Hartree)
    np.testing.assert_allclose(values["gap"][0], 0.5048 * units.Hartree)
    np.testing.assert_allclose(values["polarizability"][0], 13.21 * 0.52917721**3, rtol=1e-6)
    np.testing.assert_allclose(values["r2"][0], 35.3641 * units.Bohr**2)
    np.testing.assert_allclose(values["u0"][0], -40.47893 * units.Hartree)
    # ammonia: dipole stays in Debye (1.6256 D = 0.3384 e*A)
    assert values["dipole"][1] == 1.6256
    np.testing.assert_allclose(1.6256 * DEBYE_TO_E_ANGSTROM, 0.33844, atol=1e-5)
    # the CSV rounds to 4 decimals of a Hartree
    np.testing.assert_allclose(values["gap"], values["lumo"] - values["homo"], atol=1.5e-4 * units.Hartree)
    assert {TARGETS[t].unit for t in ("homo", "lumo", "gap")} == {"eV"}


def test_records_in_index_order_with_every_target():
    index, numbers, positions, values = read_qm9_csv([ROWS])
    order = np.arange(len(index))[::-1]  # a source in another order
    arrays = {"index": index[order], "counts": np.array([len(numbers[k]) for k in order]),
              "numbers": np.concatenate([numbers[k] for k in order]),
              "positions": np.concatenate([positions[k] for k in order]),
              **{f"target_{k}": v[order] for k, v in values.items()}}
    data = records_from_arrays(arrays)
    assert list(data.index) == sorted(index)
    assert set(data.configs[0].properties) == set(TARGETS)
    assert data.configs[0].properties["homo"] == pytest.approx(values["homo"][0])
    assert data.missing == 133_885 - len(index)


def test_split_is_fixed_nested_and_disjoint():
    n = 130_831
    small = qm9_split(n, {"train": 1000, "validation": 100, "test": 200})
    large = qm9_split(n, {"train": 10_000, "validation": 1000, "test": "all"})
    np.testing.assert_array_equal(small["train"], large["train"][:1000])  # nested subsets
    np.testing.assert_array_equal(small["train"], qm9_split(n, {"train": 1000, "validation": 1})["train"])
    assert len(large["test"]) == n - POOLS["train"] - POOLS["validation"] == 10_831
    assert not set(large["train"]) & set(large["validation"]) and not set(large["train"]) & set(large["test"])
    full = qm9_split(n, {"train": POOLS["train"], "validation": POOLS["validation"], "test": "all"})
    assert sorted(np.concatenate(list(full.values()))) == list(range(n))


def test_split_refuses_sizes_beyond_the_pool():
    with pytest.raises(ConfigError, match="train pool"):
        qm9_split(130_831, {"train": 110_001, "validation": 10})
    with pytest.raises(ConfigError, match="train, validation and test"):
        qm9_split(130_831, {"train": 10})


@pytest.mark.skipif(not HAS_QM9PACK, reason='needs the qm9 extra: pip install "attnff[qm9]" (qm9pack)')
def test_all_of_qm9_from_qm9pack():
    data = load_qm9()
    assert len(data.configs) == 130_831 and data.missing == QM9_EXCLUDED
    assert data.index[0] == 1 and list(data.configs[0].numbers) == [6, 1, 1, 1, 1]
    assert max(len(c) for c in data.configs) == 29
    gaps = np.array([c.properties["gap"] for c in data.configs[:1000]])
    assert 2.0 < gaps.min() and gaps.max() < 20.0  # eV, not Hartree
