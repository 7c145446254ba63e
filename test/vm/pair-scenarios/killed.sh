# vmtest-pair: 6.1->6.12
# vmtest-needs: migrate-send
# The destination killed (SIGKILL of migrate receive) while the source is in STOP_COPY (its
# reads slowed by stall_read_ms): the destination device ends RUNNING (closed, hence reset),
# the source hears nothing more and after --peer-timeout goes back to RUNNING, memory intact.
SEED=4701

pair_source() {
  remote_part
  a=$(mk_filled $SEED)
  arm "fault_dev=$a" stall_read_ms=700
  pair_swap "$a" >/dev/null
  stamp "+ vfio-mig migrate send $a --to $CHAN --precopy-rounds 0 --peer-timeout 8000 --json &"
  $CLI migrate send "$a" --to "$CHAN" --precopy-rounds 0 --peer-timeout 8000 --json >/tmp/send.json & sp=$!
  wait_state "$a" STOP_COPY 90 $sp /tmp/send.json
  stamp "the source is in STOP_COPY"
  pair_say stopcopy
  wait $sp; rc=$?
  stamp "send exited $rc"
  expect_eq "send: exit" "$rc" 3
  expect_eq "source RUNNING" "$(state "$a")" RUNNING
  source_intact /tmp/send.json "$a" $SEED
}

pair_destination() {
  remote_part
  b=$(mk_filled 1)
  pair_swap "$b" >/dev/null
  stamp "+ vfio-mig migrate receive $b --from $CHAN --json &"
  $CLI migrate receive "$b" --from "$CHAN" --json >/tmp/recv.json & rp=$!
  _end=$(($(uptime_s) + 120))
  while [ ! -e "$PAIR_SYNC/$PAIR_ID.source.stopcopy" ]; do
    kill -0 $rp 2>/dev/null || { cat /tmp/recv.json; fail "receive ended before the source was in STOP_COPY"; }
    [ "$(uptime_s)" -lt $_end ] || fail "the source never said it is in STOP_COPY"
    sleep 0.2
  done
  expect_eq "destination RESUMING while the source is in STOP_COPY" "$(state "$b")" RESUMING
  kill -KILL $rp
  wait $rp
  stamp "receive killed"
  wait_state "$b" RUNNING 30
  pass "destination RUNNING after its receiver was killed"
  n=0
  while pgrep -x vfio-mig-engine >/dev/null && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
  check "no engine left behind" sh -c '! pgrep -x vfio-mig-engine'
}
