# Helpers for the pair scenarios (sourced after scenarios/lib.sh, POSIX sh).
# Both guests run the same scenario file at once: the source guest its pair_source, the
# destination guest its pair_destination. They share no network: the data goes through
# the virtio-serial port $PAIR_PORT (/dev/virtio-ports/vfio-mig.0); the harness's own
# messages (who is ready, byte counts) go through files in a 9p directory both guests see
# ($PAIR_SYNC), named after the run ($PAIR_ID) so no run sees another's.
# Environment: PAIR_PORT, PAIR_ROLE (source|destination), PAIR_FROM, PAIR_TO (kernels),
# PAIR_ID, PAIR_SYNC, PAIR_GUEST.

# uptime_s: the guest's uptime in whole seconds (deadlines that hold however slow TCG is)
uptime_s() { cut -d. -f1 /proc/uptime; }
# the other part's role
case "${PAIR_ROLE:-}" in source) PAIR_PEER=destination ;; *) PAIR_PEER=source ;; esac
# pair_say KEY [VALUE]: tell the other guest (written whole: temporary name, then renamed;
# each part has its own names, so both may say the same KEY)
pair_say() {
  _f="$PAIR_SYNC/$PAIR_ID.$PAIR_ROLE.$1"
  printf '%s\n' "${2:-}" >"$_f.tmp" && mv "$_f.tmp" "$_f" || fail "pair_say $1"
}
# pair_hear KEY [SECONDS]: wait (default 120 s) until the other guest said KEY; print its value
pair_hear() {
  _f="$PAIR_SYNC/$PAIR_ID.$PAIR_PEER.$1"
  _end=$(($(uptime_s) + ${2:-120}))
  while [ ! -e "$_f" ]; do
    # on stderr too: callers take the value with $(...) or drop it
    [ "$(uptime_s)" -lt $_end ] || { echo "FAIL the other guest ($PAIR_PEER) never said '$1' (waited ${2:-120}s)" >&2; exit 1; }
    sleep 0.2
  done
  cat "$_f"
}
# pair_cut: the host breaks the connection of the UNIX socket joining the two ports (both
# guests see their port's host side disconnected; the connecting QEMU is back after ~1 s)
pair_cut() {
  : >"$PAIR_SYNC/$PAIR_ID.cut.request"
  _end=$(($(uptime_s) + 20))
  while [ ! -e "$PAIR_SYNC/$PAIR_ID.cut.done" ]; do
    [ "$(uptime_s)" -lt $_end ] || fail "the host did not answer the cut request in 20 s"
    sleep 0.2
  done
  case "$(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" in
    cut*) pass "host cut the channel: $(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" ;;
    *) fail "the host could not cut the channel: $(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" ;;
  esac
}
# wait_state UUID STATE [SECONDS [PID REPORT]]: poll the reference driver's state until it is
# STATE; with PID, fail at once (showing REPORT, its output) when that process ended first
wait_state() {
  _end=$(($(uptime_s) + ${3:-60}))
  while [ "$(state "$1")" != "$2" ]; do
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
      cat "${5:-/dev/null}"; fail "$1 never reached $2: the process driving it ended first (now $(state "$1"))"
    fi
    [ "$(uptime_s)" -lt $_end ] || fail "$1 never reached $2 in ${3:-60}s (now $(state "$1"))"
    sleep 0.1
  done
}
# stamp TEXT: TEXT with the guest's uptime (where the time goes, in the log)
stamp() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
# mk_filled SEED: a vmref gfx-4GB mdev with 4 MiB of device memory holding SEED's pattern
mk_filled() {
  _u=$(mk gfx-4GB)
  [ "$(wr "$(mig "$_u" memory)" 4)" = OK ] || fail "memory=4 on $_u"
  vmtest fill "$_u" "$1" >/dev/null || fail "fill $_u with seed $1"
  echo "$_u"
}
# need_remote: the duplex CLI (migrate send / migrate receive) is in this build
need_remote() {
  grep -q '"migrate:send"' "$VMTEST_REPO/oclif.manifest.json" 2>/dev/null ||
    skip "the CLI has no migrate send/receive (oclif.manifest.json)"
}
# remote_part: what every part of a duplex scenario needs (the CLI, the engine, migrate send)
remote_part() { need_cli; need_engine; need_remote; }
# pair_swap VALUE: tell the other guest this part's device(s); print the other part's
pair_swap() { pair_say dev "$1"; pair_hear dev; }
# the duplex CLI's channel: this guest's end of the virtio-serial port
CHAN="dev:$PAIR_PORT"
# after a failed migrate send (report in FILE): the source back in RUNNING by the sender's own
# account, never STOP after the failure, and its device memory still SEED's pattern
source_intact() {
  jcheck "send: failed, the source recovered to RUNNING" "$1" \
    'r.status === "error" && r.error.details.recoveries.some(x => x.role === "source" && x.state === "RUNNING")'
  check "the source's memory is intact" vmtest check "$2" "$3"
}
# after a failed migrate receive (report in FILE): the destination reset, RUNNING
dest_reset() {
  jcheck "receive: failed, the destination reset to RUNNING" "$1" \
    'r.status === "error" && r.error.details.recoveries.some(x => x.role === "destination" && x.state === "RUNNING")'
}
