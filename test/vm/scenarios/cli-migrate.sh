# vfio-mig migrate caps/save/load/verify/run against the real driver: 4 KiB and 256 MiB
# round trips with memory compared, PRE_COPY rounds, a corrupted stream rejected.
need_cli
need_engine
n1=$(mk nic); n2=$(mk nic)
cli /tmp/caps.json migrate caps "$n1" --json
jcheck "caps: STOP_COPY|P2P|PRE_COPY, RUNNING" /tmp/caps.json \
  'JSON.stringify(r.result).includes("PRE_COPY") && JSON.stringify(r.result).includes("P2P") && JSON.stringify(r.result).includes("RUNNING")'
check "fill nic 1 (4 KiB)" vmtest fill "$n1" 101
cli /tmp/save-n.json migrate save "$n1" --out /tmp/n.vfm --final-state stop --json
expect_eq "save 4 KiB: exit" "$CLI_RC" 0
cli /tmp/load-n.json migrate load "$n2" --in /tmp/n.vfm --json
expect_eq "load 4 KiB: exit" "$CLI_RC" 0
check "nic 2 holds nic 1's 4 KiB" vmtest check "$n2" 101
expect_eq "source left in STOP by save is RUNNING again once closed" "$(state $n1)" RUNNING

a=$(mk gfx-4GB); b=$(mk gfx-8GB)
expect_eq "memory=256 on both" "$(wr $(mig $a memory) 256)$(wr $(mig $b memory) 256)" OKOK
check "fill a (256 MiB)" vmtest fill "$a" 102
cli /tmp/save-a.json migrate save "$a" --out /tmp/a.vfm --final-state stop --precopy-rounds 2 --json
expect_eq "save 256 MiB with 2 PRE_COPY rounds: exit" "$CLI_RC" 0
cli /tmp/verify.json migrate verify --in /tmp/a.vfm --json
expect_eq "verify: exit" "$CLI_RC" 0
cli /tmp/load-b.json migrate load "$b" --in /tmp/a.vfm --json
expect_eq "load 256 MiB into a gfx-8GB with the same parameters: exit" "$CLI_RC" 0
check "b holds a's 256 MiB" vmtest check "$b" 102
# corrupted stream: verify and load both refuse it; the destination is reset
size=$(stat -c %s /tmp/a.vfm)
printf '\377' | dd of=/tmp/a.vfm bs=1 seek=$((size / 2)) conv=notrunc status=none
cli /tmp/verify2.json migrate verify --in /tmp/a.vfm --json
expect_eq "verify of a corrupted stream: exit 3" "$CLI_RC" 3
check "fill b with another pattern" vmtest fill "$b" 103
cli /tmp/load-bad.json migrate load "$b" --in /tmp/a.vfm --json
expect_eq "load of a corrupted stream: exit 3" "$CLI_RC" 3
jcheck "load names the corruption and its byte" /tmp/load-bad.json 'JSON.stringify(r).includes("corrupt")'
expect_eq "destination RUNNING after the refused load" "$(state $b)" RUNNING
rm -f /tmp/a.vfm /tmp/n.vfm
# migrate run: live, through a pipe between two engines, with a PRE_COPY round (16 MiB)
expect_eq "memory=16 on both" "$(wr $(mig $a memory) 16)$(wr $(mig $b memory) 16)" OKOK
check "fill a" vmtest fill "$a" 104
cli /tmp/run.json migrate run --source "$a" --dest "$b" --precopy-rounds 1 --json
expect_eq "migrate run: exit" "$CLI_RC" 0
check "b holds a's memory after migrate run" vmtest check "$b" 104
jcheck "save: 1-2 PRE_COPY rounds (stops early once nothing is left), source left in STOP" /tmp/save-a.json 'r.result.precopy_rounds.length >= 1 && r.result.precopy_rounds.length <= 2 && r.result.final_state === "STOP"'
jcheck "save of the nic walked RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY" /tmp/save-n.json \
  'r.result.steps.slice(0, 3).map(s => s.to).join() === "RUNNING_P2P,STOP,STOP_COPY"'
jcheck "load ended RUNNING" /tmp/load-b.json 'r.result.final_state === "RUNNING"'
jcheck "migrate run: ok" /tmp/run.json 'r.status === "ok" && r.exitCode === 0'
