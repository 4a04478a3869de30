"""Write the inputs of in.ean_npt / in.ean_nve: an EAN box as a LAMMPS data file and the ML-IAP reference to jat-ean.

    python make_inputs.py [pairs]        # default 16 ion pairs (240 atoms); 27 gives 405 atoms

The atom types follow the potential's element order (H C N O for jat-ean), which is the order
``pair_coeff * * H C N O`` names them in. jat-ean.mliap.pkl holds only the path and SHA-256 of
potentials/jat-ean/model.safetensors and the settings; LAMMPS unpickles it, which loads the weights
with attnff's safetensors reader (see docs/engines.md).
"""

import sys

from ase.io import write

from attnff.datagen.ean import ean_box
from attnff.lammps import AttnMLIAP, export_lammps

pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 16
# the neutral singlet, stated: no MPI sum of the nuclear charge is needed on any number of ranks
reference = export_lammps("jat-ean", "jat-ean.mliap.pkl", charge=0, multiplicity=1, dtype="float64")
elements = AttnMLIAP("jat-ean").element_types
atoms = ean_box(pairs, seed=5)
atoms.wrap()
write("ean.data", atoms, format="lammps-data", specorder=elements, masses=True, units="metal")
print(f"wrote ean.data ({len(atoms)} atoms, types {' '.join(elements)}) and {reference}")
