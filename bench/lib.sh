# Shared helpers of the benchmark scripts (sourced, not run). Ratios are what the goals judge: the
# machines are shared and noisy, so every script interleaves the commands it compares and reports medians.

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk 'NF {a[++n] = $1} END {print a[int((n + 1) / 2)]}'; }

# bench_build DIR: builds sriovctl as the package ships it (static, stripped: the Makefile's flags),
# bench/gofloor and bench/libfloor the same way, and bench/timeit into DIR.
bench_build() {
  local ship=(-trimpath -buildvcs=false -ldflags '-s -w')
  CGO_ENABLED=0 go build "${ship[@]}" -o "$1/sriovctl" ./cmd/sriovctl
  CGO_ENABLED=0 go build "${ship[@]}" -o "$1/gofloor" ./bench/gofloor
  CGO_ENABLED=0 go build "${ship[@]}" -o "$1/libfloor" ./bench/libfloor
  go build -o "$1/timeit" ./bench/timeit
}

# check_goal NAME RATIO GOAL: prints the verdict; returns 1 when RATIO is above GOAL.
check_goal() {
  if awk -v r="$2" -v g="$3" 'BEGIN{exit !(r <= g)}'; then
    echo "$1: ratio $2 is within $3 (GOAL; the issue's goals are in docs/performance.md)"
  else
    echo "$1: ratio $2 is above the bound checked here ($3)" >&2
    return 1
  fi
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

# compare NAME GOAL LABEL_A FILE_A LABEL_B FILE_B: FILE_A and FILE_B hold bench/timeit lines ("us rss_kb
# cpu_us") of interleaved runs of two commands; prints each one's median wall time, CPU time and peak RSS,
# the ratio of the wall-time medians t(A)/t(B) (the goal's) and of the CPU medians (less sensitive to
# other load on the machine), then checks the wall-time ratio against GOAL (returns 1 above it).
compare() {
  local name=$1 goal=$2 la=$3 fa=$4 lb=$5 fb=$6
  col() { cut -d' ' -f"$2" <"$1" | median; }
  printf '%-24s %-10s %-10s %s\n' command "median ms" "CPU ms" "peak RSS MB"
  local f l
  for f in "$fa" "$fb"; do
    l=$la && [[ $f == "$fb" ]] && l=$lb
    printf '%-24s %-10s %-10s %s\n' "$l" "$(col "$f" 1 | awk '{printf "%.2f", $1/1000}')" \
      "$(col "$f" 3 | awk '{printf "%.2f", $1/1000}')" "$(col "$f" 2 | awk '{printf "%.1f", $1/1024}')"
  done
  local r
  r=$(ratio "$(col "$fa" 1)" "$(col "$fb" 1)")
  echo "t($la)/t($lb) = $r, CPU $(ratio "$(col "$fa" 3)" "$(col "$fb" 3)") ($(wc -l <"$fa") interleaved repetitions)"
  check_goal "$name" "$r" "$goal"
}
