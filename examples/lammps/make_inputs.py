"""Write the inputs of in.ean_npt: an EAN box as a LAMMPS data file and the ML-IAP reference to jat-ean.

    python make_inputs.py [pairs]        # default 27 ion pairs (405 atoms)

The atom types follow the potential's element order (H C N O for jat-ean), which is the order
``pair_coeff * * H C N O`` names them in. jat-ean.mliap.pkl holds only the path and SHA-256 of
potentials/jat-ean/model.safetensors and the settings; LAMMPS unpickles it, which loads the weights
with attnff's safetensors reader (see docs/engines.md).
"""

import sys

from ase.io import write

from attnff.datagen.ean import ean_box
from attnff.lammps import AttnMLIAP, export_lammps

pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 27
reference = export_lammps("jat-ean", "jat-ean.mliap.pkl", charge=0, multiplicity=None, dtype="float64")
elements = AttnMLIAP("jat-ean").element_types
atoms = ean_box(pairs, seed=5)
write("ean.data", atoms, format="lammps-data", specorder=elements, masses=True, units="metal")
print(f"wrote ean.data ({len(atoms)} atoms, types {' '.join(elements)}) and {reference}")
