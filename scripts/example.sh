#!/usr/bin/env bash
# The main job on the embedded default: generates two realistic builds of a machine, pulls both
# into a local store (./example/store), publishes the newer one, and shows where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf example
node dist/scripts/fixtures/generate.js --size small --out example/archives --machines 1 --builds 2 2>/dev/null
gbp() { node dist/src/cli/main.js --store example/store --base-url http://localhost:8080 "$@"; }
gbp pull example/archives/machine1/build-1.tar.gz --machine machine1 --build 1 --publish
gbp pull example/archives/machine1/build-2.tar.gz --machine machine1 --build 2 --publish --tag stable
echo
gbp list
echo
cat <<MSG
The store is in $(pwd)/example/store:
  machines/machine1/binpkgs/Packages   what clients' sync-uri points at (the published build)
  builds/machine1/<id>/build.json      each build's manifest
  blobs/                               every binary package, stored once by SHA-256
  index.html                           the browsable pages (machines, builds, what changed)
Browse: node dist/src/cli/main.js --store example/store serve   (then http://localhost:8080/)
Try: node dist/src/cli/main.js --store example/store show machine1 @
     node dist/src/cli/main.js --store example/store publish machine1 1    # roll back
MSG
