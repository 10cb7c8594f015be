#!/usr/bin/env bash
# A short run of the fault-injection soak (bench/soak.sh): three rounds under
# load, one of each fault: custosd killed with SIGKILL and restarted, the disk
# full, the log locked by another process. Nothing can be mounted in the test
# sandbox, so the full disk is a file-size limit on custosd (--disk fsize).
# Fails if an answered call is missing from the log, a refused one left a
# grant, the log does not verify, or custosd does not serve again.
set -euo pipefail

export CUSTOSD=$TEST_SRCDIR/custos/gateway/custosd
export CUSTOS=$TEST_SRCDIR/custos/clients/cli/custos
export SOAK_LOAD=$TEST_SRCDIR/custos/bench/soak_load
export SOAK_CHECK=$TEST_SRCDIR/custos/bench/soak_check
exec bash "$TEST_SRCDIR/custos/bench/soak.sh" --rounds 3 --cycle --minutes 2 \
  --faults kill,disk,lock --disk fsize --qps 200 --threads 4 --work "$TEST_TMPDIR/soak"
