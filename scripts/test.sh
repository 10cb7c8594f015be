#!/usr/bin/env bash
# Installs what is missing, builds and runs every test, and ends with the
# line "N passed, N failed" counted from Bazel's test.xml results.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

bazel test --keep_going //... "$@"
bazel_rc=$?

passed=0
failed=0
skipped=0
targets=$(bazel query 'tests(//...)' 2>/dev/null)
for target in $targets; do
  path=${target#//}
  xml="bazel-testlogs/${path/://}/test.xml"
  if [ ! -f "$xml" ]; then
    echo "no results for $target (it did not build or run)"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s < <(scripts/count-test-xml.awk "$xml")
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
done

bazel shutdown >/dev/null 2>&1 || true
# Bazel failing without a failed test case (a build error) still fails.
if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "bazel test exited $bazel_rc"
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
