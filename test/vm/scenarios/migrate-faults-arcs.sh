# Fault matrix, continued (issue 10): arc failures and ERROR arcs against save and load, a
# stalled load. Split from migrate-faults.sh to keep each scenario short.
# Every case ends by itself with its exit code, the source RUNNING with its memory intact, the
# destination reset, no file left; one CASE line each.
need_cli
need_engine
s=$(mk gfx-4GB); d=$(mk gfx-4GB)
check "fill source" vmtest fill "$s" 121
n=0
mcase "save: source arc STOP->STOP_COPY fails (ESTALE)" 3 "fault_dev=$s fail_arc_from=1 fail_arc_to=3 fail_arc_errno=116" -- \
  migrate save "$s" --out /tmp/mf.vfm --final-state stop
mcase "save: source arc RUNNING_P2P->STOP goes to ERROR" 4 "fault_dev=$s error_arc_from=5 error_arc_to=1" -- \
  migrate save "$s" --out /tmp/mf.vfm --final-state stop
expect_eq "save (arcs): no file, no partial file" "$(ls /tmp/mf.vfm* 2>/dev/null | wc -l)" 0
check "source memory intact after a reset from ERROR (the reset keeps device memory)" vmtest check "$s" 121
cli /tmp/mf-good.json migrate save "$s" --out /tmp/good.vfm --final-state running --json
expect_eq "a good snapshot save: exit" "$CLI_RC" 0
mcase "load: destination arc STOP->RESUMING fails (EIO)" 3 "fault_dev=$d fail_arc_from=1 fail_arc_to=4" -- \
  migrate load "$d" --in /tmp/good.vfm
mcase "load: destination arc RESUMING->STOP goes to ERROR" 4 "fault_dev=$d error_arc_from=4 error_arc_to=1" -- \
  migrate load "$d" --in /tmp/good.vfm
# A stalled write with no deadline (load has no --timeout): every write sleeps, the load still
# ends by itself (a signal ends it sooner: migrate-signals.sh).
disarm; arm faults_fired=0 fault_dev=$d stall_write_ms=300
t0=$(date +%s%N)
cli /tmp/mf-stall-load.json migrate load "$d" --in /tmp/good.vfm --json
t1=$(date +%s%N)
echo "CASE load: destination writes stall 300 ms each: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
check "load (stall): the stall fired" test "$(cat $VMREF_PARAMS/faults_fired)" -ge 1
disarm
expect_eq "load (stall): exit" "$CLI_RC" 0
check "load (stall): the destination holds the saved memory" vmtest check "$d" 121
check "source memory intact after every case" vmtest check "$s" 121
rm -f /tmp/good.vfm
