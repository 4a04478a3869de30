#!/usr/bin/env bash
# Regenerates the figures of docs/tutorial.md in docs/images/ with the shipped potentials: every example in
# full mode, plus one `attnff md` and one `attnff scan` run. A few minutes on 2 CPU cores.
#
#   bash scripts/make_tutorial_images.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
images=docs/images
mkdir -p "$images"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python examples/dissociation.py --out "$images"                                  # cmret-ch2-dissociation
python examples/dissociation.py --potential cmret-ch2 --out "$images"
python examples/pes_scan.py --out "$images"
python examples/optimize_and_vibrate.py --out "$images"
for potential in jat-md17-ethanol cmret-md17-ethanol geomatt-md17-ethanol; do
    python examples/attention_map.py --potential "$potential" --out "$images"
done

python -m attnff.cli md examples/ethanol.xyz --potential jat-md17-ethanol --steps 2000 --out "$work/md" \
    --no-progress > /dev/null
cp "$work/md/md.png" "$images/md_nve.png"
python -m attnff.cli scan examples/ethanol.xyz --potential jat-md17-ethanol --bond 1 2 --from 1.2 --to 1.8 \
    --points 13 --move fragment --relax --out "$work/scan"
cp "$work/scan/scan.png" "$images/ethanol_co_scan.png"

rm -f "$images"/*.csv "$images"/*.xyz                                            # keep only the figures
ls "$images"
