# In-guest benchmark (run by test/vm/run.sh bench/vm-save; POSIX sh, sourced by the VM runner):
# saving a 256 MiB reference device to a file with the project's engine vs a minimal C
# read() loop (test/vm/tools/vmtest.c `save`: 1 MiB read()/write() on the same data_fd).
# Both run as a fresh process (open, RUNNING -> STOP_COPY, read to EOF into /tmp, fsync,
# STOP); 3 alternating rounds each, medians reported. TCG guest: absolute numbers are
# slow; the ratio is what this measures.
need_engine
MIB=${VMBENCH_MIB:-256}
ROUNDS=${VMBENCH_ROUNDS:-3}
a=$(mk gfx-4GB)
expect_eq "memory=$MIB" "$(wr $(mig $a memory) $MIB)" OK
check "fill" vmtest fill "$a" 91
now() { cut -d' ' -f1 /proc/uptime; }
: >/tmp/bench.engine; : >/tmp/bench.loop; : >/tmp/bench.sc
i=0
while [ $i -lt "$ROUNDS" ]; do
  i=$((i + 1))
  rm -f /tmp/bench.vfm /tmp/bench.raw
  t0=$(now)
  printf '%s\n' "{\"op\":\"open\",\"device\":\"$a\"}" '{"op":"set_state","state":"STOP_COPY"}' \
    '{"op":"save_begin","path":"/tmp/bench.vfm","header":{"bench":"vm-save"}}' '{"op":"save","progress":false}' \
    '{"op":"save_end"}' '{"op":"set_state","state":"STOP"}' '{"op":"close"}' '{"op":"quit"}' \
    | "$ENGINE" >/tmp/bench.out
  t1=$(now)
  grep -q '"ok":false' /tmp/bench.out && { cat /tmp/bench.out; fail "engine save failed"; }
  echo "$t0 $t1" | awk '{print $2-$1}' >>/tmp/bench.engine
  rm -f /tmp/bench.vfm
  t0=$(now)
  vmtest save "$a" /tmp/bench.raw >/tmp/bench.loopout || fail "read loop save failed"
  t1=$(now)
  echo "$t0 $t1" | awk '{print $2-$1}' >>/tmp/bench.loop
  sed -n 's/.*stop_copy_s=\([0-9.]*\).*/\1/p' /tmp/bench.loopout >>/tmp/bench.sc
  echo "round $i: engine $(tail -1 /tmp/bench.engine)s, read loop $(tail -1 /tmp/bench.loop)s ($(cat /tmp/bench.loopout))"
done
med() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
e=$(med /tmp/bench.engine); l=$(med /tmp/bench.loop); sc=$(med /tmp/bench.sc)
ratio=$(awk -v e="$e" -v l="$l" 'BEGIN{printf "%.2f", e/l}')
bytes=$(stat -c %s /tmp/bench.raw)
echo "vm-save: ${MIB} MiB device, state ${bytes} bytes: engine ${e}s, C read loop ${l}s (time in STOP_COPY ${sc}s), engine/readloop ratio ${ratio} (median of ${ROUNDS})"
printf '{"bench":"vm-save","mib":%s,"state_bytes":%s,"rounds":%s,"engine_s":%s,"readloop_s":%s,"readloop_stop_copy_s":%s,"ratio":%s}\n' \
  "$MIB" "$bytes" "$ROUNDS" "$e" "$l" "$sc" "$ratio" >"$VMTEST_RES/bench-vm-save.json"
rm -f /tmp/bench.raw /tmp/bench.vfm
