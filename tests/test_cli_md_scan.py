"""`attnff md` and `attnff scan` end to end with a small potential file."""

import csv
import json

import pytest
from ase.build import molecule
from ase.io import read, write

from attnff import save_potential
from attnff.cli import main
from tests.conftest import small_potential


@pytest.fixture
def files(tmp_path):
    potential = save_potential(small_potential("jat"), tmp_path / "small.safetensors")
    structure = tmp_path / "ethanol.xyz"
    write(structure, molecule("CH3CH2OH"))
    return str(potential), str(structure)


def test_md_command_runs_and_restarts(files, tmp_path, capsys):
    potential, structure = files
    out = tmp_path / "md"
    common = [structure, "--potential", potential, "--device", "cpu", "--out", str(out), "--timestep", "0.25",
              "--log-interval", "2", "--traj-interval", "2", "--no-progress"]
    assert main(["md", *common, "--ensemble", "nvt", "--thermostat", "bussi", "--steps", "6"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["ensemble"], summary["steps"]) == ("nvt-bussi", 6)
    for name in ("md.traj", "md_log.csv", "summary.json", "md.png"):
        assert (out / name).is_file()

    assert main(["md", *common, "--ensemble", "nvt", "--thermostat", "bussi", "--steps", "4", "--restart"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 10
    assert [frame.info["md_step"] for frame in read(out / "md.traj", ":")] == [0, 2, 4, 6, 8, 10]


def test_md_command_refuses_npt_for_a_molecule(files, tmp_path, capsys):
    potential, structure = files
    with pytest.raises(SystemExit) as exit_info:
        main(["md", structure, "--potential", potential, "--device", "cpu", "--out", str(tmp_path / "npt"),
              "--ensemble", "npt", "--pressure", "1.0", "--steps", "2", "--no-progress"])
    assert exit_info.value.code == 2
    assert "periodic in all three directions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["md", structure, "--potential", potential, "--device", "cpu", "--out", str(tmp_path / "x"),
              "--ensemble", "npt", "--thermostat", "langevin", "--pressure", "1.0", "--no-progress"])
    assert "not available for npt" in capsys.readouterr().err


def test_scan_command_writes_csv_and_png(files, tmp_path, capsys):
    potential, structure = files
    out = tmp_path / "scan"
    assert main(["scan", structure, "--potential", potential, "--device", "cpu", "--bond", "0", "1",
                 "--from", "1.3", "--to", "1.7", "--points", "5", "--move", "fragment", "--out", str(out)]) == 0
    with open(out / "scan.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["bond_0_1_A"]) for row in rows] == pytest.approx([1.3, 1.4, 1.5, 1.6, 1.7])
    assert all(row["multiplicity"] == "1" and row["converged"] == "1" for row in rows)
    assert (out / "scan.png").stat().st_size > 0

    assert main(["scan", structure, "--potential", potential, "--device", "cpu", "--angle", "0", "1", "2",
                 "--from", "100", "--to", "120", "--points", "3", "--relax", "--max-steps", "1", "--fmax", "1e-6",
                 "--out", str(tmp_path / "angle")]) == 0
    assert "not converged" in capsys.readouterr().err


def test_scan_command_reports_a_refused_state(files, tmp_path, capsys):
    potential, structure = files
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", structure, "--potential", potential, "--device", "cpu", "--dihedral", "2", "1", "0", "6",
              "--from", "0", "--to", "120", "--points", "3", "--multiplicity", "1", "3", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "multiplicity 3" in capsys.readouterr().err
    assert not (tmp_path / "scan.csv").exists()


def test_md_command_npt_writes_rdf_and_checks_molecules(files, tmp_path, capsys):
    from attnff.datagen.packing import pack_box

    potential, _ = files
    structure = tmp_path / "water_box.xyz"
    write(structure, pack_box([molecule("H2O") for _ in range(12)], 1.0, seed=0))
    out = tmp_path / "npt"
    assert main(["md", str(structure), "--potential", potential, "--device", "cpu", "--out", str(out),
                 "--ensemble", "npt", "--pressure", "1.0", "--timestep", "0.25", "--steps", "8",
                 "--log-interval", "2", "--traj-interval", "2", "--no-progress", "--rdf", "O-O", "O-H",
                 "--labile-bonds", "O-H"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labile_bonds"] == ["O-H"] and report["labile_changed_frames"] == 0
    assert report["mean_density_g_cm3"] == pytest.approx(1.0, rel=0.05)
    assert report["broken_molecule_frames"] == 0 and report["analysed_frames"] == 5
    assert report["rdf"]["pairs"] == ["O-O", "O-H"]
    with open(out / "rdf.csv") as handle:
        assert next(csv.reader(handle)) == ["r_A", "g_O-O", "g_O-H"]
    assert (out / "rdf.png").is_file() and (out / "analysis.json").is_file()


def test_md_command_refuses_a_bad_rdf_pair(files, capsys):
    potential, structure = files
    with pytest.raises(SystemExit):
        main(["md", structure, "--potential", potential, "--rdf", "O-Xx"])
    assert "not an element pair" in capsys.readouterr().err


def test_recompute_layers_flag_gives_the_same_scan(files, tmp_path):
    potential, structure = files
    energies = []
    for flag in ([], ["--recompute-layers", "yes"], ["--recompute-layers"]):
        out = tmp_path / f"scan{len(flag)}"
        assert main(["scan", structure, "--potential", potential, "--device", "cpu", "--bond", "0", "1",
                     "--from", "1.3", "--to", "1.5", "--points", "3", "--out", str(out), *flag]) == 0
        with open(out / "scan.csv", newline="") as handle:
            energies.append([float(row["energy_eV"]) for row in csv.DictReader(handle)])
    assert energies[1] == pytest.approx(energies[0], abs=1e-9)


@pytest.mark.parametrize(("flag", "expected"), [([], "auto"), (["--recompute-layers"], True),
                                                (["--recompute-layers", "no"], False)])
def test_recompute_layers_flag_maps_to_the_calculator_argument(flag, expected):
    from attnff.cli import _recompute_choice, build_parser

    args = build_parser().parse_args(["md", "box.xyz", "--potential", "jat-ean", "--out", "run", *flag])
    assert _recompute_choice(args) == expected and type(_recompute_choice(args)) is type(expected)


@pytest.mark.parametrize("command", ["md", "scan", "eval", "train"])
def test_help_shows_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default:" in text and "(default: None)" not in text


@pytest.mark.parametrize("extra, message", [
    (["--ensemble", "npt"], "--ensemble npt needs --pressure"),
    (["--pressure", "1"], "--pressure is only used with --ensemble npt"),
    (["--timestep", "-1"], "argument --timestep: must be above 0"),
    (["--steps", "many"], "argument --steps: a whole number"),
    (["--threads", "0"], "argument --threads: a positive integer or 'auto'"),
])
def test_md_refusals_name_the_flag_the_user_typed(files, tmp_path, capsys, extra, message):
    potential, structure = files
    with pytest.raises(SystemExit) as exit_info:
        main(["md", structure, "--potential", potential, "--device", "cpu", "--out", str(tmp_path / "md"), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "pressure_bar" not in err and "<class" not in err


@pytest.mark.parametrize("flag, atoms, expected", [("auto", 9, 1), ("auto", 768, None), ("3", 9, 3)])
def test_threads_flag_maps_to_the_calculator(flag, atoms, expected):
    from attnff.cli import _threads, build_parser

    args = build_parser().parse_args(["md", "x.xyz", "--potential", "p", "--out", "o", "--threads", flag])
    assert _threads(args, atoms) == expected


def test_scan_axis_names_elements_and_md_plot_draws_the_target(files, tmp_path):
    import numpy as np

    from attnff import AttnCalculator, scan
    from attnff.plots import axis_label, md_plot, scan_symbols

    potential, structure = files
    result = scan.bond(read(structure), AttnCalculator.load(potential, device="cpu"), 0, 2, np.linspace(1.3, 1.6, 3))
    assert axis_label(result.coordinates[0], scan_symbols(result)) == "r(C0–O2) (Å)"
    out = tmp_path / "md"
    assert main(["md", structure, "--potential", potential, "--device", "cpu", "--out", str(out), "--steps", "4",
                 "--log-interval", "1", "--ensemble", "nvt", "--no-progress"]) == 0
    md_plot(out / "md_log.csv", tmp_path / "md.png", title="title", target_temperature_K=300.0)
    assert (tmp_path / "md.png").stat().st_size > 10_000
