#!/usr/bin/env bash
# Builds and runs the audit log benchmarks with optimizations. Files go to
# $BENCH_DIR (default /tmp/custos-bench, about 3 GB for the 10M-entry log).
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //bench:audit_bench
dir=${BENCH_DIR:-/tmp/custos-bench}
rm -rf "$dir"
bazel-bin/bench/audit_bench --dir "$dir" --seconds 3 --verify_entries 1000000 \
  --proof_log_entries "${PROOF_LOG_ENTRIES:-10000000}" --proofs 20000 "$@"
rm -rf "$dir"
