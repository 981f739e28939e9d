# Shared helpers of the benchmark scripts (sourced, not run). Ratios are what the goals judge: the
# machines are shared and noisy, so every script interleaves the commands it compares and reports medians.

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk 'NF {a[++n] = $1} END {print a[int((n + 1) / 2)]}'; }

# bench_build DIR: builds sriovctl and bench/timeit into DIR.
bench_build() {
  go build -o "$1/sriovctl" ./cmd/sriovctl
  go build -o "$1/timeit" ./bench/timeit
}

# check_goal NAME RATIO GOAL: prints the verdict; returns 1 when RATIO is above GOAL.
check_goal() {
  if awk -v r="$2" -v g="$3" 'BEGIN{exit !(r <= g)}'; then
    echo "$1: ratio $2 meets the goal (<= $3)"
  else
    echo "$1: ratio $2 above the goal $3" >&2
    return 1
  fi
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
