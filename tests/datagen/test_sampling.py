"""The GFN-xTB data generator on a one-pair EAN box with a tiny budget (needs tblite)."""

import numpy as np
import pytest
from ase.io import read

from attnff.data.readers import DataSpec, read_configurations
from attnff.datagen import ean as _ean_module
from attnff.datagen.sampling import Segment, generate, min_distance, run_segment
from tests.conftest import require_module

SEGMENT = Segment(index=0, seed=11, density_g_cm3=1.21, temperature_K=300.0, frames=3, stride=1,
                  relax_steps=2, relax_labels=1)


def test_ions_and_box():
    ean = _ean_module
    assert ean.ethylammonium().get_chemical_formula() == "C2H8N"
    assert ean.nitrate().get_chemical_formula() == "NO3"
    box = ean.ean_box(2, seed=1)
    assert len(box) == 30 and box.info["charge"] == 0
    assert min_distance(box) > 0.9  # covalent bonds are the shortest contacts


def test_generator_labels_with_stress_and_resumes(tmp_path):
    require_module("tblite")
    molecules = _ean_module.ion_pairs(1)
    out = tmp_path / "ean.extxyz"
    digest = generate([SEGMENT], molecules, "GFN1-xTB", out, workers=1, show_progress=False)
    frames = read(out, ":")
    assert len(frames) == 3
    assert [f.info["stage"] for f in frames] == ["relax", "md", "md"]
    for frame in frames:
        assert frame.info["charge"] == 0 and frame.info["method"].startswith("GFN1-xTB (tblite")
        assert np.isfinite(frame.get_potential_energy())
        assert frame.get_forces().shape == (15, 3) and frame.get_stress().shape == (6,)
    assert "momenta" in frames[-1].arrays
    assert (tmp_path / "ean.extxyz.sha256").read_text().startswith(digest)

    # the attnff reader takes the file as training data, with stress
    configs = read_configurations(DataSpec(str(out)))
    assert len(configs) == 3 and configs[0].stress is not None

    # interrupt: tear the last frame in half; a rerun keeps the first two and relabels the third
    part = tmp_path / "ean.extxyz.parts" / "segment0000.extxyz"
    text = part.read_text()
    part.write_text(text[: len(text) - len(text) // 6])
    result = run_segment(SEGMENT, molecules, "GFN1-xTB", part)
    assert result["new_frames"] == 1
    resumed = read(part, ":")
    assert len(resumed) == 3
    for a, b in zip(frames[:2], resumed[:2]):
        assert np.array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()
    # the torn frame is recomputed from the same seeds; the fresh SCF guess changes only the last digits
    assert resumed[2].get_potential_energy() == pytest.approx(frames[2].get_potential_energy(), abs=1e-5)
    assert np.abs(resumed[2].positions - frames[2].positions).max() < 1e-5


def test_active_learning_segment_runs_md_with_a_potential_and_labels_with_the_reference(tmp_path):
    require_module("tblite")
    from attnff import save_potential
    from tests.conftest import small_potential

    driver = save_potential(small_potential("jat"), tmp_path / "driver.safetensors")
    segment = Segment(index=10_000, seed=5, density_g_cm3=1.21, temperature_K=400.0, frames=2, stride=3,
                      relax_steps=5, potential=str(driver))
    part = tmp_path / "active.extxyz"
    assert run_segment(segment, _ean_module.ion_pairs(1), "GFN1-xTB", part)["new_frames"] == 2
    frames = read(part, ":")
    assert [f.info["stage"] for f in frames] == ["active", "active"]
    assert all(f.info["driver"] == str(driver) and f.get_stress().shape == (6,) for f in frames)
    assert not np.allclose(frames[0].positions, frames[1].positions)


def test_equilibrated_segment_hands_the_md_from_the_potential_to_the_reference(tmp_path, monkeypatch):
    require_module("tblite")
    from attnff import save_potential
    from attnff.datagen import sampling
    from tests.conftest import small_potential

    driver = save_potential(small_potential("jat"), tmp_path / "driver.safetensors")
    segment = Segment(index=20_000, seed=5, density_g_cm3=1.21, temperature_K=300.0, frames=2, stride=2,
                      relax_steps=3, potential=str(driver), equilibrate_steps=4, warmup_steps=2)
    steps = []  # (calculator type, steps) of every MD run
    real_run_md = sampling._run_md

    def recording_run_md(atoms, segment, rng, count, reference_driven):
        steps.append((type(atoms.calc).__name__, count))
        return real_run_md(atoms, segment, rng, count, reference_driven)

    monkeypatch.setattr(sampling, "_run_md", recording_run_md)
    part = tmp_path / "equilibrated.extxyz"
    assert run_segment(segment, _ean_module.ion_pairs(1), "GFN1-xTB", part)["new_frames"] == 2
    assert steps[0] == ("AttnCalculator", 4) and all(name == "TBLite" for name, _ in steps[1:])
    assert [count for _, count in steps[1:]] == [2, 2, 2]  # warm-up, then one stride per frame
    frames = read(part, ":")
    assert [f.info["stage"] for f in frames] == ["equilibrated-md"] * 2
    assert frames[0].info["driver"] == f"GFN1-xTB after 4 steps of {driver}"
    assert all(f.get_stress().shape == (6,) for f in frames)

    # resumed after the first frame: the reference continues from it, the potential is not run again
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:17]) + lines[17][:1])  # frame 0 (15 atoms + 2 lines) and a torn frame 1
    steps.clear()
    assert run_segment(segment, _ean_module.ion_pairs(1), "GFN1-xTB", part)["new_frames"] == 1
    assert steps == [("TBLite", 2)]


def test_a_jammed_packing_is_retried_with_other_seeds_and_then_named(monkeypatch):
    from attnff.datagen import sampling

    molecules = _ean_module.ion_pairs(1)
    seeds = []
    real_pack = sampling.pack_box

    def jam_twice(molecules, density, seed):
        seeds.append(seed)
        if len(seeds) <= 2:
            raise ValueError("could not place molecule 1")
        return real_pack(molecules, density, seed=seed)

    monkeypatch.setattr(sampling, "pack_box", jam_twice)
    box = sampling._start(SEGMENT, molecules, attempt=0)
    assert len(box) == 15 and len(set(seeds)) == 3 and seeds[0] == SEGMENT.seed

    monkeypatch.setattr(sampling, "pack_box", lambda *args, **kwargs: (_ for _ in ()).throw(ValueError("jam")))
    with pytest.raises(ValueError, match="segment0000: 50 packing seeds failed; last: jam"):
        sampling._start(SEGMENT, molecules, attempt=0)


class _RefusingCalculator:
    """Stands in for an AttnCalculator that meets overlapping atoms: every call raises."""

    def get_forces(self, atoms):
        from attnff.errors import InvalidStructureError
        raise InvalidStructureError("atoms 0 and 1 are 0.05 A apart (minimum 0.1 A): overlapping atoms")

    get_potential_energy = get_forces


def test_a_collision_the_calculator_refuses_counts_as_a_collision_not_a_crash():
    from ase import Atoms

    from attnff.datagen.sampling import _md_chunk
    from attnff.errors import InvalidStructureError

    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.05]], cell=[5, 5, 5], pbc=True)
    atoms.calc = _RefusingCalculator()
    active = Segment(index=0, seed=0, density_g_cm3=1.2, temperature_K=300, frames=1, stride=2, potential="jat-ean")
    assert _md_chunk(atoms, active, np.random.default_rng(0)) is False
    reference = Segment(index=0, seed=0, density_g_cm3=1.2, temperature_K=300, frames=1, stride=2)
    with pytest.raises(InvalidStructureError):
        _md_chunk(atoms, reference, np.random.default_rng(0))
