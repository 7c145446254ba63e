#!/bin/sh
# Pair scenario runner: test/vm/pair.sh boots two guests at once (two kernels) joined by a
# virtio-serial port (name vfio-mig.0) whose two ends are one host UNIX socket; the guest init
# of each runs this in the chroot of the host root.
#   pair-runner.sh REPO KBUILD - BIN RESDIR
# RESDIR (this guest's results share) holds pair.env (GUEST a|b, OTHER, SYNC: the 9p dir both
# guests share, SCEN_TIMEOUT, FIRST_WAIT) and plan: one line per scenario run, in the same
# order on both guests: `ID NAME ROLE FROM TO` (ROLE source|destination; FROM/TO: kernels).
# Each run: both guests meet (barrier), run their part of test/vm/pair-scenarios/NAME.sh
# (pair_source / pair_destination) under a timeout, meet again, drain the port, meet again.
# Results: RESDIR/ID.log, ID.status (pass|fail|skip), ID.secs.
REPO="$1"; BUILD="$2"; BIN="$4"; RES="$5"
. "$RES/pair.env"
export VMTEST_REPO="$REPO" VMTEST_BUILD="$BUILD" VMTEST_RES="$RES" VMTEST_BIN="$BIN"
export PATH="$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/tmp TMPDIR=/tmp
SDIR="$REPO/test/vm/scenarios"
PDIR="$REPO/test/vm/pair-scenarios"

setup_failed() { echo "$*" >>"$RES/setup.failed"; echo "VMTEST setup failed: $*"; exit 1; }
# barrier NAME SECONDS: this guest is at NAME; wait for the other one
barrier() {
  : >"$SYNC/$1.$GUEST"
  _n=0
  while [ ! -e "$SYNC/$1.$OTHER" ]; do
    _n=$((_n + 1))
    [ $_n -le $(($2 * 5)) ] || return 1
    sleep 0.2
  done
}

# virtio_console: a module on 6.1, built in on 6.12
modprobe virtio_console 2>"$RES/virtio_console.log" || grep -q virtio_console "/lib/modules/$(uname -r)/modules.builtin" ||
  setup_failed "modprobe virtio_console: $(cat "$RES/virtio_console.log")"
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none pairsync "$SYNC" || setup_failed "9p mount of the pair sync share on $SYNC"
# no udev in the guest: the port's /dev/virtio-ports name made by hand
PAIR_PORT=
for _i in 1 2 3 4 5 6 7 8 9 10; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = vfio-mig.0 ] && PAIR_PORT="/dev/${p##*/}"
  done
  [ -n "$PAIR_PORT" ] && [ -c "$PAIR_PORT" ] && break
  sleep 1
done
[ -c "$PAIR_PORT" ] || setup_failed "no virtio-serial port named vfio-mig.0 (/sys/class/virtio-ports: $(ls /sys/class/virtio-ports 2>&1))"
mkdir -p /dev/virtio-ports
ln -sf "$PAIR_PORT" /dev/virtio-ports/vfio-mig.0
export PAIR_PORT=/dev/virtio-ports/vfio-mig.0 PAIR_SYNC="$SYNC" PAIR_GUEST="$GUEST"
echo "VMTEST pair guest $GUEST ($(uname -r)): port $PAIR_PORT -> $(readlink /dev/virtio-ports/vfio-mig.0)"

wait_first="$FIRST_WAIT"
while read -r id name role from to; do
  [ -n "$id" ] || continue
  # the first meeting also waits out the other guest's boot (and its one retry)
  if ! barrier "$id.begin" "$wait_first"; then
    echo "the other guest ($OTHER) did not arrive at the start within ${wait_first}s" >"$RES/$id.log"
    echo fail >"$RES/$id.status"; echo 0 >"$RES/$id.secs"
    echo "VMTEST fail $id (the other guest never came)"
    continue
  fi
  wait_first=60
  t0=$(cut -d' ' -f1 /proc/uptime)
  PAIR_ID="$id" PAIR_ROLE="$role" PAIR_FROM="$from" PAIR_TO="$to" \
    timeout -k 5 "$SCEN_TIMEOUT" sh -c "trap 'pkill -KILL -P \$\$' EXIT; . '$SDIR/lib.sh'; . '$PDIR/lib.sh'; vm_setup; stamp '$role on $(uname -r)'; . '$PDIR/$name.sh'; pair_$role; jflush" >"$RES/$id.log" 2>&1
  rc=$?
  t1=$(cut -d' ' -f1 /proc/uptime)
  sh -c ". '$SDIR/lib.sh'; vm_cleanup" >>"$RES/$id.log" 2>&1
  case $rc in
    0) st=pass ;;
    77) st=skip ;;
    124|137) st=fail; echo "TIMEOUT after ${SCEN_TIMEOUT}s" >>"$RES/$id.log" ;;
    *) st=fail ;;
  esac
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f\n", b-a}' >"$RES/$id.secs"
  echo "$st" >"$RES/$id.status"
  echo "VMTEST $st $id ($role, $(cat "$RES/$id.secs")s)"
  # both parts over before either drains what a failed run may have left in the channel
  barrier "$id.end" $((SCEN_TIMEOUT + 30)) || echo "(the other guest did not finish its part)" >>"$RES/$id.log"
  echo "--- pair: draining the port" >>"$RES/$id.log"
  vmtest drain "$PAIR_PORT" 700 10000 >>"$RES/$id.log" 2>&1
  barrier "$id.clean" 30 || echo "(the other guest did not drain)" >>"$RES/$id.log"
done <"$RES/plan"
