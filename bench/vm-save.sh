# In-guest benchmark (run by test/vm/run.sh bench/vm-save; POSIX sh, sourced by the VM runner):
# saving a 256 MiB reference device to a file with the project's engine vs a minimal C
# read() loop (test/vm/tools/vmtest.c `save`: 1 MiB read()/write() on the same data_fd).
# Both run as a fresh process (open, RUNNING -> STOP_COPY, read to EOF into /tmp, fsync,
# STOP); 3 alternating rounds each, medians reported. Also `vfio-mig migrate save`, for the
# time the device spends in STOP_COPY as the CLI reports it (node's start-up under TCG, several
# seconds, is not device time). TCG guest: absolute numbers are slow; the ratios are the point.
need_engine
MIB=${VMBENCH_MIB:-256}
ROUNDS=${VMBENCH_ROUNDS:-3}
a=$(mk gfx-4GB)
expect_eq "memory=$MIB" "$(wr $(mig $a memory) $MIB)" OK
check "fill" vmtest fill "$a" 91
now() { cut -d' ' -f1 /proc/uptime; }
: >/tmp/bench.engine; : >/tmp/bench.loop; : >/tmp/bench.sc; : >/tmp/bench.clisc
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
  rm -f /tmp/bench.cli.vfm
  $CLI migrate save "$a" --out /tmp/bench.cli.vfm --final-state stop --json >/tmp/bench.cli.json || { cat /tmp/bench.cli.json; fail "migrate save failed"; }
  tail -1 /tmp/bench.cli.json | sed -n 's/.*"stop_copy_ms":\([0-9]*\).*/\1/p' | awk '{print $1/1000}' >>/tmp/bench.clisc
  rm -f /tmp/bench.cli.vfm
  echo "round $i: engine $(tail -1 /tmp/bench.engine)s, read loop $(tail -1 /tmp/bench.loop)s ($(cat /tmp/bench.loopout)), migrate save in STOP_COPY $(tail -1 /tmp/bench.clisc)s"
done
med() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
e=$(med /tmp/bench.engine); l=$(med /tmp/bench.loop); sc=$(med /tmp/bench.sc); clisc=$(med /tmp/bench.clisc)
# Throughput ratios: above 1 means faster than the read loop (goal: at least 0.9).
ratio=$(awk -v e="$e" -v l="$l" 'BEGIN{printf "%.2f", l/e}')
sc_ratio=$(awk -v c="$clisc" -v l="$sc" 'BEGIN{printf "%.2f", l/c}')
bytes=$(stat -c %s /tmp/bench.raw)
echo "vm-save: ${MIB} MiB device, state ${bytes} bytes (median of ${ROUNDS}):"
echo "  whole process: engine ${e}s, C read loop ${l}s: engine throughput ${ratio}x the read loop's (goal >= 0.9x)"
echo "  time in STOP_COPY: migrate save ${clisc}s, C read loop ${sc}s: ${sc_ratio}x"
printf '{"bench":"vm-save","mib":%s,"state_bytes":%s,"rounds":%s,"engine_s":%s,"readloop_s":%s,"throughput_ratio":%s,"migrate_save_stop_copy_s":%s,"readloop_stop_copy_s":%s,"stop_copy_ratio":%s}\n' \
  "$MIB" "$bytes" "$ROUNDS" "$e" "$l" "$ratio" "$clisc" "$sc" "$sc_ratio" >"$VMTEST_RES/bench-vm-save.json"
rm -f /tmp/bench.raw /tmp/bench.vfm
