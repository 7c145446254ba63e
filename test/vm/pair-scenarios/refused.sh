# vmtest-pair: 6.1->6.12
# vmtest-needs: migrate-send
# The destination's driver refuses the data at RESUMING -> STOP (reference driver knob
# reject_load, after the last byte arrived): the source, which is in STOP_COPY by then, goes
# back to RUNNING with its memory intact; the destination is reset; both exit 3.
SEED=4501

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  pair_say dev "$a"
  pair_hear armed >/dev/null
  cli /tmp/send.json migrate send "$a" --to "$CHAN" --precopy-rounds 0 --json
  pair_say rc "$CLI_RC"
  expect_eq "send: exit" "$CLI_RC" 3
  expect_eq "receive on the other guest: exit" "$(pair_hear rc)" 3
  expect_eq "source RUNNING" "$(state "$a")" RUNNING
  jcheck "the source was in STOP_COPY when refused (the refusal came after the last byte)" /tmp/send.json \
    'r.error.details.recoveries.some(x => x.role === "source" && x.actions.includes("STOP_COPY -> RUNNING"))'
  source_intact /tmp/send.json "$a" $SEED
}

pair_destination() {
  remote_part
  b=$(mk_filled 1)
  arm "fault_dev=$b" reject_load=1
  pair_say armed
  cli /tmp/recv.json migrate receive "$b" --from "$CHAN" --json
  pair_say rc "$CLI_RC"
  expect_eq "receive: exit" "$CLI_RC" 3
  expect_eq "send on the other guest: exit" "$(pair_hear rc)" 3
  expect_eq "destination RUNNING" "$(state "$b")" RUNNING
  dest_reset /tmp/recv.json
  jcheck "the driver's refusal named (RESUMING -> STOP)" /tmp/recv.json 'JSON.stringify(r.error).includes("STOP")'
}
