#!/usr/bin/env bash
# Runs every fuzz target under libFuzzer (clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer) for a bounded time each:
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60, all)
#
# Each starts from its seeds in fuzz/corpus/ and the inputs that once
# crashed in fuzz/regressions/; what it learns stays in $FUZZ_DIR (default
# /tmp/custos-fuzz) for the next run. A crash is copied into
# fuzz/regressions/<target>/ (add it to the repository: it then runs in every
# test) and the script exits 1. Prints "fuzz: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(policy directory note proof entry request cookie form link row_values)
fi
work=${FUZZ_DIR:-/tmp/custos-fuzz}
mkdir -p "$work"

labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:${t}_fuzzer"); done
bazel build --config=fuzz "${labels[@]}" >&2
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

passed=0
failed=0
for t in "${targets[@]}"; do
  corpus=$work/$t
  artifacts=$work/$t-crashes
  mkdir -p "$corpus" "$artifacts"
  seeds=(fuzz/corpus/$t)
  [ -d fuzz/regressions/$t ] && seeds+=(fuzz/regressions/$t)
  log=$work/$t.log
  # -rss_limit_mb keeps a runaway input from taking the machine; leaks fail.
  if "$bin/fuzz/${t}_fuzzer" "$corpus" "${seeds[@]}" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $t: $runs runs in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz: $t: FAILED; the end of its log:"
    tail -30 "$log"
    mkdir -p fuzz/regressions/$t
    for crash in "$artifacts"/*; do
      [ -f "$crash" ] || continue
      cp "$crash" "fuzz/regressions/$t/"
      echo "fuzz: $t: crashing input kept as fuzz/regressions/$t/$(basename "$crash")"
    done
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
