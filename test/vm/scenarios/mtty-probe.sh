# vmtest-needs: mtty
# vfio-mig probe on the kernel's own mtty sample: compatible mtty-2 -> mtty-2, not compatible
# mtty-2 -> mtty-1 with mtty's own errno (EFAULT: write() refuses the header's port count),
# through a scratch mdev created and removed, through a probe file, and onto a free device. The
# source is only ever RUNNING or PRE_COPY (the states the probe read back after each step: the
# engine holds the device, so nothing else can read them meanwhile) and keeps its registers.
need_cli
need_engine
need_mtty
s=$(mk_mtty mtty-2)
mtty_scratch_set "$s" 0 11; mtty_scratch_set "$s" 1 22
ls /sys/bus/mdev/devices | sort >/tmp/mdevs.before

cli /tmp/m1.json probe --source "$s" --dest mtty-2 --json
expect_eq "mtty-2 -> mtty-2: exit" "$CLI_RC" 0
jcheck "compatible, judged by mtty itself" /tmp/m1.json 'r.result.verdict.compatible === true && r.result.verdict.basis.kind === "driver" && r.result.verdict.reasons.length === 0'
jcheck "the 24-byte header was the initial bytes, read whole" /tmp/m1.json 'r.result.capture.initial_bytes === 24 && r.result.capture.bytes === 24 && !r.result.capture.truncated && r.result.verdict.bytes_accepted === 24'
jcheck "source read back RUNNING, PRE_COPY, RUNNING: never stopped" /tmp/m1.json 'deq(r.result.capture.source_states, ["RUNNING", "PRE_COPY", "RUNNING"])'
jcheck "scratch mtty-2 created, reset, removed" /tmp/m1.json 'r.result.verdict.scratch.created && r.result.verdict.scratch.removed && r.result.verdict.scratch.final_state === "RUNNING" && r.result.verdict.destination.type_id === "mtty-2"'
expect_eq "no mdev left after the compatible probe" "$(ls /sys/bus/mdev/devices | sort | tr '\n' ' ')" "$(tr '\n' ' ' </tmp/mdevs.before)"

cli /tmp/m2.json probe --source "$s" --dest mtty-1 --json
expect_eq "mtty-2 -> mtty-1: exit" "$CLI_RC" 1
jcheck "not compatible, with mtty's errno EFAULT" /tmp/m2.json 'r.status === "no" && r.result.verdict.reasons[0].code === "DRIVER_REFUSED" && r.result.verdict.reasons[0].errno_name === "EFAULT" && r.result.verdict.reasons[0].errno === 14'
jcheck "scratch mtty-1 reset and removed after the refusal" /tmp/m2.json 'r.result.verdict.scratch.created && r.result.verdict.scratch.removed && r.result.verdict.scratch.final_state === "RUNNING"'
jcheck "source read back RUNNING, PRE_COPY, RUNNING" /tmp/m2.json 'deq(r.result.capture.source_states, ["RUNNING", "PRE_COPY", "RUNNING"])'
expect_eq "no mdev left after the refused probe" "$(ls /sys/bus/mdev/devices | sort | tr '\n' ' ')" "$(tr '\n' ' ' </tmp/mdevs.before)"

# Across hosts: a probe file made "on the source", judged "on the destination".
cli /tmp/m3.json probe --source "$s" --out /tmp/s.probe --json
expect_eq "probe file: exit" "$CLI_RC" 0
cli /tmp/m4.json probe --in /tmp/s.probe --dest mtty-1 --json
expect_eq "probe file into mtty-1: exit" "$CLI_RC" 1
jcheck "probe file into mtty-1: EFAULT" /tmp/m4.json 'r.result.verdict.reasons[0].errno_name === "EFAULT"'
d=$(mk_mtty mtty-2)
cli /tmp/m5.json probe --in /tmp/s.probe --dest "$d" --json
expect_eq "probe file onto a free mtty-2: exit" "$CLI_RC" 0
jcheck "free device: compatible, reset to RUNNING, not removed" /tmp/m5.json 'r.result.verdict.compatible && !r.result.verdict.scratch.created && r.result.verdict.scratch.final_state === "RUNNING"'

# Human output (the README shows it).
cli /tmp/m6.txt probe --source "$s" --dest mtty-2
cat /tmp/m6.txt
cli /tmp/m7.txt probe --source "$s" --dest mtty-1
expect_eq "human mtty-2 -> mtty-1: exit" "$CLI_RC" 1
cat /tmp/m7.txt

expect_eq "source port 0 scratch register kept" "$(mtty_scratch_get "$s" 0)" 11
expect_eq "source port 1 scratch register kept" "$(mtty_scratch_get "$s" 1)" 22
rm_mdev "$d"
expect_eq "no mdev left behind" "$(ls /sys/bus/mdev/devices | sort | tr '\n' ' ')" "$(tr '\n' ' ' </tmp/mdevs.before)"
