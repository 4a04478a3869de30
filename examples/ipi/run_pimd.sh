#!/usr/bin/env bash
# PIMD of ethanol with i-PI and two attnff clients sharing the 8 beads of every step.
# Usage: ./run_pimd.sh [potential] [steps]   (default jat-md17-ethanol, the steps of input.xml)
set -euo pipefail
cd "$(dirname "$0")"
potential=${1:-jat-md17-ethanol}
input=input.xml
if [[ $# -ge 2 ]]; then
    sed "s|<total_steps>[0-9]*</total_steps>|<total_steps>$2</total_steps>|" input.xml > input.run.xml
    input=input.run.xml
fi
rm -f /tmp/ipi_attnff-ethanol RESTART EXIT
i-pi "$input" > ipi.log 2>&1 &
server=$!
while [[ ! -S /tmp/ipi_attnff-ethanol ]]; do sleep 0.2; done   # the server's socket is up
for k in 1 2; do
    OMP_NUM_THREADS=1 python -m attnff.ipi --potential "$potential" --structure ethanol.xyz \
        --unix attnff-ethanol > "client$k.log" 2>&1 &
done
wait "$server"
wait
cat client1.log client2.log
python kinetic_energy.py pimd.out
