"""Mean centroid-virial kinetic energy per atom and element from an i-PI properties file, against 3/2 kT.

Usage: python kinetic_energy.py pimd.out [temperature_K] [skip_fraction]
"""

import sys

import numpy as np
from ase.units import kB

from attnff.ipi import read_ipi_properties

path = sys.argv[1] if len(sys.argv) > 1 else "pimd.out"
temperature = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
skip = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
counts = {"H": 6, "C": 2, "O": 1}  # ethanol
table = read_ipi_properties(path)
kept = slice(int(skip * len(table["step"])), None)
classical = 1.5 * kB * temperature
print(f"{len(table['step'][kept])} frames; classical 3/2 kT = {classical * 1000:.1f} meV per atom")
for element, count in counts.items():
    per_atom = table[f"kinetic_cv({element})"][kept] / count
    print(f"{element}: quantum kinetic energy {per_atom.mean() * 1000:.1f} meV per atom "
          f"= {per_atom.mean() / classical:.2f} x 3/2 kT (+- {per_atom.std() / np.sqrt(len(per_atom)) * 1000:.1f})")
