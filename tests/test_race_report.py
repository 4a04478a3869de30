"""The accuracy race's report (benchmarks/race_report.py): which line it names best, and each verdict against a peer."""

import sys
from pathlib import Path

import pytest

from attnff.units import ENERGY_UNITS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
race_report = pytest.importorskip("race_report")

KCAL = ENERGY_UNITS["kcal/mol"]


def _line(label: str, kind: str, forces_kcal: dict[int, float], ended: str | None = None, trained_by=None) -> dict:
    checkpoints = {str(m): {"forces_mae": f * KCAL, "energy_mae": 0.1 * KCAL, "epoch": 1, "checkpoint_cpu_min": m - 0.5}
                   for m, f in forces_kcal.items()}
    marks = [m - 0.5 for m in forces_kcal]
    return {"label": label, "kind": kind, "recipe": f"recipe of {label}", "trained_by": trained_by, "ended": ended,
            "checkpoints": checkpoints, "checkpoints_written": len(marks), "checkpoints_at_cpu_min": marks}


@pytest.fixture
def report(tmp_path):
    results = {
        "cmret-angular": _line("ours CMRET", "attnff", {10: 0.8, 20: 0.7, 40: 0.6, 80: 0.5}),
        "jat-products": _line("ours JAT", "attnff", {10: 0.7, 20: 0.72, 40: 0.9, 80: 1.2}),
        "cmret-angular-b5": _line("ours CMRET batch 5", "attnff", {10: 0.9, 20: 0.8},
                                  ended="diverged at 21 CPU-minutes"),
        "mace": _line("MACE", "peer", {10: 1.5, 20: 1.0, 40: 0.7, 80: 0.45}),
        "painn": _line("PaiNN", "peer", {10: 1.2, 20: 1.1, 40: 1.0, 80: 1.0}),
        "jat-products-final": _line("ours JAT, final weights", "attnff", {10: 0.6, 20: 0.6, 40: 0.6, 80: 0.6},
                                    trained_by="jat-products"),
    }
    levers = {"base": {"change": "the recipe", "base": None, "epochs": 10, "cpu_min": 9.9, "budget_cpu_min": 10,
                       "forces_mae": 1.0 * KCAL, "energy_mae": 0.3 * KCAL},
              "faster": {"change": "a lever", "base": "base", "epochs": 12, "cpu_min": 10.1, "budget_cpu_min": 10,
                         "forces_mae": 0.8 * KCAL, "energy_mae": 0.3 * KCAL}}
    doc, plot = tmp_path / "race.md", tmp_path / "images" / "race.png"
    race_report.write_report(results, doc, plot, (10, 20, 40, 80), {"SchNet": 0.39}, levers)
    return doc.read_text(), plot


def test_table_has_every_budget_and_marks_a_stopped_run(report):
    text, plot = report
    assert "| ours CMRET | 0.800 (0.10) | 0.700 (0.10) | 0.600 (0.10) | 0.500 (0.10) |" in text
    assert "| ours CMRET batch 5 | 0.900 (0.10) | 0.800 (0.10) | stopped | stopped |" in text
    assert plot.stat().st_size > 0


def test_best_line_at_each_budget_includes_the_peers(report):
    text, _ = report
    assert "- 10 CPU-min: ours JAT, final weights (0.600 kcal/mol/A)" in text
    assert "- 80 CPU-min: MACE (0.450 kcal/mol/A)" in text


def test_each_attnff_line_is_judged_against_the_peer_of_its_kind(report):
    text, _ = report
    assert ("- ours CMRET against MACE: 40 CPU-min: wins, 0.600 against 0.700; "
            "80 CPU-min: loses, 0.500 against 0.450") in text
    assert ("- ours JAT against PaiNN: 40 CPU-min: wins, 0.900 against 1.000; "
            "80 CPU-min: loses, 1.200 against 1.000") in text
    assert ("- ours CMRET batch 5 against MACE: 40 CPU-min: stopped before it (diverged at 21 CPU-minutes)"
            in text)


def test_levers_show_their_change_against_their_base(report):
    text, _ = report
    assert "| faster | a lever | 12 | 10.1 | 0.800 | 0.300 | -20.0 % |" in text
    assert "| base | the recipe | 10 | 9.9 | 1.000 | 0.300 | - |" in text
