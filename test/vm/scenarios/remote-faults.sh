# vfio-mig migrate send / receive when things go wrong (two processes in one guest standing for
# two hosts, over UNIX sockets): the destination refusing the data at RESUMING -> STOP; an
# incompatible destination refused by vfio-mig before anything moved, and by its driver at the
# PRE_COPY acknowledgment (before the source stopped); the channel cut in the middle of
# STOP_COPY; the destination killed; SIGTERM to the sender. Every time: the source RUNNING with
# its memory intact, the destination reset (RUNNING), and both ends report the same outcome.
need_cli
need_engine
t0=$(date +%s.%N)
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
expect_eq "memory=16 on both" "$(wr $(mig $a memory) 16)$(wr $(mig $b memory) 16)" OKOK
check "fill a" vmtest fill "$a" 131
# receiver N ARGS...: start `migrate receive` listening on /tmp/r.sock, report in /tmp/recvN.json
receiver() { _n=$1; shift; rm -f /tmp/r.sock; $CLI migrate receive "$@" --from unix-listen:/tmp/r.sock --json >/tmp/recv$_n.json & rp=$!; wait_sock /tmp/r.sock || fail "receiver $_n not listening"; }
# same_outcome N: both reports carry the same exit code, error code and cause code
same_outcome() {
  jcheck "$1: the receiver reports the sender's outcome" /tmp/recv$2.json \
    '(s => r.exitCode === s.exitCode && r.error.code === s.error.code && (r.error.details || {}).cause_code === (s.error.details || {}).cause_code)(json("/tmp/send'$2'.json"))'
}
source_fine() {
  expect_eq "$1: source RUNNING" "$(state $a)" RUNNING
  check "$1: source memory intact" vmtest check "$a" 131
  expect_eq "$1: destination RUNNING (reset)" "$(state $b)" RUNNING
}

# 1. The destination driver refuses the data at RESUMING -> STOP (after the last byte).
arm fault_dev="$b" reject_load=1 faults_fired=0
receiver 1 "$b"
cli /tmp/send1.json migrate send "$a" --to unix:/tmp/r.sock --precopy-rounds 0 --json
wait $rp; rrc=$?
expect_eq "refused at RESUMING -> STOP: send exit" "$CLI_RC" 3
expect_eq "refused at RESUMING -> STOP: receive exit" "$rrc" 3
expect_eq "the fault fired" "$(cat $VMREF_PARAMS/faults_fired)" 1
source_fine "refused at RESUMING -> STOP"
same_outcome "refused at RESUMING -> STOP" 1
jcheck "the sender names the destination's refusal and both recoveries" /tmp/send1.json \
  'r.error.details.cause_code === "ARC_FAILED" && r.error.message.includes("RESUMING -> STOP") && r.error.details.recoveries.length === 2'
disarm

# 2. Incompatible destination (queues 1 vs 2): vfio-mig refuses the header (not prepared for
# it), nothing moves.
expect_eq "b queues=2" "$(wr $(mig $b queues) 2)" OK
receiver 2 "$b"
cli /tmp/send2.json migrate send "$a" --to unix:/tmp/r.sock --json
wait $rp; rrc=$?
expect_eq "not compatible: send exit" "$CLI_RC" 1
expect_eq "not compatible: receive exit" "$rrc" 1
jcheck "not compatible: both refuse it the same way (NOT_PREPARED)" /tmp/send2.json 'r.error.code === "NOT_PREPARED" && json("/tmp/recv2.json").error.code === "NOT_PREPARED"'
source_fine "not compatible"

# 3. The same, left to the driver (--trust-driver), which checks the header on write: refused
# at the PRE_COPY acknowledgment; the source never left RUNNING/PRE_COPY.
arm check_on_write=1
( while [ ! -e /tmp/sent3 ]; do state "$a"; sleep 0.02; done ) >/tmp/src3.states & poller=$!
receiver 3 "$b" --trust-driver
cli /tmp/send3.json migrate send "$a" --to unix:/tmp/r.sock --precopy-rounds 2 --json
wait $rp; rrc=$?
touch /tmp/sent3; wait $poller
expect_eq "refused at the PRE_COPY acknowledgment: send exit" "$CLI_RC" 3
expect_eq "refused at the PRE_COPY acknowledgment: receive exit" "$rrc" 3
expect_eq "source states seen while it ran" "$(sort -u /tmp/src3.states | tr '\n' ' ')" "PRE_COPY RUNNING "
source_fine "refused at the PRE_COPY acknowledgment"
same_outcome "refused at the PRE_COPY acknowledgment" 3
jcheck "the driver's EINVAL reached the sender" /tmp/send3.json 'JSON.stringify(r.error).includes("EINVAL")'
disarm
expect_eq "b queues=1" "$(wr $(mig $b queues) 1)" OK

# 4. The channel cut in the middle of STOP_COPY (a relay drops both links after 4 MiB).
receiver 4 "$b"
rm -f /tmp/relay.sock
node "$VMTEST_REPO/test/vm/tools/cut-relay.mjs" /tmp/relay.sock /tmp/r.sock 4194304 & relay=$!
wait_sock /tmp/relay.sock || fail "relay not listening"
cli /tmp/send4.json migrate send "$a" --to unix:/tmp/relay.sock --precopy-rounds 0 --json
wait $rp; rrc=$?
wait $relay
expect_eq "channel cut: send exit" "$CLI_RC" 3
expect_eq "channel cut: receive exit" "$rrc" 3
jcheck "channel cut: both CHANNEL_LOST" /tmp/send4.json 'r.error.details.cause_code === "CHANNEL_LOST" && json("/tmp/recv4.json").error.details.cause_code === "CHANNEL_LOST"'
jcheck "channel cut: the sender was in STOP_COPY" /tmp/send4.json 'r.error.details.recoveries[0].actions[0].startsWith("STOP_COPY")'
source_fine "channel cut"

# 5. The destination killed (SIGKILL) while it loads (slowed by the driver) and the source is in STOP_COPY.
arm fault_dev="$b" stall_write_ms=300
receiver 5 "$b"
$CLI migrate send "$a" --to unix:/tmp/r.sock --precopy-rounds 0 --json >/tmp/send5.json & sp=$!
i=0; while [ "$(state $a)" != STOP_COPY ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
expect_eq "source in STOP_COPY" "$(state $a)" STOP_COPY
kill -9 $rp
wait $sp; src=$?
wait $rp
disarm
expect_eq "destination killed: send exit" "$src" 3
jcheck "destination killed: CHANNEL_LOST" /tmp/send5.json 'r.error.details.cause_code === "CHANNEL_LOST"'
i=0; while [ "$(state $b)" != RUNNING ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
source_fine "destination killed"

# 6. SIGTERM to the sender in STOP_COPY: both exit 143, devices back.
arm fault_dev="$b" stall_write_ms=300
receiver 6 "$b"
$CLI migrate send "$a" --to unix:/tmp/r.sock --precopy-rounds 0 --json >/tmp/send6.json & sp=$!
i=0; while [ "$(state $a)" != STOP_COPY ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $sp
wait $sp; src=$?
wait $rp; rrc=$?
disarm
expect_eq "SIGTERM to the sender: send exit" "$src" 143
expect_eq "SIGTERM to the sender: receive exit" "$rrc" 143
same_outcome "SIGTERM to the sender" 6
source_fine "SIGTERM to the sender"
echo "wall: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
