#!/usr/bin/env bash
# Sets everything up and runs the whole test suite. Ends with the plain line "N passed, N failed"
# taken from vitest's own JSON report, and exits non-zero unless every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests || exit 1

# Every temporary directory the tests make (stores, archives, gpg homes, Portage roots, browser
# profiles) goes under one, removed on exit: a run left some 60 behind in /tmp, each time.
tests_tmp=$(mktemp -d /tmp/gbp-tests.XXXXXX)
chmod 1777 "$tests_tmp" # as /tmp is: Portage verifies signatures as its own user, in homes made here
rgw_started=0
cleanup() {
  if ((rgw_started)); then bash scripts/rgw.sh stop; fi
  rm -rf "$tests_tmp"
}
trap cleanup EXIT

# The S3 tests' server: a throw-away Ceph RGW on free loopback ports, stopped by PID on exit.
if [[ -z "${GBP_TEST_RGW_ENV:-}" ]]; then
  export RGW_DIR; RGW_DIR=$(mktemp -d /tmp/gbp-test-rgw.XXXXXX)
  free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
  export RGW_PORT; RGW_PORT=$(free_port)
  export RGW_MON_PORT; RGW_MON_PORT=$(free_port)
  rgw_started=1
  bash scripts/rgw.sh start || exit 1
  export GBP_TEST_RGW_ENV="$RGW_DIR/env"
fi
report=$(mktemp)
TMPDIR=$tests_tmp npx vitest run --reporter=default --reporter=json --outputFile="$report"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (r.numTotalTests === 0) process.exit(1);
' "$report" || status=1
rm -f "$report"
exit $status
