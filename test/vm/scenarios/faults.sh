# Every fault-injection knob observed, and every device recovered.
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
vmtest faults "$a" "$b" || fail "faults"
for u in $a $b; do
  s=$(cat /sys/bus/mdev/devices/$u/vmref_status)
  echo "$u: $s"
  case "$s" in state=RUNNING*) ;; *) fail "$u not RUNNING after the faults" ;; esac
done
dmesg | grep -i "vmref\|fault:" | tail -20
