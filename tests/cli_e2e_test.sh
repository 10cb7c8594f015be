#!/usr/bin/env bash
# The README's flow with the real binaries: start custosd on a fresh data
# directory, then use the custos CLI as demo staff members.
set -euo pipefail

custosd=$TEST_SRCDIR/custos/gateway/custosd
custos=$TEST_SRCDIR/custos/clients/cli/custos
data=$TEST_TMPDIR/data
out=$TEST_TMPDIR/custosd.out

"$custosd" --data_dir "$data" --listen 127.0.0.1:0 >"$out" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "serving on port" "$out" && break
  sleep 0.1
done
port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { cat "$out"; echo "custosd did not start"; exit 1; }
export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$port

fail() { echo "FAIL: $*"; exit 1; }

# The first start made a CA, a server certificate and one per demo staff member.
for f in ca.crt server.crt clients/anna.support.crt clients/dirk.dpo.crt clients/pia.partner.crt; do
  [ -f "$data/pki/$f" ] || fail "missing $data/pki/$f"
done
[ "$(stat -c %a "$data/pki/clients/anna.support.key")" = 600 ] || fail "key not 0600"

granted=$("$custos" --as anna.support access request --customer acme --category support --ref SUP-1042)
echo "$granted"
grep -q "^granted g_" <<<"$granted" || fail "support engineer not granted"

json=$("$custos" --as anna.support --output json access request --customer acme --category support --ref SUP-1043)
grep -q '"verdict": "ALLOW"' <<<"$json" || fail "json output lacks the verdict: $json"

set +e
refused=$("$custos" --as carl.contractor access request --customer acme --category bug --ref BUG-7 2>&1)
rc=$?
set -e
echo "$refused"
[ $rc -eq 3 ] || fail "contractor: exit $rc, want 3"
grep -q "CONTRACT_NOT_DUTCH_EMPLOYMENT" <<<"$refused" || fail "no reason in: $refused"

set +e
invalid=$("$custos" --as anna.support access request --customer acme --category support --ref "" 2>&1)
rc=$?
set -e
[ $rc -eq 4 ] || fail "empty reference: exit $rc, want 4"
grep -q "justification.reference: required" <<<"$invalid" || fail "field not named: $invalid"

listing=$("$custos" --as anna.support log list --customer acme)
echo "$listing"
[ "$(grep -c "StaffAccess.RequestAccess" <<<"$listing")" -eq 3 ] || fail "anna should see 3 entries"
grep -q "carl.contractor" <<<"$listing" && fail "anna sees carl's entry"

all=$("$custos" --as dirk.dpo --output json log list)
grep -q '"id": "carl.contractor"' <<<"$all" || fail "the DPO does not see carl's refusal"

set +e
"$custos" --as anna.support bogus verb >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown command: exit $rc, want 2"

# A clean stop, then the log still verifies from the file.
kill -TERM $pid
wait $pid || true
trap - EXIT
rows=$(sqlite3 "$data/audit.db" "SELECT count(*) FROM entries" 2>/dev/null || echo skip)
echo "rows: $rows"
[ "$rows" = skip ] || [ "$rows" -ge 5 ] || fail "expected at least 5 log rows, got $rows"
echo PASS
