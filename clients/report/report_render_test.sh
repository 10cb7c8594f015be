#!/usr/bin/env bash
# The HTML report rendered by headless Chromium, to PNG and to PDF, with no
# console message (a blocked resource or a CSP violation would show as one).
# The pictures are kept in the test's outputs
# (bazel-testlogs/clients/report/report_render_test/test.outputs/).
set -euo pipefail

custos=$PWD/clients/cli/custos
writer=$PWD/clients/report/write_known_log
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$TEST_TMPDIR}
work=$TEST_TMPDIR/render
rm -rf "$work" && mkdir -p "$work"
export HOME=$work

chromium_bin=$(command -v chromium || true)
if [ -z "$chromium_bin" ]; then
  echo "FAIL: chromium is not installed (scripts/install-deps.sh installs it)"
  exit 1
fi

key=$("$writer" "$work/audit.db")
"$custos" report --db "$work/audit.db" --verifier_key "$key" \
  --from 2026-11-02 --to 2026-11-15 --format html --out "$out/report.html" \
  --state "$work/state"

# Renders $1 into $2.png and $2.pdf; Chromium's log goes to $2.log.
render() {
  local page=$1 name=$2
  "$chromium_bin" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$work/profile-$name" --enable-logging=stderr --v=0 \
    --window-size=1100,2400 --screenshot="$out/$name.png" \
    "file://$page" >"$work/$name-png.log" 2>&1
  "$chromium_bin" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$work/profile-$name" --enable-logging=stderr --v=0 \
    --no-pdf-header-footer --print-to-pdf="$out/$name.pdf" \
    "file://$page" >"$work/$name-pdf.log" 2>&1
  cat "$work/$name-png.log" "$work/$name-pdf.log" >"$work/$name.log"
}

fail=0
check() {
  if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}

render "$out/report.html" report
check "PNG written" '[ "$(head -c 8 "$out/report.png" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]'
check "PNG is not blank" '[ "$(stat -c %s "$out/report.png")" -gt 50000 ]'
check "PDF written" '[ "$(head -c 5 "$out/report.pdf")" = "%PDF-" ]'
check "PDF has pages" 'grep -aq "/Type /Page" "$out/report.pdf" || grep -aq "/Type/Page" "$out/report.pdf"'
check "no console messages" '! grep -q ":CONSOLE" "$work/report.log"'
grep ":CONSOLE" "$work/report.log" || true

# The check above can fail: a page that loads from the network and runs a
# script is caught.
sed 's|</body>|<script>console.error(1)</script><img src="https://example.invalid/x.png"></body>|' \
  "$out/report.html" >"$work/broken.html"
render "$work/broken.html" broken
check "a broken page shows console messages" 'grep -q ":CONSOLE" "$work/broken.log"'
rm -f "$out/broken.png" "$out/broken.pdf"

[ "$fail" -eq 0 ] && echo "PASS" || exit 1
