#!/usr/bin/env bash
# Sets everything up and runs the whole test suite. Ends with the plain line "N passed, N failed"
# taken from vitest's own JSON report, and exits non-zero unless every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."

# The workplace's reference material the tests read (Portage-written fixtures, Portage itself):
# $GBP_SHARED, else ../shared beside this repository, else beside the repository this one was
# cloned from (a fresh clone made elsewhere, e.g. under /tmp, to check a change).
find_shared() {
  if [[ -n "${GBP_SHARED:-}" ]]; then echo "$GBP_SHARED"; return; fi
  if [[ -d ../shared ]]; then echo ../shared; return; fi
  local origin; origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [[ -n "$origin" && -d "$origin" && -d "$origin/../shared" ]]; then echo "$origin/../shared"; return; fi
}
shared=$(find_shared)
if [[ -z "$shared" || ! -f "$shared/fixtures/portage/expected.json" ]]; then
  echo "test.sh: the shared fixtures are not found (${shared:-no ../shared beside this repository, nor beside its origin}); set GBP_SHARED to the directory that holds fixtures/ and clients/" >&2
  exit 1
fi
GBP_SHARED=$(cd "$shared" && pwd); export GBP_SHARED
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
# vitest runs the tests without checking their types; the code and the tests are checked here
typecheck=0
npx tsc -p tsconfig.test.json || { typecheck=1; echo "test.sh: the code or the tests do not type-check (tsc -p tsconfig.test.json, above)" >&2; }
report=$(mktemp)
TMPDIR=$tests_tmp npx vitest run --reporter=default --reporter=json --outputFile="$report"
status=$?
if ((typecheck)); then status=1; fi
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  // a file that fails before its tests run (an import, a missing fixture) counts no failed test
  const unrun = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((t) => t.status === "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : "") + (unrun ? `, ${unrun} test files failed to run` : ""));
  if (r.numTotalTests === 0) process.exit(1);
' "$report" || status=1
rm -f "$report"
exit $status
