# The fault knobs for migration reliability, driver-level: fail_write_after/_errno/_count,
# stall_read_ms/stall_write_ms (interrupted by a signal and by the session's end),
# dirty_rate_kbps (memory changes while RUNNING/PRE_COPY, PRECOPY_INFO and the data agree).
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
vmtest knobs "$a" "$b" || fail "knobs"
for u in $a $b; do
  s=$(cat /sys/bus/mdev/devices/$u/vmref_status)
  echo "$u: $s"
  case "$s" in state=RUNNING*) ;; *) fail "$u not RUNNING after the knobs" ;; esac
done
