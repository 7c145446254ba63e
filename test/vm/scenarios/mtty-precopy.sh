# vmtest-needs: mtty
# PRE_COPY on mtty through the kernel's own core (6.7+): save with PRE_COPY rounds (mtty's
# initial bytes are its header; it reports no dirty bytes), load, registers compared; and a
# live run with a PRE_COPY round.
need_cli
need_engine
need_mtty
s=$(mk_mtty mtty-2); d=$(mk_mtty mtty-2)
mtty_scratch_set "$s" 0 201; mtty_scratch_set "$s" 1 102
cli /tmp/save.json migrate save "$s" --out /tmp/p.vfm --final-state stop --precopy-rounds 3 --json
expect_eq "save --precopy-rounds 3: exit" "$CLI_RC" 0
jcheck "save: 1-3 PRE_COPY rounds recorded, source left STOP" /tmp/save.json \
  'r.result.precopy_rounds.length >= 1 && r.result.precopy_rounds.length <= 3 && r.result.final_state === "STOP"'
cli /tmp/load.json migrate load "$d" --in /tmp/p.vfm --json
expect_eq "load: exit" "$CLI_RC" 0
expect_eq "destination scratch registers after the PRE_COPY save/load" "$(mtty_scratch_get $d 0),$(mtty_scratch_get $d 1)" 201,102
cli /tmp/reset.json migrate state "$s" --reset --json
expect_eq "source RUNNING after the reset" "$(vstate $s)" RUNNING
mtty_scratch_set "$s" 0 55; mtty_scratch_set "$s" 1 66
cli /tmp/run.json migrate run --source "$s" --dest "$d" --precopy-rounds 1 --json
expect_eq "migrate run --precopy-rounds 1: exit" "$CLI_RC" 0
expect_eq "destination scratch registers after the live PRE_COPY run" "$(mtty_scratch_get $d 0),$(mtty_scratch_get $d 1)" 55,66
rm -f /tmp/p.vfm
