# vmtest-pair: 6.1->6.12 6.12->6.1
# vmtest-needs: migrate-send
# Live migration with PRE_COPY rounds between the two guests (6.1's PRE_COPY is the reference
# driver's own table, 6.12's the kernel core's): the rounds' bytes written to the destination
# and acknowledged before the source stops (switchover ack), 4 MiB compared on the destination.
SEED=4401

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  pair_swap "$a" >/dev/null
  cli /tmp/send.json migrate send "$a" --to "$CHAN" --precopy-rounds 3 --max-downtime 0 --json
  pair_say rc "$CLI_RC"
  expect_eq "send with PRE_COPY rounds: exit" "$CLI_RC" 0
  expect_eq "receive on the other guest: exit" "$(pair_hear rc)" 0
  jcheck "PRE_COPY rounds ran, the destination acknowledged them before the stop" /tmp/send.json \
    'r.status === "ok" && r.result.precopy_rounds.length >= 1 && r.result.precopy_rounds[0].bytes > 0 && r.result.ack_ms >= 0 && r.result.source_state === "STOP" && r.result.dest_state === "RUNNING"'
  jcheck "the source went RUNNING -> PRE_COPY before STOP_COPY" /tmp/send.json \
    'r.events.filter(e => e.event === "step").map(e => e.to).join().includes("PRE_COPY")'
}

pair_destination() {
  remote_part
  b=$(mk_filled 1)
  pair_swap "$b" >/dev/null
  cli /tmp/recv.json migrate receive "$b" --from "$CHAN" --json
  pair_say rc "$CLI_RC"
  expect_eq "receive: exit" "$CLI_RC" 0
  expect_eq "send on the other guest: exit" "$(pair_hear rc)" 0
  check "the destination holds the source's 4 MiB" vmtest check "$b" $SEED
  jcheck "the destination wrote PRE_COPY bytes before the stop" /tmp/recv.json \
    'r.status === "ok" && r.result.final_state === "RUNNING" && r.result.precopy_bytes > 0 && r.result.precopy_bytes <= r.result.payload_bytes'
}
