# vmtest-pair: 6.1->6.12 6.12->6.1
# vmtest-needs: migrate-send
# Live migration between the two guests (upgrade and downgrade) with migrate send / migrate
# receive over the virtio-serial port (dev:/dev/virtio-ports/vfio-mig.0 on each side, both
# directions of the one channel), no PRE_COPY: 4 MiB of device memory compared on the
# destination; the source reports itself STOP and the destination RUNNING, both exit 0.
SEED=4301

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  b=$(pair_swap "$a")
  cli /tmp/send.json migrate send "$a" --to "$CHAN" --precopy-rounds 0 --json
  pair_say rc "$CLI_RC"
  expect_eq "send: exit" "$CLI_RC" 0
  expect_eq "receive on the other guest: exit" "$(pair_hear rc)" 0
  jcheck "send: source STOP, destination RUNNING, no PRE_COPY, the destination device named" /tmp/send.json \
    'r.status === "ok" && r.result.source_state === "STOP" && r.result.dest_state === "RUNNING" && r.result.precopy_rounds.length === 0 && r.result.dest.device === "'"$b"'"'
}

pair_destination() {
  remote_part
  b=$(mk_filled 1)
  a=$(pair_swap "$b")
  cli /tmp/recv.json migrate receive "$b" --from "$CHAN" --json
  pair_say rc "$CLI_RC"
  expect_eq "receive: exit" "$CLI_RC" 0
  expect_eq "send on the other guest: exit" "$(pair_hear rc)" 0
  check "the destination holds the source's 4 MiB" vmtest check "$b" $SEED
  jcheck "receive: RUNNING, the source device named" /tmp/recv.json \
    'r.status === "ok" && r.result.final_state === "RUNNING" && r.result.source.device === "'"$a"'"'
}
