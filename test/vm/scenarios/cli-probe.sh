# vfio-mig probe on the reference driver (PRE_COPY offered by the driver itself, so 6.1 too):
# compatible gfx-4GB -> gfx-4GB through a scratch mdev created and removed, and through a probe
# file onto a free device; refused (EINVAL from write()) when the driver checks its header on
# write (check_on_write=1) and the parameters differ; the source never leaves RUNNING/PRE_COPY;
# no mdev is left behind.
need_cli
need_engine
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
check "fill source" vmtest fill "$a" 77
ls /sys/bus/mdev/devices | sort >/tmp/mdevs.before
# The driver's own view of the source, sampled while the probes run.
( while [ ! -e /tmp/probe.done ]; do state "$a"; sleep 0.05; done ) >/tmp/src.states &
poller=$!

cli /tmp/p1.json probe --source "$a" --dest vmref-gfx-4GB --json
expect_eq "same type through a scratch mdev: exit" "$CLI_RC" 0
jcheck "compatible, judged by the driver" /tmp/p1.json 'r.result.verdict.compatible === true && r.result.verdict.basis.kind === "driver" && r.result.verdict.reasons.length === 0'
jcheck "scratch mdev created, reset to RUNNING, removed" /tmp/p1.json 'r.result.verdict.scratch.created && r.result.verdict.scratch.removed && r.result.verdict.scratch.final_state === "RUNNING"'
jcheck "source states observed: RUNNING, PRE_COPY, RUNNING" /tmp/p1.json 'deq(r.result.capture.source_states, ["RUNNING", "PRE_COPY", "RUNNING"])'
jcheck "initial bytes (header + 4 MiB memory) capped at 64 KiB" /tmp/p1.json 'r.result.capture.truncated && r.result.capture.bytes === 65536 && r.result.capture.initial_bytes > 4194304'
expect_eq "mdevs after the type probe" "$(ls /sys/bus/mdev/devices | sort | tr '\n' ' ')" "$(tr '\n' ' ' </tmp/mdevs.before)"

cli /tmp/h0.txt probe --source "$a" --dest vmref-gfx-4GB
cat /tmp/h0.txt
cli /tmp/p2.txt probe --source "$a" --out /tmp/a.probe
expect_eq "probe file made on the source: exit" "$CLI_RC" 0
cat /tmp/p2.txt
cli /tmp/p3.json probe --in /tmp/a.probe --dest "$b" --json
expect_eq "probe file onto a free device with the same parameters: exit" "$CLI_RC" 0
jcheck "free device: compatible, not created, RUNNING after" /tmp/p3.json 'r.result.verdict.compatible && !r.result.verdict.scratch.created && r.result.verdict.scratch.final_state === "RUNNING"'
expect_eq "free device RUNNING after" "$(state $b)" RUNNING

# Parameters differ: the driver refuses the header; with check_on_write it says so in write().
expect_eq "b queues=2" "$(wr $(mig $b queues) 2)" OK
arm check_on_write=1
cli /tmp/p4.json probe --in /tmp/a.probe --dest "$b" --json
expect_eq "queues 1 vs 2, header checked on write: exit" "$CLI_RC" 1
jcheck "refused with the driver's errno EINVAL" /tmp/p4.json 'r.status === "no" && r.result.verdict.reasons[0].code === "DRIVER_REFUSED" && r.result.verdict.reasons[0].errno_name === "EINVAL" && r.result.verdict.reasons[0].errno === 22'
expect_eq "refused device RUNNING after the reset" "$(state $b)" RUNNING
cli /tmp/p5.json probe --in /tmp/a.probe --dest vmref-gfx-8GB --json
expect_eq "gfx-4GB state into a gfx-8GB scratch mdev: exit" "$CLI_RC" 1
jcheck "8GB scratch: refused, created and removed" /tmp/p5.json '!r.result.verdict.compatible && r.result.verdict.reasons[0].errno_name === "EINVAL" && r.result.verdict.scratch.created && r.result.verdict.scratch.removed'
# Human output (the README shows it).
cli /tmp/h1.txt probe --in /tmp/a.probe --dest "$b"
expect_eq "human, refused: exit" "$CLI_RC" 1
cat /tmp/h1.txt
disarm
# The documented limit: a driver that checks only on RESUMING -> STOP accepts every probe.
cli /tmp/p6.json probe --in /tmp/a.probe --dest "$b" --json
expect_eq "same mismatch, header checked only at STOP: the probe cannot see it (exit 0)" "$CLI_RC" 0

touch /tmp/probe.done; wait $poller
echo "source states sampled: $(sort /tmp/src.states | uniq -c | tr '\n' ' ')"
if grep -qv -e '^RUNNING$' -e '^PRE_COPY$' /tmp/src.states; then fail "the source was seen outside RUNNING/PRE_COPY"; else pass "the source was only ever RUNNING or PRE_COPY ($(wc -l </tmp/src.states) samples)"; fi
expect_eq "source RUNNING after every probe" "$(state $a)" RUNNING
check "source memory intact" vmtest check "$a" 77
expect_eq "no mdev left behind" "$(ls /sys/bus/mdev/devices | sort | tr '\n' ' ')" "$(tr '\n' ' ' </tmp/mdevs.before)"
