# Several devices through one stream (issue 10 item 5): migrate save of two devices to one group
# stream, verify, load into two others (file and pipe); a failure on the second device of a
# group save or load unwinds both; a two-device stream into one destination is refused.
need_cli
need_engine
s1=$(mk gfx-4GB); s2=$(mk gfx-4GB); d1=$(mk gfx-4GB); d2=$(mk gfx-4GB)
n=0
# save/load of two devices through one stream (a group stream)
check "fill d1" vmtest fill "$d1" 144
check "fill d2" vmtest fill "$d2" 145
# gcase DESC WANT_EXIT KNOBS -- ARGS...: one group save/load, timed
gcase() {
  desc="$1"; want="$2"; knobs="$3"; shift 4
  n=$((n + 1))
  disarm; [ -n "$knobs" ] && arm faults_fired=0 $knobs
  t0=$(date +%s%N)
  cli "/tmp/mm$n.json" "$@" --json
  t1=$(date +%s%N)
  echo "CASE group $desc: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
  [ -n "$knobs" ] && check "$desc: the fault fired" test "$(cat $VMREF_PARAMS/faults_fired)" -ge 1
  disarm
  expect_eq "$desc: exit code" "$CLI_RC" "$want"
}
gcase "save of two devices to one stream" 0 "" -- migrate save "$d1" "$d2" --out /tmp/mm.vfm --final-state running
jcheck "group save: both devices, RUNNING again" "/tmp/mm$n.json" "deq(r.result.members.map(m => m.device + ':' + m.final_state), ['$d1:RUNNING', '$d2:RUNNING'])"
cli /tmp/mm-verify.json migrate verify --in /tmp/mm.vfm --json
expect_eq "verify of the group stream: exit" "$CLI_RC" 0
jcheck "verify: two members, in order" /tmp/mm-verify.json "deq(r.result.members.map(m => m.header.source.device), ['$d1', '$d2']) && r.result.header.group.count === 2"
cli /tmp/mm-one.json migrate load "$s1" --in /tmp/mm.vfm --json
expect_eq "a two-device stream into one destination: exit 2" "$CLI_RC" 2
gcase "load: the second destination rejects its data" 3 "fault_dev=$s2 reject_load=1" -- migrate load "$s1" "$s2" --in /tmp/mm.vfm
expect_eq "group load failed: both destinations reset (RUNNING)" "$(state $s1) $(state $s2)" "RUNNING RUNNING"
jcheck "group load failed: both destinations named" "/tmp/mm$n.json" "deq(r.error.details.recoveries.map(x => x.device + ':' + x.role), ['$s1:destination', '$s2:destination'])"
gcase "load: the second destination's write fails after 64 KiB" 3 "fault_dev=$s2 fail_write_after=65536" -- migrate load "$s1" "$s2" --in /tmp/mm.vfm
expect_eq "group load failed (write): both RUNNING" "$(state $s1) $(state $s2)" "RUNNING RUNNING"
gcase "load of two devices from one stream" 0 "" -- migrate load "$s1" "$s2" --in /tmp/mm.vfm
check "s1 holds d1's memory" vmtest check "$s1" 144
check "s2 holds d2's memory" vmtest check "$s2" 145
gcase "save: the second source's read fails after 64 KiB" 3 "fault_dev=$d2 fail_read_after=65536" -- migrate save "$d1" "$d2" --out /tmp/mm2.vfm --final-state stop
expect_eq "group save failed: no file, no part or partial file" "$(ls -a /tmp | grep -c 'mm2.vfm')" 0
expect_eq "group save failed: both sources RUNNING" "$(state $d1) $(state $d2)" "RUNNING RUNNING"
jcheck "group save failed: both sources named" "/tmp/mm$n.json" "deq(r.error.details.recoveries.map(x => x.device + ':' + x.role + ':' + x.state), ['$d1:source:RUNNING', '$d2:source:RUNNING'])"
check "d1 memory intact" vmtest check "$d1" 144
check "d2 memory intact" vmtest check "$d2" 145
# not through a pipe (yet): refused before anything moves
cli /tmp/mm-pipe.json migrate save "$d1" "$d2" --out - --final-state stop --json
expect_eq "group save to stdout: exit 2" "$CLI_RC" 2
rm -f /tmp/mm.vfm
