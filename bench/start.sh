#!/usr/bin/env bash
# Benchmark (issue 16, goal 4): process start. Interleaved repetitions of `sriovctl version` and `ip -V`
# (iproute2: a small C program, the floor of any command-line tool), each timed from its fork to its exit by
# bench/timeit; prints the medians, peak RSS and t(sriovctl version)/t(ip -V). Goal: <= 1.5. It also times
# bench/gofloor, an empty Go program, and bench/libfloor, the same with the libraries sriovctl is built on
# linked in, and prints their ratios to ip -V: the parts of the start that are Go's and those libraries'.
#
#   bench/start.sh            # 200 repetitions of each
#   bench/start.sh --short    # CI: 40
#   REPS=N bench/start.sh
#   GOAL=R bench/start.sh     # fail above R instead of 1.5 (CI: a bound against regressions)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

reps=${REPS:-200} goal=${GOAL:-1.5}
[[ "${1:-}" == "--short" ]] && reps=${REPS:-40}
ip=$(command -v ip) || { echo "start: needs iproute2's ip" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_build "$work"

# Warm the page cache for the binaries, then interleave.
"$work/sriovctl" version >/dev/null
"$ip" -V >/dev/null
"$work/gofloor" >/dev/null
"$work/libfloor" >/dev/null
: >"$work/s" && : >"$work/i" && : >"$work/g" && : >"$work/l"
for ((r = 0; r < reps; r++)); do
  "$work/timeit" -- "$work/sriovctl" version >>"$work/s"
  "$work/timeit" -- "$ip" -V >>"$work/i"
  "$work/timeit" -- "$work/gofloor" >>"$work/g"
  "$work/timeit" -- "$work/libfloor" >>"$work/l"
done
# The floors: the smallest Go program, built the same way, and the same with sriovctl's libraries
# initialised, against ip -V. sriovctl cannot start faster than either.
ms() { cut -d' ' -f1 <"$1" | median | awk '{printf "%.2f", $1/1000}'; }
floor=$(ratio "$(cut -d' ' -f1 <"$work/g" | median)" "$(cut -d' ' -f1 <"$work/i" | median)")
echo "floor: t(gofloor, an empty Go program)/t(ip -V) = $floor, $(ms "$work/g") ms"
libfloor=$(ratio "$(cut -d' ' -f1 <"$work/l" | median)" "$(cut -d' ' -f1 <"$work/i" | median)")
echo "floor: t(libfloor, gofloor with sriovctl's libraries)/t(ip -V) = $libfloor, $(ms "$work/l") ms"
compare start "$goal" "sriovctl version" "$work/s" "ip -V" "$work/i"
