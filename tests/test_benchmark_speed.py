"""benchmarks/speed.py: the water boxes it times and the report it writes (no timing here)."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
speed = pytest.importorskip("speed")
speed_report = pytest.importorskip("speed_report")


def test_water_cell_is_liquid_density_and_deterministic():
    cell = speed.water_unit_cell()
    assert cell.get_chemical_formula() == "H64O32"
    grams_per_cm3 = cell.get_masses().sum() * 1.66053906660e-24 / (cell.get_volume() * 1e-24)
    assert grams_per_cm3 == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_array_equal(cell.positions, speed.water_unit_cell().positions)
    i, j, d = neighbor_list("ijd", cell, 1.5)
    bonded = (i // 3 == j // 3)
    assert np.allclose(d[bonded & (d < 1.0)], speed.OH_BOND)
    assert np.count_nonzero(bonded & (d < 1.0)) == 2 * 64  # both directions of the 64 O-H bonds
    assert not np.any(~bonded & (d < 1.5))  # no intermolecular contact closer than 1.5 A


def test_boxes_replicate_the_cell():
    box = speed.build_system(768)
    assert len(box) == 768 and box.pbc.all()
    assert box.cell.lengths() == pytest.approx([2 * speed.water_cell_length(32)] * 3)
    assert len(speed.build_system(9)) == 9
    with pytest.raises(ValueError):
        speed.build_system(100)


def _case(model, n, ms, rss=500.0, allocator="default", dtype="float32", status="ok", run="r"):
    return {"model": model, "n_atoms": n, "dtype": dtype, "allocator": allocator, "status": status,
            "ms_per_call": ms, "peak_rss_mib": rss, "run": run, "load": "load average: 1.00, 1.00, 1.00"}


def test_report_writes_tables_exponent_and_plot(tmp_path):
    cases = [_case("jat", n, 0.5 * n) for n in (9, 96, 768, 6144)]
    cases += [_case("schnet", 768, 768.0), _case("schnet", 49152, 0, status="skipped")]
    cases += [_case("jat@plain", n, 0.5 * n) for n in (768, 6144)]  # --no-recompute
    results = {"cases": {speed.case_key(c): c for c in cases}, "machine": "test machine"}
    doc, plot = tmp_path / "performance.md", tmp_path / "images" / "scaling.png"
    doc.write_text("# kept title\n\n" + speed_report.BEGIN + "\nOLD-GENERATED-TEXT\n" + speed_report.END + "\nkept notes\n")
    speed_report.write_report(results, doc, plot)
    text = doc.read_text()
    assert text.startswith("# kept title") and text.rstrip().endswith("kept notes") and "OLD-GENERATED-TEXT" not in text
    assert "| JAT | float32 | 1.000 | 768, 6144 |" in text  # time linear in atoms
    assert "| 768 | float32 | JAT | 2.00 |" in text  # SchNet twice as slow in the same run
    assert "| JAT (plain) | float32 | 1.000 | 768, 6144 |" in text
    assert plot.exists() and plot.stat().st_size > 0


def test_exponent_fit_and_memory_guard():
    cases = {speed.case_key(c): c for c in [_case("jat", 768, 10.0, rss=500.0), _case("jat", 6144, 80.0 * 2)]}
    slope, sizes = speed_report.scaling_exponent(cases, "jat", "float32")
    assert slope == pytest.approx(math.log(16) / math.log(8)) and sizes == [768, 6144]
    predicted = speed.predicted_peak_gib({"cases": cases}, "jat", 49152, "float32")
    assert predicted == pytest.approx(speed.BASE_RSS_GIB + (500 / 1024 - speed.BASE_RSS_GIB) * 8)


def test_memory_guard_fits_fixed_part_from_two_boxes():
    cases = {speed.case_key(c): c for c in [_case("nequip", 96, 1.0, rss=1024.0), _case("nequip", 768, 1.0, rss=2048.0)]}
    # 1 GiB at 96 atoms, 2 GiB at 768: 1/672 GiB per atom on top of the fixed part
    assert speed.predicted_peak_gib({"cases": cases}, "nequip", 6144, "float32") == pytest.approx(1 + 6048 / 672)
