# vmtest-pair: 6.12->6.1
# vmtest-needs: migrate-send
# The channel cut in the middle of STOP_COPY: the source's reads are slowed (stall_read_ms)
# so STOP_COPY lasts seconds; once the source is in STOP_COPY the host breaks the connection
# of the UNIX socket joining the two ports (sockcut). The source goes back to RUNNING with its
# memory intact, the destination is reset, both exit 3.
SEED=4601

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  arm "fault_dev=$a" stall_read_ms=700
  pair_swap "$a" >/dev/null
  stamp "+ vfio-mig migrate send $a --to $CHAN --precopy-rounds 0 --json &"
  $CLI migrate send "$a" --to "$CHAN" --precopy-rounds 0 --json >/tmp/send.json & sp=$!
  wait_state "$a" STOP_COPY 90 $sp /tmp/send.json
  stamp "the source is in STOP_COPY: cut"
  pair_cut
  wait $sp; rc=$?
  stamp "send exited $rc"
  pair_say rc "$rc"
  expect_eq "send: exit" "$rc" 3
  expect_eq "receive on the other guest: exit" "$(pair_hear rc)" 3
  expect_eq "source RUNNING" "$(state "$a")" RUNNING
  source_intact /tmp/send.json "$a" $SEED
}

pair_destination() {
  remote_part
  b=$(mk_filled 1)
  pair_swap "$b" >/dev/null
  cli /tmp/recv.json migrate receive "$b" --from "$CHAN" --json
  stamp "receive exited $CLI_RC"
  pair_say rc "$CLI_RC"
  expect_eq "receive: exit" "$CLI_RC" 3
  expect_eq "send on the other guest: exit" "$(pair_hear rc)" 3
  expect_eq "destination RUNNING" "$(state "$b")" RUNNING
  dest_reset /tmp/recv.json
}
