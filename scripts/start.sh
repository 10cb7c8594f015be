#!/usr/bin/env bash
# Installs what is missing, builds, and starts Custos with its embedded
# defaults: the demo directory, a development CA and staff certificates made
# on first run, and the audit log, all under one data directory.
#
#   CUSTOS_DATA_DIR  data directory (default: .custos in the checkout)
#   CUSTOS_LISTEN    gRPC address (default: 127.0.0.1:7443)
#   CUSTOS_WEB_PORT  custos-web's HTTPS port on 127.0.0.1 (default: 8443)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
bazel build //gateway:custosd //clients/cli:custos //clients/web:custos-web

data_dir=${CUSTOS_DATA_DIR:-$root/.custos}
listen=${CUSTOS_LISTEN:-127.0.0.1:7443}
web_port=${CUSTOS_WEB_PORT:-8443}
# Private: it holds customer data, the log and the keys (custosd narrows an
# existing one to 0700 too).
mkdir -p -m 700 "$data_dir"
log=$data_dir/custosd.out
# custosd refuses a data directory another custosd holds; asked first, so
# that the running one's output is not cut short below.
if ! flock -n "$data_dir/custosd.lock" true; then
  echo "another custosd is using $data_dir; stop it first" >&2
  exit 1
fi
bin=$root/bazel-bin

web_log=$data_dir/custos-web.out

# Waits until the process `$1` writes "serving on port" to `$2`; fails when
# it exits first or has not after 30 seconds.
wait_serving() {
  for _ in $(seq 1 300); do
    grep -q "serving on port" "$2" 2>/dev/null && return 0
    if ! kill -0 "$1" 2>/dev/null; then cat "$2" >&2; return 1; fi
    sleep 0.1
  done
  cat "$2" >&2
  echo "$2: no \"serving on port\" after 30 seconds" >&2
  return 1
}

"$bin/gateway/custosd" --data_dir "$data_dir" --listen "$listen" \
  --web_base_url "https://localhost:$web_port" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid $web_pid 2>/dev/null; wait $pid $web_pid' INT TERM
web_pid=
wait_serving $pid "$log" || { kill -TERM $pid 2>/dev/null; exit 1; }
port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$log")

"$bin/clients/web/custos-web" --data_dir "$data_dir" --gateway "localhost:$port" \
  --listen "127.0.0.1:$web_port" >"$web_log" 2>&1 &
web_pid=$!
wait_serving $web_pid "$web_log" || { kill -TERM $pid; exit 1; }

cat <<MSG
custosd is serving on ${listen%:*}:$port (data in $data_dir, output in $log).

Use the CLI as a demo staff member (certificates are in $data_dir/pki/clients):

  export CUSTOS_PKI_DIR=$data_dir/pki CUSTOS_SERVER=localhost:$port
  alias custos=$bin/clients/cli/custos

  custos --as anna.support access request --customer acme --category support --ref SUP-1042
  custos --as anna.support log list --customer acme
  custos --as carl.contractor access request --customer acme --category bug --ref BUG-7   # refused
  custos --as dirk.dpo log list --output json                                            # the DPO sees all
  custos --as anna.support access request --customer bakkerij-jansen --category support --ref SUP-2001  # pending
  custos --as anna.support log prove --index 0 --verifier_key "\$(cat $data_dir/log_verifier_key)"
  custos verify --db $data_dir/audit.db --verifier_key "\$(cat $data_dir/log_verifier_key)"

Demo staff: anna.support, daan.developer, tess.tester, lars.deliverability, mila.accounts,
dirk.dpo (DPO), carl.contractor, cora.consultant, abel.accountant, pia.partner (partner),
eva.former (contract ended), noah.noclause (no confidentiality clause).
Demo customers: acme, bakkerij-jansen, fietsen-devries, nordwind.

Metrics: http://127.0.0.1:9464/metrics (Prometheus). Options: $bin/gateway/custosd --help;
a flag file works too: custosd --flagfile=custosd.flags.

custos-web (the browser front end) is serving on https://localhost:$web_port (output in
$web_log; its certificate is from the development CA in $data_dir/pki/ca.crt, so the browser
warns until you trust that CA). Open the link that \`custos identity start\` prints to take
identity; customers and the DPO sign in at https://localhost:$web_port/login with:

$(grep -v '^#' "$data_dir/web/demo_logins" | awk '{printf "  login %-16s password %s\n", $1, $2}')

(kept in $data_dir/web/demo_logins, mode 0600; stored by custos-web only as Argon2id hashes).

Press Ctrl-C to stop.
MSG
wait $pid
