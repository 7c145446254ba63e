# vmtest-pair: 6.1->6.12
# vmtest-needs: migrate-send
# Two devices per guest, all or nothing, over the one virtio-serial channel (migrate send A1 A2 /
# migrate receive B1 B2, matched by position). First the two move with PRE_COPY rounds: each
# destination holds its own source's 4 MiB. Then two fresh sources into the same destinations,
# the second destination's driver refusing its data at RESUMING -> STOP: all four devices end
# RUNNING (sources recovered, destinations reset), both sources' memory intact, both ends exit 3
# naming all four devices.
SEED1=4901
SEED2=4902
SEED3=4903
SEED4=4904

pair_source() {
  remote_part
  a1=$(mk_filled $SEED1); a2=$(mk_filled $SEED2)
  set -- $(pair_swap "$a1 $a2")
  b1=$1; b2=$2
  cli /tmp/send1.json migrate send "$a1" "$a2" --to "$CHAN" --precopy-rounds 2 --max-downtime 0 --json
  pair_say rc1 "$CLI_RC"
  expect_eq "two devices: send exit" "$CLI_RC" 0
  expect_eq "two devices: receive on the other guest: exit" "$(pair_hear rc1)" 0
  jcheck "two devices: both sources STOP, both destinations RUNNING, matched by position" /tmp/send1.json \
    'r.status === "ok" && r.result.members.map(m => [m.device, m.dest.device, m.source_state, m.dest_state].join(" ")).join() === "'"$a1 $b1 STOP RUNNING,$a2 $b2 STOP RUNNING"'"'
  jcheck "two devices: every source PRE_COPY_P2P before any STOP_COPY" /tmp/send1.json \
    '(s => Math.max(...s.map((x, i) => x.to === "PRE_COPY_P2P" ? i : -1)) < s.findIndex(x => x.to === "STOP_COPY"))(r.result.steps)'

  a3=$(mk_filled $SEED3); a4=$(mk_filled $SEED4)
  pair_hear armed >/dev/null
  cli /tmp/send2.json migrate send "$a3" "$a4" --to "$CHAN" --precopy-rounds 0 --json
  pair_say rc2 "$CLI_RC"
  expect_eq "second destination refuses: send exit" "$CLI_RC" 3
  expect_eq "second destination refuses: receive on the other guest: exit" "$(pair_hear rc2)" 3
  expect_eq "both sources RUNNING" "$(state "$a3") $(state "$a4")" "RUNNING RUNNING"
  source_intact /tmp/send2.json "$a3" $SEED3
  source_intact /tmp/send2.json "$a4" $SEED4
  jcheck "second destination refuses: the sender names all four devices' outcomes" /tmp/send2.json \
    'r.error.details.recoveries.map(x => x.role + " " + x.device + " " + x.state).sort().join() === ["source '"$a3"' RUNNING", "source '"$a4"' RUNNING", "destination '"$b1"' RUNNING", "destination '"$b2"' RUNNING"].sort().join()'
}

pair_destination() {
  remote_part
  b1=$(mk_filled 1); b2=$(mk_filled 2)
  set -- $(pair_swap "$b1 $b2")
  a1=$1; a2=$2
  cli /tmp/recv1.json migrate receive "$b1" "$b2" --from "$CHAN" --json
  pair_say rc1 "$CLI_RC"
  expect_eq "two devices: receive exit" "$CLI_RC" 0
  expect_eq "two devices: send on the other guest: exit" "$(pair_hear rc1)" 0
  check "the first destination holds the first source's 4 MiB" vmtest check "$b1" $SEED1
  check "the second destination holds the second source's 4 MiB" vmtest check "$b2" $SEED2
  jcheck "two devices: both RUNNING, each naming its source" /tmp/recv1.json \
    'r.status === "ok" && r.result.members.map(m => [m.device, m.source.device, m.final_state].join(" ")).join() === "'"$b1 $a1 RUNNING,$b2 $a2 RUNNING"'" && r.result.members.every(m => m.precopy_bytes > 0)'

  arm "fault_dev=$b2" reject_load=1 faults_fired=0
  pair_say armed
  cli /tmp/recv2.json migrate receive "$b1" "$b2" --from "$CHAN" --json
  pair_say rc2 "$CLI_RC"
  expect_eq "second destination refuses: receive exit" "$CLI_RC" 3
  expect_eq "second destination refuses: send on the other guest: exit" "$(pair_hear rc2)" 3
  expect_eq "the fault fired" "$(cat "$VMREF_PARAMS/faults_fired")" 1
  expect_eq "both destinations RUNNING (reset)" "$(state "$b1") $(state "$b2")" "RUNNING RUNNING"
  jcheck "second destination refuses: the receiver names the driver's refusal and all four devices" /tmp/recv2.json \
    'r.error.details.cause_code === "ARC_FAILED" && JSON.stringify(r.error).includes("RESUMING -> STOP") && r.error.details.recoveries.length === 4 && r.error.details.recoveries.every(x => x.state === "RUNNING")'
}
