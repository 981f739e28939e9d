#!/usr/bin/env bash
# Benchmark (issue 16, goal 3, from the CLI): a durable VF assignment costs little more than starting
# sriovctl. Interleaved repetitions of `sriovctl assign --pool vms --owner vm-N --mac ...` (a new owner
# each time: the ledger's intent and completion commits, the MAC write and the vfio-pci bind on a lab ice
# PF) and `sriovctl version`, each timed from fork to exit by bench/timeit; prints the medians, peak RSS
# and t(assign)/t(version). Goal: <= 1.5. The lab and state live under SRIOVCTL_BENCH_DIR (default: a
# temporary directory) so that the fsyncs hit the disk being measured.
#
#   bench/assign.sh            # 100 repetitions
#   bench/assign.sh --short    # CI: 20
#   REPS=N bench/assign.sh
#   GOAL=R bench/assign.sh    # fail above R instead of 1.5 (CI: a bound against regressions)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

reps=${REPS:-100} goal=${GOAL:-1.5}
[[ "${1:-}" == "--short" ]] && reps=${REPS:-20}
((reps <= 256)) || { echo "assign: at most 256 repetitions (one VF each)" >&2; exit 2; }

work=$(mktemp -d "${SRIOVCTL_BENCH_DIR:-${TMPDIR:-/tmp}}/sriovctl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
bench_build "$work"
bin=$work/sriovctl lab=$work/lab

"$bin" lab init "$lab" --nic ens1f0=ice:256 >/dev/null
cat >"$work/policy.yaml" <<POLICY
pfs:
  - name: ens1f0
    numVfs: 256
pools:
  - {name: vms, pf: ens1f0, ids: "0-255", driver: vfio-pci}
POLICY
"$bin" --lab "$lab" apply -f "$work/policy.yaml" --yes >/dev/null
"$bin" version >/dev/null

: >"$work/a" && : >"$work/v"
for ((r = 0; r < reps; r++)); do
  "$work/timeit" -- "$bin" --lab "$lab" assign --pool vms --owner "vm-$r" --mac "$(printf '02:00:00:00:%02x:%02x' $((r >> 8)) $((r & 255)))" >>"$work/a"
  "$work/timeit" -- "$bin" version >>"$work/v"
done
compare assign "$goal" "sriovctl assign" "$work/a" "sriovctl version" "$work/v"
