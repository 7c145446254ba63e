# vmtest-pair: 6.12->6.1
# vmtest-needs: migrate-send
# An incompatible destination (8 MiB of device memory for the source's 4) whose driver checks
# the state as it arrives (reference driver knob check_on_write, as mtty and hisi_acc do):
# the receiver, told to leave the decision to the driver (--trust-driver), gets the refusal
# on the PRE_COPY initial bytes, so it never acknowledges them; the source never leaves
# PRE_COPY for STOP_COPY and goes back to RUNNING, memory intact; the destination is reset;
# both report the same exit code.
SEED=4801

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  pair_say dev "$a"
  pair_hear armed >/dev/null
  cli /tmp/send.json migrate send "$a" --to "$CHAN" --precopy-rounds 2 --max-downtime 0 --json
  pair_say rc "$CLI_RC"
  rrc=$(pair_hear rc)
  expect_eq "send and receive exit the same" "$CLI_RC" "$rrc"
  [ "$CLI_RC" != 0 ] || fail "send: exit 0 into an incompatible destination"
  expect_eq "source RUNNING" "$(state "$a")" RUNNING
  jcheck "the source was refused in PRE_COPY, never stopped (its recovery: PRE_COPY -> RUNNING)" /tmp/send.json \
    'r.error.details.recoveries.some(x => x.role === "source" && x.actions.includes("PRE_COPY -> RUNNING")) && !JSON.stringify(r).includes("STOP_COPY")'
  jcheck "the destination driver refused the data as it arrived" /tmp/send.json 'r.error.details.cause.includes("destination") && r.error.details.cause.includes("Invalid argument")'
  source_intact /tmp/send.json "$a" $SEED
}

pair_destination() {
  remote_part
  b=$(mk gfx-4GB)
  expect_eq "memory=8 (the source has 4)" "$(wr "$(mig "$b" memory)" 8)" OK
  arm "fault_dev=$b" check_on_write=1
  pair_swap "$b" >/dev/null
  pair_say armed
  cli /tmp/recv.json migrate receive "$b" --from "$CHAN" --trust-driver --json
  pair_say rc "$CLI_RC"
  [ "$CLI_RC" != 0 ] || fail "receive: exit 0 with an incompatible device"
  expect_eq "send on the other guest: exit the same" "$(pair_hear rc)" "$CLI_RC"
  expect_eq "destination RUNNING" "$(state "$b")" RUNNING
  dest_reset /tmp/recv.json
}
