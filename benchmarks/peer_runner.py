"""Time one peer model (randomly initialised) on one structure; run by benchmarks/speed.py.

    benchmarks/.peers-venv/bin/python benchmarks/peer_runner.py '<case JSON>'

Runs with the peers venv's Python (see ``speed.py --setup-peers``) and reuses speed.py's
timing loop, so peers and attnff are timed the same way: energy + forces through an ASE
calculator after a small move of the atoms, median over repeated calls after warm-up.
Prints one line ``RESULT {json}``.

Hyperparameters (``PEER_SETTINGS``): cutoff 5 A, 64 features, 4 interaction layers, except
MACE with its usual 2 interactions (each of body order 4). Each peer builds its neighbour
list on every call, as its own ASE calculator does.
"""

import json
import sys
import typing
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402  (stdlib + numpy at import time)

# e3nn 0.4.4 (pinned by mace-torch) torch.loads its own constants file, which holds slices that
# torch >= 2.6 refuses to unpickle by default
torch.serialization.add_safe_globals([slice])

CUTOFF = 5.0
SPECIES = ("H", "C", "O")

#: what the doc's table states for each peer
PEER_SETTINGS = {
    "schnet": "SchNet (schnetpack): 64 features, 4 interactions, 20 Gaussians, cosine cutoff 5 A",
    "painn": "PaiNN (schnetpack): 64 features, 4 interactions, 20 Gaussians, cosine cutoff 5 A",
    "nequip": "NequIP: 4 layers, l_max 1, 64 features, 8 Bessels, radial MLP 1x64, r_max 5 A",
    "mace": "MACE: 2 interactions, 64x0e+64x1o, max_ell 3, correlation 3, 8 Bessels, r_max 5 A",
    "torchmd-et": "TorchMD-NET ET: 64 features, 4 layers, 4 heads, 32 expnorm RBF, cutoff 5 A",
}


class FunctionCalculator:
    """An ASE calculator around ``evaluate(atoms) -> (energy, forces)``, for peers without a usable one."""

    def __new__(cls, evaluate):
        from ase.calculators.calculator import Calculator, all_changes

        class _Calc(Calculator):
            implemented_properties = ["energy", "free_energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                energy, forces = evaluate(self.atoms)
                self.results = {"energy": energy, "free_energy": energy, "forces": forces}

        return _Calc()


def schnetpack_calculator(kind: str, dtype: torch.dtype):
    import torch.utils.data.dataloader as dataloader

    if not hasattr(dataloader, "T_co"):  # schnetpack 2.0 imports a name that torch 2.13 no longer has
        dataloader.T_co = typing.TypeVar("T_co", covariant=True)
    import schnetpack as spk
    import schnetpack.transform as trn

    radial = spk.nn.GaussianRBF(n_rbf=20, cutoff=CUTOFF)
    cutoff_fn = spk.nn.CosineCutoff(CUTOFF)
    cls = spk.representation.SchNet if kind == "schnet" else spk.representation.PaiNN
    representation = cls(n_atom_basis=64, n_interactions=4, radial_basis=radial, cutoff_fn=cutoff_fn)
    model = spk.model.NeuralNetworkPotential(
        representation=representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[spk.atomistic.Atomwise(n_in=64, output_key="energy"),
                        spk.atomistic.Forces(energy_key="energy", force_key="forces")],
    ).to(dtype).eval()
    # SpkCalculator unpickles a model file, which torch >= 2.6 refuses by default; its converter is used directly
    converter = spk.interfaces.AtomsConverter(neighbor_list=trn.MatScipyNeighborList(cutoff=CUTOFF), dtype=dtype)

    def evaluate(atoms):
        out = model(converter(atoms))
        return float(out["energy"].sum()), out["forces"].detach().numpy().astype(float)

    return FunctionCalculator(evaluate)


def nequip_calculator(dtype: torch.dtype):
    import e3nn
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.integrations.ase import NequIPCalculator
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    # mace-torch pins e3nn 0.4.4, older than nequip wants; its optimisation switches lack jit_mode
    known = e3nn.get_optimization_defaults()
    set_defaults = e3nn.set_optimization_defaults
    e3nn.set_optimization_defaults = lambda **kw: set_defaults(**{k: v for k, v in kw.items() if k in known})
    set_global_state()

    model = NequIPGNNModel(seed=0, model_dtype=str(dtype).split(".")[-1], r_max=CUTOFF, type_names=list(SPECIES),
                           num_layers=4, l_max=1, num_features=64, radial_mlp_depth=1, radial_mlp_width=64,
                           avg_num_neighbors=50.0).eval()
    transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=list(SPECIES)),
                  NeighborListTransform(r_max=CUTOFF)]
    return NequIPCalculator(model=model, device="cpu", transforms=transforms)


def mace_calculator(dtype: torch.dtype):
    from e3nn import o3
    from mace import modules
    from mace.calculators import MACECalculator

    torch.set_default_dtype(dtype)
    interaction = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.MACE(
        r_max=CUTOFF, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, interaction_cls=interaction,
        interaction_cls_first=interaction, num_interactions=2, num_elements=3,
        hidden_irreps=o3.Irreps("64x0e + 64x1o"), MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(3),
        avg_num_neighbors=50.0, atomic_numbers=[1, 6, 8], correlation=3, gate=torch.nn.functional.silu,
    ).to(dtype).eval()
    return MACECalculator(models=model, device="cpu", default_dtype=str(dtype).split(".")[-1])


def torchmd_et_calculator(dtype: torch.dtype, box: np.ndarray | None):
    from torchmdnet.models.model import create_model

    args = {
        "model": "equivariant-transformer", "embedding_dimension": 64, "num_layers": 4, "num_rbf": 32,
        "rbf_type": "expnorm", "trainable_rbf": False, "activation": "silu", "attn_activation": "silu",
        "num_heads": 4, "distance_influence": "both", "neighbor_embedding": True, "cutoff_lower": 0.0,
        "cutoff_upper": CUTOFF, "max_z": 100, "max_num_neighbors": 256, "aggr": "add",
        "equivariance_invariance_group": "O(3)", "static_shapes": False, "vector_cutoff": True,
        "box_vecs": None if box is None else box.tolist(), "precision": 64 if dtype == torch.float64 else 32,
        "derivative": True, "output_model": "Scalar", "reduce_op": "add", "prior_model": None,
        "atom_filter": -1, "remove_ref_energy": False, "check_errors": True,
    }
    model = create_model(args).eval()
    box_t = None if box is None else torch.tensor(box, dtype=dtype)

    def evaluate(atoms):
        z = torch.as_tensor(atoms.numbers, dtype=torch.long)
        pos = torch.as_tensor(atoms.positions, dtype=dtype)
        energy, neg_dy = model(z, pos, batch=torch.zeros_like(z), box=box_t)
        return float(energy.sum()), neg_dy.detach().numpy().astype(float)

    return FunctionCalculator(evaluate)


def build_calculator(model: str, dtype: torch.dtype, atoms):
    if model in ("schnet", "painn"):
        return schnetpack_calculator(model, dtype)
    if model == "nequip":
        return nequip_calculator(dtype)
    if model == "mace":
        return mace_calculator(dtype)
    if model == "torchmd-et":
        return torchmd_et_calculator(dtype, atoms.cell.array if atoms.pbc.all() else None)
    raise ValueError(f"unknown peer {model!r}")


def main(case_json: str) -> None:
    case = json.loads(case_json)
    speed._limit_memory(case["memory_limit_gib"])
    torch.set_num_threads(case["threads"])
    dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
    try:
        atoms = speed.load_structure(case["structure"])
        atoms.calc = build_calculator(case["model"], dtype, atoms)
        fields = speed.time_calls(atoms, case["warmup"], case["repeats"], case["max_seconds"])
        fields.update(status="ok", threads=torch.get_num_threads(), settings=PEER_SETTINGS[case["model"]])
    except MemoryError as error:
        fields = {"status": "oom", "note": f"MemoryError: {error}"[:200]}
    except RuntimeError as error:
        text = str(error)
        status = "oom" if "alloc" in text.lower() or "memory" in text.lower() else "error"
        fields = {"status": status, "note": (text.splitlines() or [repr(error)])[0][:200]}
    fields["peak_rss_mib"] = speed._peak_rss_mib()
    fields.setdefault("settings", PEER_SETTINGS.get(case["model"], ""))
    print("RESULT " + json.dumps(fields), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
