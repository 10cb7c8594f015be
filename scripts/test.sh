#!/usr/bin/env bash
# Installs what is missing, builds and runs every test twice, once as built
# and once under AddressSanitizer + UndefinedBehaviorSanitizer
# (--config=asan), runs the concurrency-heavy tests (tagged "concurrency")
# a third time under ThreadSanitizer (--config=tsan), runs libFuzzer briefly
# on every fuzz target, and ends with the line "N passed, N failed" counted
# from Bazel's test.xml results of every pass and the fuzz runs.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

# The browser tests' playwright-core (no browser download: they use Debian's
# chromium). The npm cache serves it when there is no network.
(cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline \
  --no-audit --no-fund --loglevel=error) || exit 1

passed=0
failed=0
skipped=0
bazel_failed=0

# Runs `bazel test` with the given flags on //... and adds the test.xml
# counts of the tests `query` selects (those the flags let run).
run_pass() {
  local name=$1
  local query=$2
  shift 2
  echo "=== test pass: $name"
  bazel test --keep_going "$@" //...
  local rc=$?
  local targets
  targets=$(bazel query "$query" 2>/dev/null)
  for target in $targets; do
    local path=${target#//}
    local xml="bazel-testlogs/${path/://}/test.xml"
    if [ ! -f "$xml" ]; then
      echo "no results for $target in the $name pass (it did not build or run)"
      failed=$((failed + 1))
      continue
    fi
    read -r p f s < <(scripts/count-test-xml.awk "$xml")
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
  done
  [ "$rc" -ne 0 ] && bazel_failed=$rc
}

# Results of an earlier run of the same configuration must not be counted.
rm -rf bazel-out/k8-fastbuild/testlogs bazel-out/k8-fastbuildasan/testlogs \
  bazel-out/k8-fastbuildtsan/testlogs 2>/dev/null
run_pass plain 'tests(//...)'
run_pass asan 'tests(//...)' --config=asan
run_pass tsan 'attr(tags, concurrency, tests(//...))' --config=tsan \
  --build_tests_only --test_tag_filters=concurrency

# libFuzzer itself on every fuzz target, briefly (scripts/fuzz.sh runs it
# longer); each target that finds no crash counts as a passed test.
echo "=== fuzz: ${FUZZ_SECONDS_PER_TARGET:-10}s per target"
fuzz_out=$(scripts/fuzz.sh "${FUZZ_SECONDS_PER_TARGET:-10}" 2>&1)
fuzz_rc=$?
echo "$fuzz_out" | grep -v "^INFO\|^Loading\|^Analyzing\|ld.gold: warning"
if read -r fp ff < <(echo "$fuzz_out" | sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p'); then
  passed=$((passed + fp))
  failed=$((failed + ff))
fi
if [ "$fuzz_rc" -ne 0 ] && ! grep -q "^fuzz: [0-9]* passed, [1-9]" <<<"$fuzz_out"; then
  echo "scripts/fuzz.sh exited $fuzz_rc"
  failed=$((failed + 1))
fi

bazel shutdown >/dev/null 2>&1 || true
# Bazel failing without a failed test case (a build error) still fails.
if [ "$bazel_failed" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "bazel test exited $bazel_failed"
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
