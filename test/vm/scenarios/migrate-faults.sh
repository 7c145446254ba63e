# Fault matrix for the new knobs (issue 10): a destination write failing mid-stream (the hang
# once seen on the real kernel), stalled reads/writes under --timeout, each against run, save
# and load. Every case must end by itself with its documented exit code, the source RUNNING
# with its memory intact, the destination reset, no partial file, nothing in ERROR.
# Together with cli-migrate-faults.sh (the same faults against run) this is the matrix: each
# arc failing, ERROR on an arc, a source read failing after N bytes, a destination write failing
# after N bytes, a stalled read/write, data refused at RESUMING -> STOP; one CASE line each
# (arc failures against save and load, and a stalled load: migrate-faults-arcs.sh).
need_cli
need_engine
s=$(mk gfx-4GB); d=$(mk gfx-4GB)
check "fill source" vmtest fill "$s" 121
n=0
mcase "run: destination write fails after 1 MiB" 3 "fault_dev=$d fail_write_after=1048576" -- \
  migrate run --source "$s" --dest "$d" --precopy-rounds 0
jcheck "run: the destination's write error is the one reported" /tmp/mf1.json 'JSON.stringify(r.error).includes("EIO") && !JSON.stringify(r.error.message).includes("CANCELLED")'
mcase "run: destination writes stall 4 s, --timeout 1500" 3 "fault_dev=$d stall_write_ms=4000" -- \
  migrate run --source "$s" --dest "$d" --precopy-rounds 0 --timeout 1500
jcheck "run: TIMEOUT reported" /tmp/mf2.json 'JSON.stringify(r.error).includes("--timeout 1500")'
mcase "run: source reads stall 4 s, --timeout 1500" 3 "fault_dev=$s stall_read_ms=4000" -- \
  migrate run --source "$s" --dest "$d" --precopy-rounds 0 --timeout 1500
mcase "save: source read fails after 1 MiB" 3 "fault_dev=$s fail_read_after=1048576" -- \
  migrate save "$s" --out /tmp/mf.vfm --final-state stop
expect_eq "save: no file, no partial file" "$(ls /tmp/mf.vfm* 2>/dev/null | wc -l)" 0
mcase "save: source reads stall 4 s, --timeout 1500" 3 "fault_dev=$s stall_read_ms=4000" -- \
  migrate save "$s" --out /tmp/mf.vfm --final-state stop --timeout 1500
expect_eq "save (timeout): no file, no partial file" "$(ls /tmp/mf.vfm* 2>/dev/null | wc -l)" 0
cli /tmp/mf-good.json migrate save "$s" --out /tmp/good.vfm --final-state running --json
expect_eq "a good snapshot save: exit" "$CLI_RC" 0
jcheck "snapshot: the source reads back RUNNING" /tmp/mf-good.json 'r.result.final_state === "RUNNING"'
mcase "load: destination write fails after 1 MiB" 3 "fault_dev=$d fail_write_after=1048576" -- \
  migrate load "$d" --in /tmp/good.vfm
mcase "load: data refused at RESUMING -> STOP" 3 "fault_dev=$d reject_load=1" -- \
  migrate load "$d" --in /tmp/good.vfm
check "source memory intact after every case" vmtest check "$s" 121
cli /tmp/mf-ok.json migrate run --source "$s" --dest "$d" --json
expect_eq "no fault: migrate run exit" "$CLI_RC" 0
check "destination holds the source's memory" vmtest check "$d" 121
rm -f /tmp/good.vfm
