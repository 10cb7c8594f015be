#!/usr/bin/env bash
# Fault-injection soak: a real custosd on loopback under concurrent load
# (bench/soak_load), with one fault a round chosen at random:
#   kill  SIGKILL of custosd at a random moment, restarted on the same data dir;
#   disk  the log's filesystem fills up (a small tmpfs or loop-mounted ext4 made
#         for the soak, filled with a ballast file that is then removed; or,
#         where nothing can be mounted, a file-size limit on custosd);
#   lock  another process holds an exclusive lock on audit.db for a while.
# After every round: `custos verify` passes on the log; every call answered
# with a log index has its own entry there (bench/soak_check); no call refused
# because the log could not be written left a grant behind, and no grant is
# without its entry; custosd serves again once the fault is gone (for disk and
# lock without a restart). Prints a summary and exits 1 if anything was lost
# or unlogged, the log did not verify, or custosd did not recover.
#
# Usage: bench/soak.sh [--minutes N] [--rounds N] [--faults kill,disk,lock]
#          [--cycle] [--disk auto|tmpfs|loop|fsize] [--qps N] [--threads N]
#          [--seed N] [--work DIR] [--keep]
# --cycle takes the faults in turn instead of at random; --disk picks how the
# disk fills up (auto: the first of tmpfs, loop, fsize that works here).
# Binaries come from bazel-bin/ (build them first:
#   bazel build //gateway:custosd //clients/cli:custos //bench:soak_load //bench:soak_check)
# or from $CUSTOSD, $CUSTOS, $SOAK_LOAD and $SOAK_CHECK.
set -euo pipefail

minutes=10
max_rounds=0  # 0: as many as fit in the time
faults=kill,disk,lock
disk_mode=auto
qps=400
threads=8
seed=""
work=""
keep=0
cycle=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rounds) max_rounds=$2; shift 2 ;;
    --faults) faults=$2; shift 2 ;;
    --disk) disk_mode=$2; shift 2 ;;
    --qps) qps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --cycle) cycle=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$seed" ] && RANDOM=$seed

bin=$(cd "$(dirname "$0")/.." && pwd)/bazel-bin
custosd=${CUSTOSD:-$bin/gateway/custosd}
custos=${CUSTOS:-$bin/clients/cli/custos}
soak_load=${SOAK_LOAD:-$bin/bench/soak_load}
soak_check=${SOAK_CHECK:-$bin/bench/soak_check}
for b in "$custosd" "$custos" "$soak_load" "$soak_check"; do
  [ -x "$b" ] || { echo "soak.sh: $b is missing; build it first" >&2; exit 2; }
done
command -v sqlite3 >/dev/null || { echo "soak.sh: sqlite3 (the CLI) is missing" >&2; exit 2; }

IFS=, read -r -a fault_kinds <<<"$faults"
for f in "${fault_kinds[@]}"; do
  case "$f" in kill|disk|lock) ;; *) echo "soak.sh: unknown fault $f" >&2; exit 2 ;; esac
done
deadline=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')

[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/custos-soak.XXXXXX")
mkdir -p "$work"
mnt=$work/fs
custosd_pid=""
load_pid=""
lock_pid=""

cleanup() {
  [ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null || true
  [ -n "$lock_pid" ] && kill -TERM "$lock_pid" 2>/dev/null || true
  [ -n "$custosd_pid" ] && kill -TERM "$custosd_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if mountpoint -q "$mnt" 2>/dev/null; then
    # The data lived on the soak's own filesystem: keep a copy if asked.
    [ "$keep" -eq 0 ] || cp -a "$data" "$work/data" || true
    umount "$mnt" || umount -l "$mnt" || true
  fi
  if [ "$keep" -eq 0 ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

# The disk fault needs a filesystem of its own that can fill up without
# touching anyone else's: tmpfs if we may mount, else a loop-mounted ext4
# image, else (no mounting at all, e.g. in a test sandbox) a file-size limit
# on custosd as tests/disk_full_e2e_test.sh uses, which fails its writes the
# same way (EFBIG instead of ENOSPC) but fills nothing.
data=$work/data
if [[ ",$faults," == *",disk,"* ]]; then
  mkdir -p "$mnt"
  if [ "$disk_mode" = auto ] || [ "$disk_mode" = tmpfs ]; then
    if mount -t tmpfs -o size=2g,mode=0700 tmpfs "$mnt" 2>/dev/null; then
      disk_mode=tmpfs
    elif [ "$disk_mode" = tmpfs ]; then
      echo "soak.sh: cannot mount a tmpfs (not root?)" >&2; exit 2
    fi
  fi
  if [ "$disk_mode" = auto ] || [ "$disk_mode" = loop ]; then
    truncate -s 2G "$work/fs.img"
    if mkfs.ext4 -q -F "$work/fs.img" 2>/dev/null && mount -o loop "$work/fs.img" "$mnt" 2>/dev/null; then
      disk_mode=loop
    elif [ "$disk_mode" = loop ]; then
      echo "soak.sh: cannot loop-mount an ext4 image (not root?)" >&2; exit 2
    fi
    mountpoint -q "$mnt" || rm -f "$work/fs.img"
  fi
  [ "$disk_mode" = auto ] && disk_mode=fsize
  if [ "$disk_mode" != fsize ]; then data=$mnt/data; fi
  command -v prlimit >/dev/null || [ "$disk_mode" != fsize ] ||
    { echo "soak.sh: prlimit (util-linux) is missing" >&2; exit 2; }
  echo "disk fault: $disk_mode$([ "$disk_mode" = fsize ] && echo " (no filesystem could be mounted: a file-size limit on custosd stands in for a full disk)")"
fi

log() { echo "[$(date +%T)] $*"; }
rand() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }  # an integer in [$1, $2]
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) }'; }
now() { date +%s.%N; }

port=0
starts=0
start_custosd() {
  starts=$((starts + 1))
  local out=$work/custosd.$starts.out
  # A write past a file-size limit must fail (EFBIG), not kill custosd.
  (trap '' XFSZ; exec "$custosd" --data_dir "$data" --listen "127.0.0.1:$port" \
    --metrics_listen "" --staff_requests_per_second 0) >"$out" 2>&1 &
  custosd_pid=$!
  for _ in $(seq 1 300); do
    grep -q "serving on port" "$out" 2>/dev/null && break
    kill -0 "$custosd_pid" 2>/dev/null || break
    sleep 0.05
  done
  local got
  got=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$out")
  if [ -z "$got" ]; then
    cat "$out"; echo "soak.sh: custosd did not start"; exit 1
  fi
  port=$got
}

start_custosd
export CUSTOS_PKI_DIR=$data/pki CUSTOS_SERVER=localhost:$port
key=$(cat "$data/log_verifier_key")
log "custosd on port $port, data in $data, work in $work"

# One granted request through the CLI, retried for up to 15 s: custosd
# serves again. Prints the seconds it took.
probe() {
  local t0 answer
  t0=$(now)
  for _ in $(seq 1 150); do
    if answer=$("$custos" --as anna.support access request --customer acme \
        --category support --ref SUP-1042 2>/dev/null) && grep -q "^granted g_" <<<"$answer"; then
      seconds_between "$t0" "$(now)"; return 0
    fi
    sleep 0.1
  done
  return 1
}

# Fills the soak's filesystem to the last byte, holds it full, then frees it.
disk_full() {
  local hold=$1
  if [ "$disk_mode" = fsize ]; then
    # Below every file custosd writes: each write that extends a file fails.
    prlimit --pid "$custosd_pid" --fsize=1024:unlimited
    sleep "$hold"
    prlimit --pid "$custosd_pid" --fsize=unlimited:unlimited
    return
  fi
  local avail
  avail=$(df -B1 --output=avail "$mnt" | tail -1 | tr -d ' ')
  fallocate -l "$avail" "$mnt/ballast" 2>/dev/null || true
  # Whatever fallocate left (metadata, rounding) goes too.
  dd if=/dev/zero of="$mnt/ballast.tail" bs=4k 2>/dev/null || true
  log "  filesystem full: $(df -B1 --output=avail "$mnt" | tail -1 | tr -d ' ') bytes free"
  sleep "$hold"
  rm -f "$mnt/ballast" "$mnt/ballast.tail"
}

# Holds an exclusive lock on audit.db from another process (the sqlite3
# CLI), as a backup tool or a stray admin shell might.
lock_db() {
  local hold=$1
  { echo ".timeout 10000"; echo "BEGIN EXCLUSIVE;"; echo "SELECT 'locked';"
    sleep "$hold"; echo "COMMIT;"; } | sqlite3 "$data/audit.db" >"$work/lock.out" 2>&1 &
  lock_pid=$!
  for _ in $(seq 1 200); do grep -q locked "$work/lock.out" 2>/dev/null && break; sleep 0.05; done
  grep -q locked "$work/lock.out" || { cat "$work/lock.out"; echo "soak.sh: could not lock audit.db"; exit 1; }
  wait "$lock_pid"
  lock_pid=""
}

failures=0
declare -A fault_count=([kill]=0 [disk]=0 [lock]=0)
declare -A fault_unavailable=([kill]=0 [disk]=0 [lock]=0)
verified=""
round=0
last_check=""
SECONDS=0
while [ "$SECONDS" -lt "$deadline" ] && { [ "$max_rounds" -eq 0 ] || [ "$round" -lt "$max_rounds" ]; }; do
  round=$((round + 1))
  if [ "$cycle" -eq 1 ]; then
    fault=${fault_kinds[$(((round - 1) % ${#fault_kinds[@]}))]}
  else
    fault=${fault_kinds[$((RANDOM % ${#fault_kinds[@]}))]}
  fi
  fault_count[$fault]=$((fault_count[$fault] + 1))
  outcomes=$work/round.$round.tsv
  "$soak_load" --server "localhost:$port" --pki_dir "$data/pki" \
    --references_db "$data/references.db" --reference_prefix "SOAK-r$round-" \
    --threads "$threads" --qps "$qps" --out "$outcomes" >"$work/load.$round.out" 2>&1 &
  load_pid=$!
  for _ in $(seq 1 200); do grep -q "load running" "$work/load.$round.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "load running" "$work/load.$round.out" ||
    { cat "$work/load.$round.out"; echo "soak.sh: the load did not start"; exit 1; }
  sleep "$(rand 5 30)e-1"  # 0.5 to 3 s of load before the fault

  pid_before=$custosd_pid
  hold=$(rand 20 50); hold=${hold:0:-1}.${hold: -1}  # 2.0 to 5.0 s
  case "$fault" in
    kill)
      kill -KILL "$custosd_pid"
      wait "$custosd_pid" 2>/dev/null || true
      sleep "$(rand 0 10)e-1"
      start_custosd
      what="SIGKILL, restarted (pid $custosd_pid)"
      ;;
    disk)
      disk_full "$hold"
      what="disk full for ${hold}s"
      ;;
    lock)
      lock_db "$hold"
      what="audit.db locked for ${hold}s"
      ;;
  esac
  if [ "$fault" != kill ] && [ "$custosd_pid" != "$pid_before" -o ! -e "/proc/$custosd_pid" ]; then
    log "round $round: FAIL: custosd is gone after the $fault fault"; failures=$((failures + 1)); break
  fi
  if ! recovered=$(probe); then
    log "round $round: FAIL: custosd does not serve again after the $fault fault"
    failures=$((failures + 1)); break
  fi
  sleep "$(rand 5 15)e-1"
  kill -TERM "$load_pid"
  wait "$load_pid" || { cat "$work/load.$round.out"; echo "soak.sh: the load failed"; exit 1; }
  load_pid=""

  # custosd still runs: its newest entries may wait for the next checkpoint.
  if verified=$("$custos" verify --db "$data/audit.db" --verifier_key "$key" --allow_unsigned_tail 2>&1); then
    verify_ok=ok
  else
    verify_ok=FAILED; failures=$((failures + 1))
    echo "$verified"
  fi
  round_unavailable=$(awk -F'\t' '$5 == 14 { n++ } END { print n + 0 }' "$outcomes")
  fault_unavailable[$fault]=$((fault_unavailable[$fault] + round_unavailable))
  # Every round's outcomes so far: entries must stay where they were.
  if last_check=$("$soak_check" --db "$data/audit.db" --grants "$data/grants.db" "$work"/round.*.tsv); then
    check_ok=ok
  else
    check_ok=FAILED; failures=$((failures + 1))
  fi
  log "round $round: $what; $(wc -l <"$outcomes") calls, $round_unavailable UNAVAILABLE;" \
    "served again after ${recovered}s; verify $verify_ok; check $check_ok"
  [ "$check_ok" = ok ] || echo "$last_check"
  [ "$verify_ok" = ok ] || break
done

# A clean stop, then the whole log once more.
kill -TERM "$custosd_pid"
wait "$custosd_pid" || { log "custosd did not stop cleanly"; failures=$((failures + 1)); }
custosd_pid=""
if ! verified=$("$custos" verify --db "$data/audit.db" --verifier_key "$key" 2>&1); then
  echo "$verified"; failures=$((failures + 1))
fi
last_check=$("$soak_check" --db "$data/audit.db" --grants "$data/grants.db" "$work"/round.*.tsv) ||
  failures=$((failures + 1))

field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$last_check" | head -1; }
echo
echo "=== soak summary ==="
echo "time:                 ${SECONDS}s, $round rounds (qps $qps, $threads threads, disk fault: ${disk_mode})"
echo "faults:               kill ${fault_count[kill]}, disk ${fault_count[disk]}, lock ${fault_count[lock]}"
echo "UNAVAILABLE by fault: kill ${fault_unavailable[kill]}, disk ${fault_unavailable[disk]}, lock ${fault_unavailable[lock]}"
echo "requests:             $(field outcomes)"
echo "  answered OK:        $(field ok)"
echo "  refused, logged:    $(field refused_logged) (PERMISSION_DENIED etc., with their log index)"
echo "  UNAVAILABLE:        $(field unavailable_log) the log not writable (nothing logged), $(field unavailable_logged) with a log index (a store not writable; of them logged as allowed but not served: $(field logged_not_served) grants, $(field ends_not_served) ends, $(field reads_not_served) reads, $(field not_served_recorded) recorded by a Custos.NotApplied entry; the rest refused and logged so), $(field transport) custosd gone (killed)"
echo "  other errors:       $(field other)"
echo "entries checked:      $(field entries_checked) of $(field entries) in the log; $(field grants) grants"
echo "lost requests:        $(field lost)"
echo "unlogged requests:    $(field refused_but_granted) refused but granted, $(field unlogged_grants) grants without an entry"
echo "final verify:         $(tail -1 <<<"$verified")"
sed -n '2,$p' <<<"$last_check"
if [ "$failures" -ne 0 ]; then
  echo "FAILED ($failures failures)"
  exit 1
fi
echo "PASS"
