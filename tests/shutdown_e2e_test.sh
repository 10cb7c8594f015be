#!/usr/bin/env bash
# Graceful shutdown: SIGTERM while requests are in flight. Every request
# that was answered with a grant is in the log afterwards, the log
# verifies, and custosd exits cleanly.
set -euo pipefail

custosd=$TEST_SRCDIR/custos/gateway/custosd
custos=$TEST_SRCDIR/custos/clients/cli/custos
data=$TEST_TMPDIR/data
out=$TEST_TMPDIR/custosd.out
fail() { echo "FAIL: $*"; exit 1; }

"$custosd" --data_dir "$data" --listen 127.0.0.1:0 --metrics_listen "" >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "serving on port" "$out" && break; sleep 0.1; done
port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { cat "$out"; fail "custosd did not start"; }
export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$port

# Four clients, each asking repeatedly, until custosd goes away.
for c in 1 2 3 4; do
  (
    for i in $(seq 1 200); do
      answer=$("$custos" --as anna.support access request --customer acme --category support \
        --ref SUP-1042 2>/dev/null) || break   # custosd is gone
      sed -n 's/^  log entry:   #\([0-9]*\)$/\1/p' <<<"$answer"
    done
  ) >"$TEST_TMPDIR/answered.$c" &
done
sleep 1.5
kill -TERM $pid
wait $pid || fail "custosd did not exit cleanly"
wait
grep -q '"event":"stopping"' "$out" || fail "no stopping event"

cat "$TEST_TMPDIR"/answered.* | sort -n >"$TEST_TMPDIR/answered"
answered=$(wc -l <"$TEST_TMPDIR/answered")
[ "$answered" -gt 0 ] || fail "no request was answered before the shutdown"
report=$("$custos" verify --db "$data/audit.db" --verifier_key "$(cat "$data/log_verifier_key")") \
  || fail "the log does not verify after shutdown"
echo "$report"
entries=$(sed -n 's/^verified \([0-9]*\) entries.*/\1/p' <<<"$report")
last=$(tail -1 "$TEST_TMPDIR/answered")
[ "$last" -lt "$entries" ] || fail "answered entry #$last is not in a log of $entries entries"
echo "answered $answered requests before SIGTERM; the log holds $entries entries; PASS"
