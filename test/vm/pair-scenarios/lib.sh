# Helpers for the pair scenarios (sourced after scenarios/lib.sh, POSIX sh).
# Both guests run the same scenario file at once: the source guest its pair_source, the
# destination guest its pair_destination. They share no network: the data goes through
# the virtio-serial port $PAIR_PORT (/dev/virtio-ports/vfio-mig.0); the harness's own
# messages (who is ready, byte counts) go through files in a 9p directory both guests see
# ($PAIR_SYNC), named after the run ($PAIR_ID) so no run sees another's.
# Environment: PAIR_PORT, PAIR_ROLE (source|destination), PAIR_FROM, PAIR_TO (kernels),
# PAIR_ID, PAIR_SYNC, PAIR_GUEST.

# pair_say KEY [VALUE]: tell the other guest (written whole: temporary name, then renamed)
pair_say() {
  printf '%s\n' "${2:-}" >"$PAIR_SYNC/$PAIR_ID.say.$1.tmp" && mv "$PAIR_SYNC/$PAIR_ID.say.$1.tmp" "$PAIR_SYNC/$PAIR_ID.say.$1" ||
    fail "pair_say $1"
}
# pair_hear KEY [SECONDS]: wait (default 120 s) until the other guest said KEY; print its value
pair_hear() {
  _w=$((${2:-120} * 5))
  while [ ! -e "$PAIR_SYNC/$PAIR_ID.say.$1" ]; do
    _w=$((_w - 1))
    [ $_w -gt 0 ] || fail "the other guest never said '$1' (waited ${2:-120}s)"
    sleep 0.2
  done
  cat "$PAIR_SYNC/$PAIR_ID.say.$1"
}
# pair_heard KEY: true when the other guest already said KEY (no wait)
pair_heard() { [ -e "$PAIR_SYNC/$PAIR_ID.say.$1" ]; }
# pair_cut: the host breaks the connection of the UNIX socket joining the two ports (both
# guests see their port's host side disconnected; the connecting QEMU is back after ~1 s)
pair_cut() {
  : >"$PAIR_SYNC/$PAIR_ID.cut.request"
  _w=100
  while [ ! -e "$PAIR_SYNC/$PAIR_ID.cut.done" ]; do
    _w=$((_w - 1))
    [ $_w -gt 0 ] || fail "the host did not answer the cut request in 20 s"
    sleep 0.2
  done
  case "$(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" in
    cut*) pass "host cut the channel: $(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" ;;
    *) fail "the host could not cut the channel: $(cat "$PAIR_SYNC/$PAIR_ID.cut.done")" ;;
  esac
}
# wait_state UUID STATE [SECONDS]: poll the reference driver's state until it is STATE
wait_state() {
  _w=$((${3:-60} * 10))
  while [ "$(state "$1")" != "$2" ]; do
    _w=$((_w - 1))
    [ $_w -gt 0 ] || fail "$1 never reached $2 (now $(state "$1"))"
    sleep 0.1
  done
}
# stamp TEXT: TEXT with the guest's uptime (where the time goes, in the log)
stamp() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
