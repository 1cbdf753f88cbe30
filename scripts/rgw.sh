#!/usr/bin/env bash
# A throw-away single-node Ceph cluster with a RADOS Gateway on 127.0.0.1, for tests and benchmarks:
# one monitor, one BlueStore OSD on a sparse file, radosgw. Nothing listens beyond loopback.
#
#   scripts/rgw.sh start   # prints nothing but progress; writes $RGW_DIR/env (endpoint + keys)
#   scripts/rgw.sh stop    # stops every daemon it started, by recorded PID, and removes $RGW_DIR
#   scripts/rgw.sh status
#
# Settings that make it start without hanging are explained in ../shared/spec/s3-compat.md.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/gbp-rgw}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${RGW_MON_PORT:-6789}
ACCESS_KEY=gbptestaccess
SECRET_KEY=gbptestsecret0123456789
CONF="$RGW_DIR/ceph.conf"

log() { echo "rgw: $*" >&2; }

ceph_() { ceph -c "$CONF" --connect-timeout 5 "$@"; }

wait_for() { # <seconds> <description> <command...>
  local limit=$1 what=$2; shift 2
  for ((i = 0; i < limit * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  log "timed out after ${limit}s waiting for $what; logs in $RGW_DIR/log"
  tail -n 20 "$RGW_DIR"/log/*.log >&2 || true
  return 1
}

start() {
  if [[ -f "$RGW_DIR/env" ]] && status >/dev/null 2>&1; then log "already running ($RGW_DIR)"; return 0; fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$RGW_DIR"/{mon,osd,log,run,rgw}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = 127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon data avail crit = 1
mon data avail warn = 2
log file = $RGW_DIR/log/\$name.log
run dir = $RGW_DIR/run
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
keyring = $RGW_DIR/keyring

[mon.a]
mon data = $RGW_DIR/mon

[osd.0]
osd data = $RGW_DIR/osd
osd objectstore = bluestore
bluestore block path = $RGW_DIR/block
bluestore block create = true
bluestore block size = 68719476736
osd memory target = 939524096

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $RGW_DIR/rgw
rgw dns name = localhost
rgw enable usage log = false
EOF
  log "monitor"
  ceph-authtool --create-keyring "$RGW_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --add a "127.0.0.1:$MON_PORT" --fsid "$fsid" "$RGW_DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$RGW_DIR/monmap" --keyring "$RGW_DIR/keyring"
  ceph-mon -c "$CONF" -i a
  wait_for 30 "the monitor" ceph_ mon stat

  log "OSD"
  local uuid; uuid=$(cat /proc/sys/kernel/random/uuid)
  local id=""
  for ((i = 0; i < 60; i++)); do
    if id=$(ceph_ osd new "$uuid" 2>/dev/null); then break; fi
    sleep 0.5
  done
  [[ "$id" == 0 ]] || { log "ceph osd new answered '$id'"; exit 1; }
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" 2>"$RGW_DIR/log/osd-mkfs.err" >/dev/null
  ceph-osd -c "$CONF" -i 0 2>>"$RGW_DIR/log/osd-start.err"
  wait_for 60 "the OSD to come up" bash -c "ceph -c '$CONF' --connect-timeout 5 osd stat | grep -q '1 up'"

  log "radosgw on 127.0.0.1:$RGW_PORT"
  radosgw -c "$CONF" -n client.rgw
  wait_for 90 "radosgw to listen" bash -c "exec 3<>/dev/tcp/127.0.0.1/$RGW_PORT"
  wait_for 60 "the test user" radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
    --access-key="$ACCESS_KEY" --secret="$SECRET_KEY"
  cat >"$RGW_DIR/env" <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
EOF
  log "ready: source $RGW_DIR/env"
}

pids() { cat "$RGW_DIR"/run/*.pid 2>/dev/null || true; }

stop() {
  local p
  for p in $(pids); do kill "$p" 2>/dev/null || true; done
  for ((i = 0; i < 40; i++)); do
    local alive=0
    for p in $(pids); do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.25
  done
  for p in $(pids); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$RGW_DIR"
}

status() {
  local p n=0
  for p in $(pids); do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
  echo "$n daemons running"
  [[ $n -eq 3 ]]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
