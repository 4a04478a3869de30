#!/usr/bin/env bash
# Build LAMMPS 20260704 (Debian's orig source tarball) with KOKKOS (Serial host back end), ML-IAP with its
# Python coupling, ML-SNAP, PYTHON and OpenMPI, for attnff's ML-IAP unified wrapper (attnff/lammps.py,
# docs/engines.md).
#
#   scripts/build_lammps.sh [build_dir]     # default ../lammps-build (outside the repository)
#
# Environment: PYTHON (default: the `python` on PATH; the interpreter with torch and attnff, whose libpython
# LAMMPS embeds), PREFIX (where lmp and liblammps.so go; default that Python's sys.prefix, so lmp lands next to
# python), JOBS (default 2), KOKKOS_TAR (a Kokkos 4.6.99 source tarball, commit 28848df of
# github.com/kokkos/kokkos; default: ../shared/vendor/kokkos-4.6.99-28848df.tar.gz where the project's
# machines keep it, else the script downloads that commit's archive from GitHub).
# Needs root (or sudo) for apt-get (MPI, a deb-src entry for sid). Measured: the compile took 19 min on 2 busy cores
# (docs/engines.md). Rerunning it on an existing build_dir only rebuilds what changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(mkdir -p "${1:-$here/../lammps-build}" && cd "${1:-$here/../lammps-build}" && pwd)
python=$(command -v "${PYTHON:-python}")
python=$("$python" -c 'import sys; print(sys.executable)')     # the real interpreter, not a pyenv shim
prefix=${PREFIX:-$("$python" -c 'import sys; print(sys.prefix)')}
kokkos_commit=28848df
kokkos_vendored=$here/../shared/vendor/kokkos-4.6.99-$kokkos_commit.tar.gz
kokkos_vendored_sha256=f37ebcfc78b784228e48310d9524e205ea62be6b3cabee061f59468a086822f5
jobs=${JOBS:-2}
version=20260704
orig=lammps_${version}+dfsg.orig.tar.gz
orig_sha256=cddbc45a047416bd48a4a0b87f24a5b61b3446982b74d18cafe619c22b17eb62
src=$build/lammps-$version
start=$(date +%s)
cd "$build"

# compilers, MPI (OpenMPI from Debian), and a deb-src entry for sid, which carries LAMMPS 20260704
as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo)
if [[ ! -f /etc/apt/sources.list.d/sid-src.list ]]; then
    echo "deb-src http://deb.debian.org/debian sid main" | "${as_root[@]}" tee /etc/apt/sources.list.d/sid-src.list > /dev/null
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq cmake g++ make libopenmpi-dev openmpi-bin > /dev/null
"$python" -m pip install --quiet cython    # ML-IAP's Python coupling is Cython; numpy comes with attnff

# the orig tarball only: sid's .dsc and debian.tar.xz may be newer revisions than the index we see
if [[ ! -f $orig ]]; then
    debian_version=$(apt-cache showsrc lammps | awk -v v="$version" '$1 == "Version:" && index($2, v) == 1 {print $2; exit}')
    [[ -n $debian_version ]] || { echo "no lammps $version in the deb-src indexes" >&2; exit 1; }
    apt-get source --download-only --tar-only "lammps=$debian_version"
fi
echo "$orig_sha256  $orig" | sha256sum -c -
if [[ -n ${KOKKOS_TAR:-} ]]; then
    kokkos_tar=$KOKKOS_TAR
elif [[ -f $kokkos_vendored ]]; then
    kokkos_tar=$kokkos_vendored
    echo "$kokkos_vendored_sha256  $kokkos_tar" | sha256sum -c -
else
    kokkos_tar=$build/kokkos-$kokkos_commit.tar.gz
    [[ -f $kokkos_tar ]] || curl -fsSL -o "$kokkos_tar" "https://github.com/kokkos/kokkos/archive/$kokkos_commit.tar.gz"
fi

# the tarball has no top folder; unpack once (marker files keep a rerun from touching sources)
if [[ ! -f $src/.unpacked ]]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xzf "$orig" -C "$src"
    touch "$src/.unpacked"
fi
# Debian strips lib/kokkos; LAMMPS 20260704 wants Kokkos 5, whose host mirror type is host_mirror_type.
# Kokkos 4.6.99 names it HostMirror: unpack it into lib/kokkos and rename the 4 uses in src/KOKKOS.
if [[ ! -f $src/lib/kokkos/.unpacked ]]; then
    rm -rf "$src/lib/kokkos" && mkdir -p "$src/lib/kokkos"
    tar -xzf "$kokkos_tar" -C "$src/lib/kokkos" --strip-components=1
    grep -q 'set(Kokkos_VERSION_MINOR 6)' "$src/lib/kokkos/CMakeLists.txt" &&
        grep -q 'set(Kokkos_VERSION_PATCH 99)' "$src/lib/kokkos/CMakeLists.txt" ||
        { echo "$kokkos_tar is not Kokkos 4.6.99" >&2; exit 1; }
    grep -rl 'host_mirror_type' "$src/src/KOKKOS" | xargs -r sed -i 's/host_mirror_type/HostMirror/g'
    touch "$src/lib/kokkos/.unpacked"
fi
echo "uses of host_mirror_type left in src/KOKKOS: $(grep -r 'host_mirror_type' "$src/src/KOKKOS" | wc -l)"

# LAMMPS_INSTALL_RPATH: the installed lmp finds this Python's libpython (not /usr/lib's libpython3.11)
cmake -S "$src/cmake" -B "$build/build" \
    -D CMAKE_BUILD_TYPE=Release -D CMAKE_INSTALL_PREFIX="$prefix" -D LAMMPS_INSTALL_RPATH=on \
    -D BUILD_MPI=yes -D BUILD_SHARED_LIBS=yes -D LAMMPS_EXCEPTIONS=yes \
    -D PKG_KOKKOS=yes -D Kokkos_ENABLE_SERIAL=yes -D Kokkos_ENABLE_OPENMP=no -D EXTERNAL_KOKKOS=no \
    -D PKG_ML-IAP=yes -D PKG_ML-SNAP=yes -D MLIAP_ENABLE_PYTHON=yes -D PKG_PYTHON=yes \
    -D Python_EXECUTABLE="$python" -D Cythonize_EXECUTABLE="$(dirname "$python")/cythonize" > cmake.log
compile_start=$(date +%s)
nice -n 19 cmake --build "$build/build" -j "$jobs" > build.log 2>&1 || { tail -40 build.log; exit 1; }
compile_end=$(date +%s)
cmake --install "$build/build" > install.log
(cd "$build/build" && make install-python > install-python.log 2>&1) || { tail -20 "$build/build/install-python.log"; exit 1; }

echo "lmp: $prefix/bin/lmp"
"$prefix/bin/lmp" -h | grep -A3 -E '^Installed packages' || true
"$python" -c 'import lammps; lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"]);
print("lammps module", lmp.version(), "packages", " ".join(lmp.installed_packages)); lmp.close()'
echo "compile: $(( (compile_end - compile_start) / 60 )) min $(( (compile_end - compile_start) % 60 )) s" \
     "on $jobs jobs; whole script: $(( $(date +%s) - start )) s"
