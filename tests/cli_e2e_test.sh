#!/usr/bin/env bash
# The README's flow with the real binaries: start custosd on a fresh data
# directory, then use the custos CLI as demo staff members.
set -euo pipefail

custosd=$TEST_SRCDIR/custos/gateway/custosd
custos=$TEST_SRCDIR/custos/clients/cli/custos
data=$TEST_TMPDIR/data
out=$TEST_TMPDIR/custosd.out

policy=$TEST_TMPDIR/policy.textproto
cp "$TEST_SRCDIR/custos/policy/default_policy.textproto" "$policy"
chmod u+w "$policy"
revoked=$TEST_TMPDIR/revoked-serials
: >"$revoked"
# Five records a grant: the first read takes them all, and the next one
# reaches the limit.
"$custosd" --data_dir "$data" --listen 127.0.0.1:0 --policy "$policy" --metrics_listen 127.0.0.1:0 \
  --revoked_serials "$revoked" --max_records_per_grant 5 >"$out" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "serving on port" "$out" && break
  sleep 0.1
done
port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { cat "$out"; echo "custosd did not start"; exit 1; }
export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$port
# No config file but those a step writes.
export XDG_CONFIG_HOME=$TEST_TMPDIR/xdg

fail() { echo "FAIL: $*"; exit 1; }
# Runs custos with the arguments after the first, wanting a usage error
# (exit 2) whose message holds the first.
usage_error() { # want_in_stderr args...
  local want=$1 rc
  shift
  set +e
  "$custos" "$@" >"$TEST_TMPDIR/usage.out" 2>"$TEST_TMPDIR/usage.err"
  rc=$?
  set -e
  [ $rc -eq 2 ] || fail "custos $*: exit $rc, want 2: $(cat "$TEST_TMPDIR/usage.err")"
  grep -qF -- "$want" "$TEST_TMPDIR/usage.err" || fail "custos $*: $(cat "$TEST_TMPDIR/usage.err"), want $want"
}

# custosd's own logs are JSON lines.
grep -q '^{.*"event":"serving".*"port":"'"$port"'"' "$out" || fail "no structured serving event: $(head -3 "$out")"

# The first start made a CA, a server certificate and one per demo staff member.
for f in ca.crt server.crt clients/anna.support.crt clients/dirk.dpo.crt clients/pia.partner.crt; do
  [ -f "$data/pki/$f" ] || fail "missing $data/pki/$f"
done
[ "$(stat -c %a "$data/pki/clients/anna.support.key")" = 600 ] || fail "key not 0600"

granted=$("$custos" --as anna.support access request --customer acme --category support --ref SUP-1042)
echo "$granted"
grep -q "^granted g_" <<<"$granted" || fail "support engineer not granted"

grant=$(sed -n 's/^granted \(g_[0-9a-f]*\):.*/\1/p' <<<"$granted")
read_out=$("$custos" --as anna.support access read --grant "$grant" --kind SUBSCRIBERS --page_size 5)
echo "$read_out"
grep -q "^5 records; log entry #" <<<"$read_out" || fail "access read"
grep -q "EMAIL" <<<"$read_out" || fail "no subscriber columns"
# A limit reached has its own exit code, so that a script can tell it.
set +e
"$custos" --as anna.support access read --grant "$grant" --kind SUBSCRIBERS >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 10 ] || fail "read past the grant's records: exit $rc, want 10 (RESOURCE_EXHAUSTED)"
"$custos" --as anna.support access list | grep -q "$grant" || fail "access list"
"$custos" --as anna.support access end --grant "$grant" | grep -q "^ended $grant" || fail "access end"
set +e
ended_json=$("$custos" --as anna.support --output json access read --grant "$grant" --kind ACCOUNT 2>/dev/null)
rc=$?
set -e
[ $rc -eq 9 ] || fail "read under an ended grant: exit $rc, want 9 (FAILED_PRECONDITION)"
# The refusal's log index is a string, as in every answer.
grep -q '"code": "FAILED_PRECONDITION"' <<<"$ended_json" || fail "no error object: $ended_json"
grep -Eq '"log_index": "[0-9]+"' <<<"$ended_json" || fail "error's log_index not a string: $ended_json"

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
[ "$(grep -c "StaffAccess.RequestAccess" <<<"$listing")" -eq 3 ] || fail "anna should see 3 requests"
grep -q "StaffAccess.ReadCustomerData" <<<"$listing" || fail "the read is not in the log"
grep -q "carl.contractor" <<<"$listing" && fail "anna sees carl's entry"

# --from and --to: a day (UTC) listed whole, or an RFC 3339 time.
today=$(date -u +%F)
"$custos" --as anna.support log list --from "$today" --to "$today" | grep -q "StaffAccess.RequestAccess" ||
  fail "log list --from/--to today lists nothing"
"$custos" --as anna.support log list --from "$(date -u -d '1 hour ago' +%FT%TZ)" | grep -q "StaffAccess.RequestAccess" ||
  fail "log list --from an RFC 3339 time lists nothing"
"$custos" --as anna.support log list --from "$(date -u -d tomorrow +%F)" | grep -q "^0 entries shown" ||
  fail "log list --from tomorrow lists entries"
"$custos" --as anna.support log list --to "$(date -u -d yesterday +%F)" | grep -q "^0 entries shown" ||
  fail "log list --to yesterday lists entries"
usage_error "--to: expected a day" --as anna.support log list --to soon
# A flag the command would ignore is refused, naming it and the command.
usage_error "access list does not take --category" --as anna.support access list --category support
usage_error "log prove needs --index N" --as anna.support log prove

all=$("$custos" --as dirk.dpo --output json log list)
grep -q '"id": "carl.contractor"' <<<"$all" || fail "the DPO does not see carl's refusal"
# Fields at their defaults are printed too: entry #0 has its index.
grep -q '"index": "0"' <<<"$all" || fail "entry #0 without its index in JSON"

"$custos" access request --customer acme --help | grep -q "^usage: .* access request --customer C" || fail "per-command help"
# Flags before the command, with their values, as the usage line puts them.
"$custos" --as anna.support --output json access request --help | grep -q "^usage: .* access request --customer C" ||
  fail "per-command help after flags with values"
set +e
"$custos" --as anna.support bogus verb >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown command: exit $rc, want 2"
# Help asked for is no error; every usage error exits 2, naming the flag.
help=$("$custos" --help) || fail "custos --help: exit $?"
grep -q "^usage: custos" <<<"$help" || fail "custos --help: $help"
grep -q "^  --as  " <<<"$help" || fail "custos --help lists no flags: $help"
grep -q "^config file: --config FILE, else CUSTOS_CONFIG" <<<"$help" || fail "custos --help: no config file: $help"
usage_error "unknown flag --bogus" --as anna.support --bogus whoami
usage_error "--page_size: " --as anna.support access list --page_size many
usage_error "--as needs a value" access list --as
usage_error "unknown flag --bogus" --output json --as anna.support whoami --bogus
grep -q '"code": "USAGE"' "$TEST_TMPDIR/usage.out" || fail "usage error in JSON mode: $(cat "$TEST_TMPDIR/usage.out")"

"$custos" --as anna.support access request --customer bakkerij-jansen --category support --ref SUP-2001 \
  | grep -q "^pending p_[0-9a-f]*: waiting for approval by customer" || fail "pending not shown as pending"

# A customer who approves every access: pending, then approved with the
# customer's own token, which makes the grant.
pending=$("$custos" --as anna.support --output json access request --customer bakkerij-jansen --category support --ref SUP-2001)
request_id=$(sed -n 's/.*"request_id": "\(p_[0-9a-f]*\)".*/\1/p' <<<"$pending" | head -1)
[ -n "$request_id" ] || fail "no pending request: $pending"
token=$(awk '$1 == "bakkerij-jansen" {print $2}' "$data/customer_tokens")
"$custos" --token "$token" approval list --active_only | grep -q "$request_id" || fail "customer does not see the request"
decided=$("$custos" --token "$token" approval decide --request "$request_id" --approve)
echo "$decided"
grep -q "approved; granted g_" <<<"$decided" || fail "approval did not grant"
customer_log=$("$custos" --token "$token" log list)
grep -q "Approvals.DecidePendingRequest  bakkerij-jansen" <<<"$customer_log" || fail "customer log: $customer_log"
grep -q "acme" <<<"$customer_log" && fail "the customer sees another customer's entries"

# Settings: the command line beats the environment, which beats a config
# file; a certificate derived from --as counts as given on the command line.
staff_id() { sed -n 's/.*"staff_id": "\([^"]*\)".*/\1/p' | head -1; }
who=$(CUSTOS_CERT=$data/pki/clients/dirk.dpo.crt CUSTOS_KEY=$data/pki/clients/dirk.dpo.key \
  "$custos" --as anna.support --output json whoami | staff_id)
[ "$who" = anna.support ] || fail "--as anna.support with the DPO's CUSTOS_CERT ran as $who"
conf=$TEST_TMPDIR/conf/cli.conf
mkdir -p "$(dirname "$conf")" "$XDG_CONFIG_HOME/custos"
printf '# the DPO, in JSON\nas = dirk.dpo\n\noutput = json\n' >"$conf"
who=$("$custos" --config "$conf" whoami | staff_id)
[ "$who" = dirk.dpo ] || fail "--config: ran as $who, or not in JSON"
who=$(CUSTOS_CONFIG=$conf CUSTOS_AS=anna.support "$custos" whoami | staff_id)
[ "$who" = anna.support ] || fail "CUSTOS_AS did not beat the config file: $who"
who=$(CUSTOS_CONFIG=$conf CUSTOS_AS=anna.support "$custos" --as carl.contractor whoami | staff_id)
[ "$who" = carl.contractor ] || fail "--as did not beat CUSTOS_AS: $who"
cp "$conf" "$XDG_CONFIG_HOME/custos/cli.conf"
who=$("$custos" whoami | staff_id)
rm "$XDG_CONFIG_HOME/custos/cli.conf"
[ "$who" = dirk.dpo ] || fail "\$XDG_CONFIG_HOME/custos/cli.conf not read: $who"
# A relative path in the file is from the file's folder.
printf 'pki_dir = ../data/pki\nas = anna.support\n' >"$conf"
who=$(cd / && env -u CUSTOS_PKI_DIR "$custos" --config "$conf" --output json whoami | staff_id)
[ "$who" = anna.support ] || fail "relative pki_dir in the config file: $who"
printf 'as = anna.support\nsever = localhost:1\n' >"$TEST_TMPDIR/bad.conf"
usage_error "$TEST_TMPDIR/bad.conf:2: unknown key \"sever\"" --config "$TEST_TMPDIR/bad.conf" whoami
usage_error "$TEST_TMPDIR/missing.conf" --config "$TEST_TMPDIR/missing.conf" whoami
# A customer's token and a staff identity, from any source, are refused.
CUSTOS_AS=dirk.dpo CUSTOS_TOKEN=$token usage_error "token (CUSTOS_TOKEN) and a staff identity (CUSTOS_AS)" log list
usage_error "token (--token) and a staff identity (--as)" --token "$token" --as dirk.dpo log list
CUSTOS_CONFIG=$conf usage_error "token (--token) and a staff identity (as in $conf)" --token "$token" log list

# Partner consent: the customer lists, gives and sees it; a mistyped partner is refused.
consents=$("$custos" --token "$token" consent list)
grep -Eq "^mailfix +not given$" <<<"$consents" || fail "consent list: $consents"
"$custos" --token "$token" consent set --partner mailfix --approve | grep -q "consent given to mailfix" ||
  fail "consent set"
"$custos" --token "$token" consent list | grep -Eq "^mailfix +given$" || fail "consent not listed as given"
set +e
"$custos" --token "$token" consent set --partner mailfx --refuse 2>"$TEST_TMPDIR/typo.err"
rc=$?
set -e
[ $rc -eq 7 ] || fail "mistyped partner: exit $rc, want 7 (not found)"
grep -q "no partner organisation" "$TEST_TMPDIR/typo.err" || fail "typo message: $(cat "$TEST_TMPDIR/typo.err")"
"$custos" --as dirk.dpo consent list --customer bakkerij-jansen | grep -Eq "^mailfix +given$" ||
  fail "the DPO does not see the consent"

# Trips: asked by staff, decided by the DPO.
trip=$("$custos" --as anna.support --output json trip request --country DE --first_day 2026-11-20 --last_day 2026-11-30 --device laptop-7)
trip_id=$(sed -n 's/.*"trip_id": "\(t_[0-9a-f]*\)".*/\1/p' <<<"$trip")
"$custos" --as dirk.dpo trip decide --trip "$trip_id" --approve | grep -q "approved" || fail "trip decide"
trips=$("$custos" --as anna.support trip list)
grep -Eq "^TRIP +STAFF +COUNTRY +DAYS +DEVICE +STATE +DECIDED BY$" <<<"$trips" || fail "trip list header: $trips"
grep -Eq "^$trip_id +anna.support +DE +2026-11-20..2026-11-30 +laptop-7 +approved +dirk.dpo$" <<<"$trips" ||
  fail "trip list row: $trips"

# Take identity: a single-use link, then the engineer ends the session.
started=$("$custos" --as anna.support --output json identity start --customer acme --user acme.owner --category support --ref SUP-1042)
grep -q '"link": "https://localhost:8443/identity/start#lt_' <<<"$started" || fail "no link: $started"
session_id=$(sed -n 's/.*"session_id": "\(s_[0-9a-f]*\)".*/\1/p' <<<"$started" | head -1)
sessions=$("$custos" --as anna.support identity list) || fail "identity list"
grep -Eq "^$session_id +anna.support +acme.owner@acme +support +SUP-1042 +link_issued +0 " <<<"$sessions" ||
  fail "identity list row: $sessions"
"$custos" --as anna.support identity end --session "$session_id" | grep -q " ended " || fail "identity end"

# Proofs, checked by the CLI against the pinned key.
key=$(cat "$data/log_verifier_key")
proof=$("$custos" --as anna.support --output json log prove --index 0 --verifier_key "$key" 2>/dev/null)
grep -q '"verified": true' <<<"$proof" || fail "inclusion proof not verified: $proof"
grep -q '"checkpoint": "custos.local/log/' <<<"$proof" || fail "no checkpoint text: $proof"
"$custos" --as anna.support log consistency --old 1 >/dev/null || fail "log consistency"
set +e
"$custos" --as anna.support log prove --index 0 --verifier_key "other+00000000+AezNsZP8mTJwtbqzhTRBjO4nLhvxrvdkmHd8BY1zfdA=" >/dev/null 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a proof checked against a wrong key passed"

# Online verification twice: the second run checks consistency with the first.
state=$TEST_TMPDIR/seen-checkpoint
first=$("$custos" --as dirk.dpo verify --verifier_key "$key" --state "$state") || fail "verify online"
grep -q "first use of $state" <<<"$first" || fail "verify online, first use not said: $first"
# A state file that exists but holds no checkpoint is no first use.
for bad in "" "not a checkpoint"; do
  printf '%s' "$bad" >"$TEST_TMPDIR/bad-state"
  set +e
  bad_out=$("$custos" --as dirk.dpo verify --verifier_key "$key" --state "$TEST_TMPDIR/bad-state" 2>&1)
  rc=$?
  set -e
  [ $rc -eq 8 ] || fail "verify with a state file holding \"$bad\": exit $rc, want 8: $bad_out"
done
"$custos" --as anna.support access request --customer acme --category support --ref SUP-1042 >/dev/null
second=$("$custos" --as dirk.dpo verify --verifier_key "$key" --state "$state")
echo "$second"
grep -q "consistent with the checkpoint seen before" <<<"$second" || fail "no consistency check"
third=$("$custos" --as dirk.dpo --output json verify --verifier_key "$key" --state "$state")
grep -q '"verified": true' <<<"$third" || fail "verify json: $third"
grep -q '"consistent_with_size": ' <<<"$third" || fail "verify json without consistency: $third"
# The text a proof shows is the entry its bytes hold.
shown=$("$custos" --as anna.support log prove --index 0 --verifier_key "$key" 2>/dev/null)
grep -Eq "^entry #0: [a-z]" <<<"$shown" || fail "log prove's entry line: $shown"

# Erasure is the DPO's, and logged.
set +e
"$custos" --as anna.support log erase --subject anna.support >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || fail "anna erased: exit $rc, want 3"
"$custos" --as dirk.dpo log erase --subject anna.support | grep -q "^erased " || fail "DPO erase"
nothing=$("$custos" --as dirk.dpo --output json log erase --subject nobody.at.all)
grep -q '"values_erased": "0"' <<<"$nothing" || fail "an erase of nothing without values_erased: $nothing"

# SIGHUP reloads the policy; a broken file keeps the old one running.
version() { "$custos" --as anna.support --output json whoami | sed -n 's/.*"policy_version": "\(.*\)".*/\1/p'; }
before=$(version)
sed -i 's/^label: .*/label: "reloaded"/' "$policy"
kill -HUP $pid
for _ in $(seq 1 50); do grep -q "policy reloaded" "$out" && break; sleep 0.1; done
after=$(version)
[ -n "$after" ] && [ "$after" != "$before" ] || fail "policy not reloaded ($before -> $after)"
sed -i 's/^home_country: .*/home_country: "Netherlands"/' "$policy"
kill -HUP $pid
for _ in $(seq 1 50); do grep -q "policy NOT reloaded" "$out" && break; sleep 0.1; done
grep -q "NOT reloaded.*policy.textproto:[0-9]*: home_country" "$out" || { cat "$out"; fail "bad policy not reported with its line"; }
[ "$(version)" = "$after" ] || fail "a bad policy replaced the good one"
"$custos" --as anna.support access request --customer acme --category support --ref SUP-1042 >/dev/null \
  || fail "not serving after a bad reload"

# Prometheus metrics, fetched over plain HTTP.
mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$out")
[ -n "$mport" ] || fail "no metrics port in: $(cat "$out")"
exec 3<>"/dev/tcp/127.0.0.1/$mport"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
metrics=$(cat <&3)
exec 3<&-
grep -q 'custos_requests_total{category="support",method="StaffAccess.RequestAccess",outcome="OK"}' <<<"$metrics" \
  || fail "no request counter: $(grep custos_ <<<"$metrics" | head -5)"
grep -q '^custos_log_entries ' <<<"$metrics" || fail "no log size gauge"
grep -q '^custos_decision_seconds_count ' <<<"$metrics" || fail "no decision histogram"

# From abroad: a call matches an approved trip by its device (--device or
# CUSTOS_DEVICE), and then waits for the customer alone; without the device
# it waits for the DPO as well.
trip=$("$custos" --as anna.support --output json trip request --country DE --first_day "$today" \
  --last_day "$(date -u -d tomorrow +%F)" --device laptop-9)
trip_id=$(sed -n 's/.*"trip_id": "\(t_[0-9a-f]*\)".*/\1/p' <<<"$trip")
"$custos" --as dirk.dpo trip decide --trip "$trip_id" --approve | grep -q "approved" || fail "trip decide (abroad)"
cp "$policy" "$TEST_TMPDIR/policy.before-abroad"
sed -i 's/^home_country: .*/home_country: "NL"/; s|cidr: "127.0.0.0/8" country: "NL"|cidr: "127.0.0.0/8" country: "DE"|' "$policy"
reloads=$(grep -c "policy reloaded" "$out" || true)
kill -HUP $pid
for _ in $(seq 1 50); do [ "$(grep -c "policy reloaded" "$out")" -gt "$reloads" ] && break; sleep 0.1; done
"$custos" --as anna.support whoami | grep -q "DE" || fail "loopback not placed in DE: $("$custos" --as anna.support whoami)"
"$custos" --as anna.support access request --customer acme --category support --ref SUP-1042 |
  grep -q "^pending p_[0-9a-f]*: waiting for approval by dpo and customer" || fail "abroad without a device"
"$custos" --as anna.support access request --customer acme --category support --ref SUP-1042 --device laptop-9 |
  grep -q "^pending p_[0-9a-f]*: waiting for approval by customer$" || fail "abroad with the trip's device not pending"
# identity start sends the device too: its entry's reasons (the newest
# entry until the listing's own is appended) say whether the trip matched.
latest_reasons() { "$custos" --as dirk.dpo --output json log list --page_size 1 | grep -o '"ABROAD_[A-Z_]*"' | sort -u; }
"$custos" --as anna.support identity start --customer acme --user acme.owner --category support --ref SUP-1042 \
  >/dev/null 2>&1 && fail "identity start from abroad started"
reasons=$(latest_reasons)
grep -q '"ABROAD_WITHOUT_TRIP"' <<<"$reasons" || fail "identity start without a device: $reasons"
CUSTOS_DEVICE=laptop-9 "$custos" --as anna.support identity start --customer acme --user acme.owner \
  --category support --ref SUP-1042 >/dev/null 2>&1 && fail "identity start from abroad started"
reasons=$(latest_reasons)
[ "$reasons" = '"ABROAD_NEEDS_CUSTOMER_APPROVAL"' ] ||
  fail "identity start with CUSTOS_DEVICE not matched to the trip: $reasons"
cp "$TEST_TMPDIR/policy.before-abroad" "$policy"

# A revoked certificate is refused (UNAUTHENTICATED) from the next call on.
openssl x509 -in "$data/pki/clients/noah.noclause.crt" -noout -serial >"$revoked"
"$custos" --as noah.noclause whoami >/dev/null || fail "noah before revocation"
kill -HUP $pid
for _ in $(seq 1 50); do grep -q "revoked certificate serials" "$out" && break; sleep 0.1; done
set +e
revoked_out=$("$custos" --as noah.noclause access request --customer acme --category support --ref SUP-1042 2>&1)
rc=$?
set -e
[ $rc -eq 5 ] || fail "revoked certificate: exit $rc, want 5: $revoked_out"
grep -q "is revoked" <<<"$revoked_out" || fail "no reason: $revoked_out"

# A clean stop, then the log verifies offline from the file, and a changed
# copy does not.
kill -TERM $pid
wait $pid || true
trap - EXIT
"$custos" verify --db "$data/audit.db" --verifier_key "$key" || fail "offline verify"
offline=$("$custos" --output json verify --db "$data/audit.db" --verifier_key "$key" 2>/dev/null)
grep -q '"verified": true' <<<"$offline" || fail "offline verify json: $offline"
grep -Eq '"entries": [1-9]' <<<"$offline" || fail "offline verify json entries: $offline"
grep -Eq '"listed_entries_checked": [1-9]' <<<"$offline" || fail "offline verify json listing: $offline"

# The DPO's report over what this test did, from the same file: every format,
# and the next report checks the log still extends the first one's checkpoint.
from=$(date -u -d yesterday +%F)
to=$(date -u -d tomorrow +%F)
for format in csv json html; do
  "$custos" report --db "$data/audit.db" --verifier_key "$key" \
    --from "$from" --to "$to" --format $format \
    --out "$TEST_TMPDIR/report.$format" --state "$TEST_TMPDIR/report-state" \
    || fail "report --format $format"
done
grep -q "The log verifies and extends the previous report" "$TEST_TMPDIR/report.html" \
  || fail "report: log state"
grep -q "anna.support" "$TEST_TMPDIR/report.csv" || fail "report: csv rows"
grep -q '"verified":true' "$TEST_TMPDIR/report.json" || fail "report: json"
# Without --state, from another directory, the checkpoint is kept beside the log.
(cd "$TEST_TMPDIR" && "$custos" report --db "$data/audit.db" --verifier_key "$key" \
  --from "$from" --to "$to" --format json --out report-default-state.json) ||
  fail "report without --state"
[ -s "$data/report-checkpoint" ] || fail "report: no report-checkpoint beside the log"
if command -v sqlite3 >/dev/null; then
  cp "$data/audit.db" "$TEST_TMPDIR/tampered.db"
  sqlite3 "$TEST_TMPDIR/tampered.db" "DELETE FROM entries WHERE idx = 2"
  set +e
  out=$("$custos" verify --db "$TEST_TMPDIR/tampered.db" --verifier_key "$key" 2>&1)
  rc=$?
  set -e
  echo "$out"
  [ $rc -eq 8 ] || fail "tampered log: exit $rc, want 8"
  grep -q "entry 2: missing" <<<"$out" || fail "first bad entry not named"
  set +e
  out=$("$custos" --output json verify --db "$TEST_TMPDIR/tampered.db" --verifier_key "$key" 2>/dev/null)
  rc=$?
  set -e
  [ $rc -eq 8 ] || fail "tampered log, json: exit $rc, want 8"
  grep -q '"verified": false' <<<"$out" || fail "tampered log json: $out"
  grep -q '"error": "entry 2: missing' <<<"$out" || fail "tampered log json error: $out"
  # An entry taken out of its staff member's filtered list, all else intact.
  cp "$data/audit.db" "$TEST_TMPDIR/unlisted.db"
  sqlite3 "$TEST_TMPDIR/unlisted.db" "DELETE FROM listing WHERE (key, idx) = \
    (SELECT key, idx FROM listing WHERE key LIKE 'a:%' ORDER BY idx LIMIT 1)"
  set +e
  out=$("$custos" verify --db "$TEST_TMPDIR/unlisted.db" --verifier_key "$key" 2>&1)
  rc=$?
  set -e
  [ $rc -eq 8 ] || fail "unlisted entry: exit $rc, want 8: $out"
  grep -q "missing from the listing of its actor" <<<"$out" || fail "unlisted entry not named: $out"
  # Entries after the newest checkpoint are signed by nothing: refused, or
  # counted as unsigned with --allow_unsigned_tail (a copy of a live log).
  cp "$data/audit.db" "$TEST_TMPDIR/unsigned.db"
  sqlite3 "$TEST_TMPDIR/unsigned.db" "DELETE FROM checkpoints WHERE size = (SELECT max(size) FROM checkpoints)"
  set +e
  out=$("$custos" verify --db "$TEST_TMPDIR/unsigned.db" --verifier_key "$key" 2>&1)
  rc=$?
  set -e
  [ $rc -eq 8 ] || fail "unsigned tail: exit $rc, want 8: $out"
  grep -q "are not covered by any signature" <<<"$out" || fail "unsigned tail not named: $out"
  out=$("$custos" --output json verify --db "$TEST_TMPDIR/unsigned.db" --verifier_key "$key" \
    --allow_unsigned_tail 2>/dev/null) || fail "--allow_unsigned_tail: $out"
  grep -Eq '"unsigned_entries": [1-9]' <<<"$out" || fail "--allow_unsigned_tail json: $out"
fi
echo PASS
