# vmtest-needs: mtty
# An mtty-2 state into an mtty-1: refused by the CLI's header check, and by the kernel driver
# itself when loaded raw (mtty fails the data_fd write); both devices work afterwards.
need_cli
need_engine
need_mtty
s=$(mk_mtty mtty-2); d=$(mk_mtty mtty-1)
mtty_scratch_set "$s" 0 11; mtty_scratch_set "$s" 1 22
mtty_scratch_set "$d" 0 33
cli /tmp/save.json migrate save "$s" --out /tmp/r.vfm --final-state stop --json
expect_eq "save mtty-2: exit" "$CLI_RC" 0
cli /tmp/load.json migrate load "$d" --in /tmp/r.vfm --json
expect_eq "load of an mtty-2 state into mtty-1: refused (exit 1-3)" "$([ "$CLI_RC" -ge 1 ] && [ "$CLI_RC" -le 3 ] && echo refused || echo "exit $CLI_RC")" refused
expect_eq "destination RUNNING after the refused load" "$(vstate $d)" RUNNING
expect_eq "destination register untouched" "$(mtty_scratch_get $d 0)" 33
cli /tmp/reset.json migrate state "$s" --reset --json
expect_eq "source RUNNING after its reset" "$(vstate $s)" RUNNING
# raw: no header, so the kernel driver is the one to refuse
cli /tmp/saveraw.json migrate save "$s" --raw --out /tmp/r.raw --final-state stop --json
expect_eq "raw save mtty-2: exit" "$CLI_RC" 0
cli /tmp/loadraw.json migrate load "$d" --raw --in /tmp/r.raw --json
expect_eq "raw load of an mtty-2 state into mtty-1: the driver refuses (exit 3)" "$CLI_RC" 3
expect_eq "destination RUNNING after the refused raw load" "$(vstate $d)" RUNNING
cli /tmp/reset2.json migrate state "$s" --reset --json
# both devices fine afterwards: each migrates to a device of its own type
s2=$(mk_mtty mtty-2); d2=$(mk_mtty mtty-1)
mtty_scratch_set "$s" 0 44; mtty_scratch_set "$s" 1 55
cli /tmp/run1.json migrate run --source "$s" --dest "$s2" --json
expect_eq "mtty-2 -> mtty-2 after the refusal: exit" "$CLI_RC" 0
expect_eq "mtty-2 destination registers" "$(mtty_scratch_get $s2 0),$(mtty_scratch_get $s2 1)" 44,55
mtty_scratch_set "$d" 0 66
cli /tmp/run2.json migrate run --source "$d" --dest "$d2" --json
expect_eq "mtty-1 -> mtty-1 after the refusal: exit" "$CLI_RC" 0
expect_eq "mtty-1 destination register" "$(mtty_scratch_get $d2 0)" 66
jcheck "the refused load says why" /tmp/load.json 'r.status !== "ok" && JSON.stringify(r).length > 20'
jcheck "the refused raw load is reported as a failure" /tmp/loadraw.json 'r.status !== "ok" && r.exitCode === 3'
rm -f /tmp/r.vfm /tmp/r.raw
