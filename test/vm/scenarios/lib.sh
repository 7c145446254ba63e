# Shared helpers for the VM scenarios (sourced by the runner before each scenario; POSIX sh).
# A scenario fails on the first failed `check`/`expect`, or on a non-zero exit.
set -u
VMREF_PARENT=/sys/class/mdev_bus/vmref
VMREF_TYPES=$VMREF_PARENT/mdev_supported_types
VMREF_PARAMS=/sys/module/vfio_mig_ref/parameters
CLI="node $VMTEST_REPO/bin/run.js"
ENGINE="$VMTEST_REPO/engine/build/vfio-mig-engine"

vm_setup() { rm -f "$JQ_QUEUE" /tmp/jq.snap.*; }

# Remove every mdev (vmref, mtty) and disarm every fault.
vm_cleanup() {
  for d in /sys/bus/mdev/devices/*; do
    [ -e "$d/remove" ] && echo 1 >"$d/remove" 2>/dev/null
  done
  disarm
  return 0
}

# arm KNOB=VALUE...: set fault-injection knobs (README: Fault injection); disarm: all off
arm() { for kv in "$@"; do echo "${kv#*=}" >"$VMREF_PARAMS/${kv%%=*}" || fail "arm $kv"; done; }
disarm() {
  [ -d "$VMREF_PARAMS" ] || return 0
  for p in fail_arc_from fail_arc_to error_arc_from error_arc_to fail_read_after fail_write_after; do echo -1 >"$VMREF_PARAMS/$p"; done
  for p in reject_load stall_read_ms stall_write_ms dirty_rate_kbps check_on_write no_p2p; do echo 0 >"$VMREF_PARAMS/$p"; done
  echo >"$VMREF_PARAMS/fault_dev"
  for p in fail_arc_errno fail_read_errno fail_write_errno; do echo 5 >"$VMREF_PARAMS/$p"; done
  echo 22 >"$VMREF_PARAMS/reject_load_errno"
  for p in fail_arc_count error_arc_count fail_read_count fail_write_count; do echo 1 >"$VMREF_PARAMS/$p"; done
}
# has_iface group|cdev: the kernel offers that way to open a VFIO device (the host knows from
# the kernel's config: the group interface unless VFIO_GROUP=n, the cdev with VFIO_DEVICE_CDEV)
has_iface() { case ",${VMTEST_IFACE:-group}," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# dev_nodes_js: a JS expression over a listed device `d` (list/show --json): its iommu_group and
# vfio_dev (vfioN) are there exactly when the kernel offers the group and the cdev
dev_nodes_js() {
  if has_iface group; then _g='Number.isInteger(d.iommu_group)'; else _g='d.iommu_group === undefined'; fi
  if has_iface cdev; then _c='/^vfio[0-9]+$/.test(d.vfio_dev)'; else _c='d.vfio_dev === undefined'; fi
  echo "($_g && $_c)"
}
# state UUID: the driver's own view of the device state (RUNNING, ERROR, ...)
state() { sed 's/^state=\([A-Z_0-9]*\).*/\1/' "/sys/bus/mdev/devices/$1/vmref_status"; }

fail() { echo "FAIL $*"; exit 1; }
pass() { echo "ok   $*"; }
skip() { echo "SKIP $*"; exit 77; }
# check DESCRIPTION COMMAND...: run the command, fail the scenario if it fails
check() { _cd="$1"; shift; if "$@"; then pass "$_cd"; else fail "$_cd (command: $*)"; fi; }
# expect_eq DESCRIPTION GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi; }

new_uuid() { cat /proc/sys/kernel/random/uuid; }
# mk TYPE (gfx-4GB|gfx-8GB|nic): create an mdev, print its UUID
mk() {
  u=$(new_uuid)
  echo "$u" >"$VMREF_TYPES/vmref-$1/create" || fail "create vmref-$1"
  echo "$u"
}
rm_mdev() { echo 1 >"/sys/bus/mdev/devices/$1/remove"; }
mig() { echo "/sys/bus/mdev/devices/$1/migration/$2"; }
# wr PATH VALUE: write, print OK or the errno name (EINVAL, EBUSY, ...)
wr() { vmtest write "$1" "$2"; }
rd() { cat "$1"; }

# The project's CLI and engine: scenarios needing them skip until they exist.
need_cli() {
  [ -f "$VMTEST_REPO/bin/run.js" ] || skip "CLI not built ($VMTEST_REPO/bin/run.js missing)"
  [ -d "$VMTEST_REPO/dist" ] || [ -d "$VMTEST_REPO/lib" ] || skip "CLI not compiled (npm run build)"
}
need_engine() { [ -x "$ENGINE" ] || skip "engine not built ($ENGINE missing)"; }

# The kernel's sample driver mtty (run.sh builds it from the kernel's source package on
# kernels >= 6.7; a scenario declaring `# vmtest-needs: mtty` only runs there). Missing
# there is a failure, never a skip.
MTTY_PARENT=/sys/class/mdev_bus/mtty
need_mtty() {
  [ -d "$MTTY_PARENT/mdev_supported_types/mtty-2" ] && return 0
  fail "mtty is not loaded on $(uname -r): $(cat "$VMTEST_BUILD/mtty/why" "$VMTEST_RES/mtty.why" 2>/dev/null | tr '\n' ' ')"
}
# mk_mtty mtty-1|mtty-2: create an mtty mdev (one or two ports), print its UUID
mk_mtty() {
  u=$(new_uuid)
  echo "$u" >"$MTTY_PARENT/mdev_supported_types/$1/create" || fail "create $1"
  echo "$u"
}
# UART scratch register (offset 7) of PORT (0: BAR0, 1: BAR1; region offset index << 40),
# through the device fd: mtty_scratch_set UUID PORT BYTE, mtty_scratch_get UUID PORT
mtty_scratch_set() { vmtest regw "$1" "$2" 7 "$3" || fail "write scratch register of port $2 of $1"; }
mtty_scratch_get() { vmtest regr "$1" "$2" 7 || fail "read scratch register of port $2 of $1"; }
# vstate UUID: the migration state as the kernel reports it (any driver)
vstate() { vmtest state "$1"; }
# cli OUT ARGS...: run the CLI with its stdout in OUT (stderr shown); exit code in $CLI_RC
cli() { _o="$1"; shift; echo "+ vfio-mig $*"; $CLI "$@" >"$_o"; CLI_RC=$?; return 0; }
JQ="node $VMTEST_REPO/test/vm/guest/jq.mjs"
# jcheck DESC FILE EXPR: assert a JS expression over the parsed JSON (r, deq, sysfs(), json()).
# Checks are queued with a snapshot of FILE and evaluated by one node process at the end of
# the scenario (jflush, called by the runner); jcheck_now evaluates at once.
JQ_QUEUE=/tmp/jq.queue
JQ_N=0
jcheck() {
  JQ_N=$((JQ_N + 1)); cp "$2" "/tmp/jq.snap.$JQ_N" 2>/dev/null || echo "(missing)" >"/tmp/jq.snap.$JQ_N"
  printf '%s\037%s\037%s\036' "$1" "/tmp/jq.snap.$JQ_N" "$3" >>"$JQ_QUEUE"
}
# wait_sock PATH: a listener (migrate receive --from unix-listen:PATH) is up, within 10 s
wait_sock() { _i=0; while [ ! -S "$1" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done; [ -S "$1" ]; }
jcheck_now() { $JQ check "$@" || exit 1; }
jflush() { [ -s "$JQ_QUEUE" ] || return 0; echo "--- deferred JSON checks:"; $JQ batch "$JQ_QUEUE"; _rc=$?; rm -f "$JQ_QUEUE" /tmp/jq.snap.*; return $_rc; }
jget() { $JQ get "$@"; }
# open_req DEVICE [',"id":1']: the engine's open request with the paths vfio-mig resolves
# (enumerate/access.ts, auto): the group when /dev/vfio/<group> exists, else the device cdev.
open_req() {
  _d=/sys/bus/mdev/devices/$1; [ -e "$_d" ] || _d=/sys/bus/pci/devices/$1
  _g=$(readlink "$_d/iommu_group" 2>/dev/null); _g=${_g##*/}
  if [ -n "$_g" ] && [ -e "/dev/vfio/$_g" ]; then
    printf '{"op":"open","device":"%s","group_path":"/dev/vfio/%s","container_path":"/dev/vfio/vfio"%s}' "$1" "$_g" "${2-}"
  else
    _c=$(ls "$_d/vfio-dev" 2>/dev/null | head -n 1)
    printf '{"op":"open","device":"%s","cdev_path":"/dev/vfio/devices/%s","iommufd_path":"/dev/iommu"%s}' "$1" "$_c" "${2-}"
  fi
}

# engine OUT REQUEST...: run the engine with one JSON request per argument; responses in OUT
engine() {
  _o="$1"; shift
  for _r in "$@"; do printf '%s\n' "$_r"; done | "$ENGINE" >"$_o"; ENGINE_RC=$?
  echo "+ engine: $# requests, exit $ENGINE_RC"; cat "$_o" | grep -v '"event"' | cut -c1-400
  return 0
}

# mcase DESC WANT_EXIT KNOBS -- CLI ARGS...: one CLI run of the fault matrix under the knobs,
# timed, one CASE line; then source $s and destination $d must be RUNNING. Counts in $n.
mcase() {
  desc="$1"; want="$2"; knobs="$3"; shift 4
  n=$((n + 1))
  disarm
  arm faults_fired=0 $knobs
  t0=$(date +%s%N)
  cli "/tmp/mf$n.json" "$@" --json
  t1=$(date +%s%N)
  echo "CASE $desc: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
  disarm
  expect_eq "$desc: exit code" "$CLI_RC" "$want"
  expect_eq "$desc: source state" "$(state $s)" RUNNING
  expect_eq "$desc: destination state" "$(state $d)" RUNNING
  jcheck "$desc: reported as a failure" "/tmp/mf$n.json" 'r.status === "error" && r.exitCode !== 0'
}
