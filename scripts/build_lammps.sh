#!/usr/bin/env bash
# Build LAMMPS (Debian source package 20260704) with Kokkos (Serial host back end), ML-IAP, ML-SNAP, PYTHON
# and MPI, for attnff's ML-IAP unified wrapper (attnff/lammps.py, docs/engines.md).
#
#   scripts/build_lammps.sh [build_dir]        # default ../lammps-build; takes 25-40 min on 2 cores
#
# Installs `lmp` into $PREFIX/bin (default: the active Python environment's prefix) and the `lammps` Python
# module into the active environment. Needs root for apt-get (build dependencies, deb-src of sid).
# Kokkos comes from ../shared/vendor/kokkos-4.6.99-28848df.tar.gz (lib/kokkos), since the ML-IAP
# forward_exchange/reverse_exchange of the Kokkos coupling needs a newer Kokkos than the one bundled.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/../lammps-build}
prefix=${PREFIX:-$(python -c 'import sys; print(sys.prefix)')}
kokkos_tar=${KOKKOS_TAR:-$here/../shared/vendor/kokkos-4.6.99-28848df.tar.gz}
jobs=${JOBS:-2}
version=20260704

mkdir -p "$build" && cd "$build"

# sources of the Debian package (sid carries 20260704), and the tools to build it
if [[ ! -f /etc/apt/sources.list.d/sid-src.list ]]; then
    echo "deb-src http://deb.debian.org/debian sid main" > /etc/apt/sources.list.d/sid-src.list
fi
apt-get update -qq
apt-get install -y -qq dpkg-dev cmake g++ make libopenmpi-dev openmpi-bin python3-dev libfftw3-dev
python -m pip install --quiet cython          # ML-IAP's Python coupling is Cython
if [[ ! -d lammps-$version ]]; then
    apt-get source --download-only lammps=$version* || apt-get source --download-only lammps
    dpkg-source -x lammps_*.dsc "lammps-$version"
fi
src=$build/lammps-$version

# Kokkos from the vendored tarball in place of the bundled copy
rm -rf "$src/lib/kokkos" && mkdir -p "$src/lib/kokkos"
tar -xzf "$kokkos_tar" -C "$src/lib/kokkos" --strip-components=1
# this Kokkos spells the host mirror type HostMirror: rename the 4 uses in src/KOKKOS
grep -rl 'host_mirror_type' "$src/src/KOKKOS" | xargs -r sed -i 's/host_mirror_type/HostMirror/g'
echo "uses of host_mirror_type left: $(grep -r 'host_mirror_type' "$src/src/KOKKOS" | wc -l)"

cmake -S "$src/cmake" -B "$build/build" \
    -D CMAKE_BUILD_TYPE=Release -D CMAKE_INSTALL_PREFIX="$prefix" \
    -D BUILD_MPI=yes -D BUILD_SHARED_LIBS=yes -D LAMMPS_EXCEPTIONS=yes \
    -D PKG_KOKKOS=yes -D Kokkos_ENABLE_SERIAL=yes -D Kokkos_ENABLE_OPENMP=no -D EXTERNAL_KOKKOS=no \
    -D PKG_ML-IAP=yes -D PKG_ML-SNAP=yes -D MLIAP_ENABLE_PYTHON=yes -D PKG_PYTHON=yes \
    -D Python_EXECUTABLE="$(command -v python)"
time cmake --build "$build/build" -j "$jobs"
cmake --install "$build/build"
(cd "$build/build" && make install-python)
python -c "import lammps; lmp = lammps.lammps(cmdargs=['-nocite', '-log', 'none']); print('LAMMPS', lmp.version()); \
print('KOKKOS' in lmp.installed_packages and 'ML-IAP' in lmp.installed_packages)"
