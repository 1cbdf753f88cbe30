#!/usr/bin/env bash
# Installs what gbp needs on a Debian machine, then builds the project. With --for-tests, also
# what the test suite and benchmarks run against: a real S3 server (Ceph's radosgw, monitor and
# OSD; scripts/rgw.sh runs them), Debian's Chromium for the page tests (driven by playwright-core,
# which never downloads a browser of its own), and rclone, the benchmark's reference uploader.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
[[ "${1:-}" == --for-tests ]] && for_tests=1

# Debian packages: the decompressors for .tar.zst/.tar.xz/.tar.bz2 archives and packages, rsync
# (the exporter's tests run a real daemon and client),
# gpg (package signatures are checked at pull once the site trusts a key), GNU time for the
# benchmark's peak-RSS figures.
need=()
for pair in zstd:zstd xz:xz-utils bzip2:bzip2 rsync:rsync gpg:gpg gpgv:gpgv /usr/bin/time:time; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if ((for_tests)); then
  # real Portage (../shared/clients/portage) as the tests' client: python3, wget (its fetcher),
  # gpg (signature checks), flock and the usual tools its test harness links into a fake root
  for pair in radosgw:radosgw ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common rclone:rclone chromium:chromium \
    python3:python3 wget:wget gpg:gpg flock:util-linux awk:gawk; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
  done
fi
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js >= 20 is required (apt-get install nodejs npm)" >&2
  exit 1
fi
# npm ci: exactly the committed lock file (which lists every platform's optional packages), and
# never a rewrite of it, so the README's commands leave the work tree clean.
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
