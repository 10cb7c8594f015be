#!/usr/bin/env bash
# custos-web in a real browser: starts custosd and custos-web on loopback
# ports with a fresh data directory, then runs tests/web/e2e.mjs (headless
# Debian Chromium driven by playwright-core), which writes one test case per
# scenario to $XML_OUTPUT_FILE and screenshots to
# $TEST_UNDECLARED_OUTPUTS_DIR. playwright-core comes from tests/web's
# node_modules (scripts/test.sh runs `npm ci` there).
set -euo pipefail

custosd=$TEST_SRCDIR/custos/gateway/custosd
web=$TEST_SRCDIR/custos/clients/web/custos-web
# The script to run: tests/web/e2e.mjs by default; web_hostile_test passes
# tests/web/hostile.mjs, which needs no browser. Further arguments go to
# custos-web (web_proxy_test: --trusted_proxies).
script=$(readlink -f "$TEST_SRCDIR/custos/${1:-tests/web/e2e.mjs}")
if [ "$(basename "$script")" = e2e.mjs ] &&
   [ ! -d "$(dirname "$script")/node_modules/playwright-core" ]; then
  echo "playwright-core is not installed: run (cd tests/web && npm ci) or scripts/test.sh"
  exit 1
fi
data=$TEST_TMPDIR/data
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done' EXIT

# Waits for "<what> ... port N" in a file and prints N.
wait_port() {
  for _ in $(seq 1 100); do
    port=$(sed -n "s/.*$2 \([0-9][0-9]*\).*/\1/p" "$1" | head -1)
    [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.1
  done
  cat "$1" >&2
  echo "did not start: $1" >&2
  return 1
}

"$custosd" --data_dir "$data" --listen 127.0.0.1:0 --metrics_listen "" >"$TEST_TMPDIR/custosd.out" 2>&1 &
pids+=($!)
gateway_port=$(wait_port "$TEST_TMPDIR/custosd.out" "serving on port")
"$web" --data_dir "$data" --gateway "localhost:$gateway_port" --listen 127.0.0.1:0 "${@:2}" >"$TEST_TMPDIR/web.out" 2>&1 &
pids+=($!)
web_port=$(wait_port "$TEST_TMPDIR/web.out" "serving on port")

export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$gateway_port
export WEB_URL=https://localhost:$web_port CUSTOS_DATA=$data
export CUSTOS_CLI=$TEST_SRCDIR/custos/clients/cli/custos
# For the scenario that stops custosd and starts it again on the same port.
export CUSTOSD=$custosd CUSTOSD_PID=${pids[0]} WEB_LOG=$TEST_TMPDIR/web.out
export HOME=$TEST_TMPDIR
rc=0
node "$script" || rc=$?

# custos-web stops cleanly on SIGTERM; under the sanitizers a leak or an
# error found on the way out makes its exit code non-zero.
web_pid=${pids[1]}
kill -TERM "$web_pid"
web_rc=0
wait "$web_pid" || web_rc=$?
if [ "$web_rc" -ne 0 ]; then
  cat "$TEST_TMPDIR/web.out"
  echo "custos-web exited $web_rc"
  exit 1
fi
exit $rc
