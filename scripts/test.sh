#!/usr/bin/env bash
# Sets everything up and runs the whole test suite. Ends with the plain line "N passed, N failed"
# taken from vitest's own JSON report, and exits non-zero unless every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
report=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile="$report"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (r.numTotalTests === 0) process.exit(1);
' "$report" || status=1
rm -f "$report"
exit $status
