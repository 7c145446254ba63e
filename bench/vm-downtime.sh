# In-guest benchmark (run by test/vm/run.sh bench/vm-downtime; POSIX sh, sourced by the VM
# runner): the downtime of `migrate run` of a 256 MiB reference device whose guest dirties
# memory at a fixed rate (the driver's dirty_rate_kbps), side by side: straight to STOP_COPY
# (--precopy-rounds 0) against PRE_COPY rounds under --max-downtime. The figure is the time
# from STOP_COPY until the destination runs, as `migrate run` reports it (stop_copy_ms), and
# the downtime PRE_COPY expected at switch-over. Alternating rounds, medians. Goal: >= 5x.
need_cli
need_engine
MIB=${VMBENCH_MIB:-256}
ROUNDS=${VMBENCH_ROUNDS:-2}
RATE_KBPS=${VMBENCH_DIRTY_KBPS:-4096}
BUDGET=${VMBENCH_MAX_DOWNTIME:-300}
a=$(mk gfx-4GB); b=$(mk gfx-8GB)
expect_eq "memory=$MIB on both" "$(wr $(mig $a memory) $MIB)$(wr $(mig $b memory) $MIB)" OKOK
check "fill" vmtest fill "$a" 95
arm dirty_rate_kbps="$RATE_KBPS" fault_dev="$a"
: >/tmp/bd.none; : >/tmp/bd.pre
i=0
# one_run OUT ARGS...: a migration a -> b, then a resumed for the next one
one_run() {
  _o="$1"; shift
  $CLI migrate run --source "$a" --dest "$b" "$@" --json >"$_o" || { cat "$_o"; fail "migrate run $* failed"; }
  # Back to the start: the source resumed (the destination runs and is taken over again).
  $CLI migrate state "$a" --set running >/dev/null || fail "resume a"
}
while [ $i -lt "$ROUNDS" ]; do
  i=$((i + 1))
  one_run /tmp/bd-none.json --precopy-rounds 0
  tail -1 /tmp/bd-none.json | sed -n 's/.*"stop_copy_ms":\([0-9]*\).*/\1/p' >>/tmp/bd.none
  one_run /tmp/bd-pre.json --max-downtime "$BUDGET"
  tail -1 /tmp/bd-pre.json | sed -n 's/.*"stop_copy_ms":\([0-9]*\).*/\1/p' >>/tmp/bd.pre
  pre_info=$(tail -1 /tmp/bd-pre.json | sed -n 's/.*"precopy":\({[^}]*}\).*/\1/p')
  echo "round $i: no PRE_COPY $(tail -1 /tmp/bd.none) ms; PRE_COPY under ${BUDGET} ms: $(tail -1 /tmp/bd.pre) ms, $(grep -o '"round":' /tmp/bd-pre.json | wc -l) rounds, $pre_info"
done
disarm
med() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
none=$(med /tmp/bd.none); pre=$(med /tmp/bd.pre)
ratio=$(awk -v n="$none" -v p="$pre" 'BEGIN{printf "%.1f", n/(p>0?p:1)}')
echo "vm-downtime: ${MIB} MiB device dirtying ${RATE_KBPS} KiB/s (median of ${ROUNDS}):"
echo "  stop-copy until the destination runs: without PRE_COPY ${none} ms, PRE_COPY under --max-downtime ${BUDGET}: ${pre} ms: ${ratio}x shorter (goal >= 5x)"
printf '{"bench":"vm-downtime","mib":%s,"dirty_kbps":%s,"rounds":%s,"max_downtime_ms":%s,"no_precopy_ms":%s,"precopy_ms":%s,"ratio":%s}\n' \
  "$MIB" "$RATE_KBPS" "$ROUNDS" "$BUDGET" "$none" "$pre" "$ratio" >"$VMTEST_RES/bench-vm-downtime.json"
