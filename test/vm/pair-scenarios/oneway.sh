# vmtest-pair: 6.1->6.12 6.12->6.1
# One way through the virtio-serial port with the one-way CLI: `migrate save --out -` into the
# port on the source guest (a hand-over: --final-state stop), `migrate load --in -` fed from
# the port on the destination guest; 4 MiB of the reference driver's device memory compared
# on the destination with the source's pattern. Each kernel's driver reads the stream the
# other kernel's driver wrote (upgrade and downgrade).
# The port has no end of stream (the source closing its end does not reach the other guest)
# and the load waits for one after the trailer: `vmtest copyn` ends its input once the byte
# count the source's save reported has passed.
SEED=4201

pair_source() {
  need_cli
  need_engine
  a=$(mk gfx-4GB)
  expect_eq "memory=4" "$(wr "$(mig "$a" memory)" 4)" OK
  check "fill 4 MiB" vmtest fill "$a" $SEED
  pair_hear ready >/dev/null
  stamp "+ vfio-mig migrate save $a --out - --final-state stop --json >$PAIR_PORT"
  $CLI migrate save "$a" --out - --final-state stop --json >"$PAIR_PORT" 2>/tmp/save.json
  rc=$?
  stamp "save done"
  # the destination's copyn waits for this count; a failed save tells it 0 (it then fails too)
  if [ "$rc" = 0 ]; then pair_say bytes "$(jget /tmp/save.json 'r.result.stream_bytes')"; else pair_say bytes 0; fi
  expect_eq "save into the port: exit" "$rc" 0
  expect_eq "the destination loaded it" "$(pair_hear loaded)" ok
  jcheck "save: the source left STOP (a hand-over)" /tmp/save.json 'r.result.final_state === "STOP"'
}

pair_destination() {
  need_cli
  need_engine
  b=$(mk gfx-8GB)
  expect_eq "memory=4" "$(wr "$(mig "$b" memory)" 4)" OK
  check "fill with another pattern" vmtest fill "$b" 1
  pair_say ready
  stamp "+ vmtest copyn $PAIR_PORT <bytes> | vfio-mig migrate load $b --in - --json"
  { vmtest copyn "$PAIR_PORT" "$PAIR_SYNC/$PAIR_ID.source.bytes" 120; echo $? >/tmp/copyn.rc; } |
    $CLI migrate load "$b" --in - --json >/tmp/load.json
  rc=$?
  stamp "load done"
  # the source waits for this answer: given before any check can end the part
  if [ "$rc" = 0 ] && vmtest check "$b" $SEED; then pair_say loaded ok; else pair_say loaded "failed (exit $rc)"; fi
  expect_eq "copyn: the source's byte count passed" "$(cat /tmp/copyn.rc)" 0
  expect_eq "load from the port: exit" "$rc" 0
  check "the destination holds the source's 4 MiB" vmtest check "$b" $SEED
  jcheck "load ended RUNNING" /tmp/load.json 'r.result.final_state === "RUNNING"'
}
