# vmtest-needs: mtty
# The CLI against the upstream mtty sample: migrate caps, a save/load round trip and a live
# migrate run with the UART scratch registers of both ports compared on the destination.
# mtty keeps its migration state across close (no reset on open): a save leaves the source
# STOP until something moves it; the scenario checks that and resets it with the CLI.
need_cli
need_engine
need_mtty
s=$(mk_mtty mtty-2); d=$(mk_mtty mtty-2)
cli /tmp/caps.json migrate caps "$s" --json
expect_eq "caps: exit" "$CLI_RC" 0
jcheck "caps: STOP_COPY, P2P and PRE_COPY, device RUNNING" /tmp/caps.json \
  '["STOP_COPY", "P2P", "PRE_COPY", "RUNNING"].every(w => JSON.stringify(r.result).includes(w))'
mtty_scratch_set "$s" 0 90; mtty_scratch_set "$s" 1 165
mtty_scratch_set "$d" 0 1; mtty_scratch_set "$d" 1 2
expect_eq "source scratch registers written" "$(mtty_scratch_get $s 0),$(mtty_scratch_get $s 1)" 90,165
cli /tmp/save.json migrate save "$s" --out /tmp/m.vfm --final-state stop --json
expect_eq "save: exit" "$CLI_RC" 0
expect_eq "mtty: the source stays STOP after the save (no reset on close)" "$(vstate $s)" STOP
cli /tmp/verify.json migrate verify --in /tmp/m.vfm --json
expect_eq "verify: exit" "$CLI_RC" 0
cli /tmp/load.json migrate load "$d" --in /tmp/m.vfm --json
expect_eq "load: exit" "$CLI_RC" 0
expect_eq "destination scratch registers (port 0, port 1) after the load" "$(mtty_scratch_get $d 0),$(mtty_scratch_get $d 1)" 90,165
expect_eq "destination RUNNING after the load" "$(vstate $d)" RUNNING
cli /tmp/reset.json migrate state "$s" --reset --json
expect_eq "migrate state --reset: exit" "$CLI_RC" 0
expect_eq "source RUNNING after the reset" "$(vstate $s)" RUNNING
# live: source RUNNING, both engines at once through a pipe
mtty_scratch_set "$s" 0 17; mtty_scratch_set "$s" 1 34
cli /tmp/run.json migrate run --source "$s" --dest "$d" --json
expect_eq "migrate run: exit" "$CLI_RC" 0
expect_eq "destination scratch registers after migrate run" "$(mtty_scratch_get $d 0),$(mtty_scratch_get $d 1)" 17,34
expect_eq "destination RUNNING after migrate run" "$(vstate $d)" RUNNING
jcheck "save: source left STOP" /tmp/save.json 'r.result.final_state === "STOP"'
jcheck "load ended RUNNING" /tmp/load.json 'r.result.final_state === "RUNNING"'
jcheck "migrate run: ok" /tmp/run.json 'r.status === "ok" && r.exitCode === 0'
rm -f /tmp/m.vfm
