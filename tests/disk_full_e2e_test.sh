#!/usr/bin/env bash
# Fail closed when the disk is full: custosd runs with a file-size limit
# that is then lowered below what its files need (as a full disk would), so
# every write fails. Requests are refused with UNAVAILABLE and nothing is
# served; once the limit is lifted, custosd serves again without a restart,
# and the log verifies.
set -euo pipefail

custosd=$TEST_SRCDIR/custos/gateway/custosd
custos=$TEST_SRCDIR/custos/clients/cli/custos
data=$TEST_TMPDIR/data
out=$TEST_TMPDIR/custosd.out
fail() { echo "FAIL: $*"; exit 1; }
command -v prlimit >/dev/null || { echo "prlimit (util-linux) is missing"; exit 1; }

# Writes past the limit must fail with EFBIG, not kill the process.
(trap '' XFSZ; exec "$custosd" --data_dir "$data" --listen 127.0.0.1:0 --metrics_listen "") >"$out" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "serving on port" "$out" && break; sleep 0.1; done
port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { cat "$out"; fail "custosd did not start"; }
export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$port
request() { "$custos" --as anna.support access request --customer acme --category support --ref SUP-1042; }

request >/dev/null || fail "first request"
before=$(sqlite3 "$data/audit.db" "SELECT count(*) FROM entries" 2>/dev/null || echo "?")

prlimit --pid $pid --fsize=1024:unlimited
set +e
refused=$(request 2>&1)
rc=$?
set -e
echo "$refused"
[ $rc -eq 6 ] || fail "with the disk full: exit $rc, want 6 (UNAVAILABLE)"
grep -q "^granted" <<<"$refused" && fail "a grant was served with the disk full"

prlimit --pid $pid --fsize=unlimited:unlimited
served=$(request) || fail "not serving again after the disk has room"
echo "$served"
grep -q "^granted g_" <<<"$served" || fail "no grant after recovery"

kill -TERM $pid
wait $pid || true
trap - EXIT
"$custos" verify --db "$data/audit.db" --verifier_key "$(cat "$data/log_verifier_key")" || fail "log does not verify"
if command -v sqlite3 >/dev/null; then
  after=$(sqlite3 "$data/audit.db" "SELECT count(*) FROM entries")
  # The refused request left nothing: only the recovered request was added.
  [ "$after" -eq $((before + 1)) ] || fail "entries: $before before, $after after (want +1)"
fi
echo PASS
