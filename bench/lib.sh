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

# compare NAME GOAL LABEL_A FILE_A LABEL_B FILE_B: FILE_A and FILE_B hold bench/timeit lines ("us rss_kb")
# of interleaved runs of two commands; prints each one's median time and peak RSS and the ratio of the
# medians t(A)/t(B), then checks it against GOAL (returns 1 above it).
compare() {
  local name=$1 goal=$2 la=$3 fa=$4 lb=$5 fb=$6 ta tb
  ta=$(cut -d' ' -f1 <"$fa" | median)
  tb=$(cut -d' ' -f1 <"$fb" | median)
  printf '%-24s %-10s %s\n' command "median ms" "peak RSS MB"
  printf '%-24s %-10s %s\n' "$la" "$(awk -v t="$ta" 'BEGIN{printf "%.2f", t/1000}')" \
    "$(cut -d' ' -f2 <"$fa" | median | awk '{printf "%.1f", $1/1024}')"
  printf '%-24s %-10s %s\n' "$lb" "$(awk -v t="$tb" 'BEGIN{printf "%.2f", t/1000}')" \
    "$(cut -d' ' -f2 <"$fb" | median | awk '{printf "%.1f", $1/1024}')"
  local r
  r=$(ratio "$ta" "$tb")
  echo "t($la)/t($lb) = $r ($(wc -l <"$fa") interleaved repetitions)"
  check_goal "$name" "$r" "$goal"
}
