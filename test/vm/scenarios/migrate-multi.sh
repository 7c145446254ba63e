# Several devices, all or nothing (issue 10 item 5): migrate run of two pairs in QEMU's order.
# A failure injected on the SECOND destination ends with both sources RUNNING (memory intact)
# and both destinations reset; the same run without a fault moves both; a device without P2P
# in a multi run is refused before anything moves.
# (save/load of several devices through one stream: migrate-multi-stream.)
need_cli
need_engine
s1=$(mk gfx-4GB); d1=$(mk gfx-4GB); s2=$(mk gfx-4GB); d2=$(mk gfx-4GB)
check "fill source 1" vmtest fill "$s1" 141
check "fill source 2" vmtest fill "$s2" 142
n=0
# mm_case DESC WANT_EXIT KNOBS -- ARGS...: a two-pair run under the knobs (on d2), timed
mm_case() {
  desc="$1"; want="$2"; knobs="$3"; shift 4
  n=$((n + 1))
  disarm; arm faults_fired=0 $knobs
  t0=$(date +%s%N)
  cli "/tmp/mm$n.json" migrate run --pair "$s1=$d1" --pair "$s2=$d2" "$@" --json
  t1=$(date +%s%N)
  echo "CASE multi run, $desc: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
  check "$desc: the fault fired" test "$(cat $VMREF_PARAMS/faults_fired)" -ge 1
  disarm
  expect_eq "$desc: exit code" "$CLI_RC" "$want"
  expect_eq "$desc: states s1 d1 s2 d2" "$(state $s1) $(state $d1) $(state $s2) $(state $d2)" "RUNNING RUNNING RUNNING RUNNING"
  jcheck "$desc: each of the four devices named with its outcome" "/tmp/mm$n.json" \
    "r.status === 'error' && deq(r.error.details.recoveries.map(x => x.device + ':' + x.role + ':' + x.state), ['$s1:source:RUNNING', '$d1:destination:RUNNING', '$s2:source:RUNNING', '$d2:destination:RUNNING'])"
}
mm_case "second destination rejects its data at RESUMING -> STOP" 3 "fault_dev=$d2 reject_load=1" -- --precopy-rounds 0
mm_case "second destination write fails after 64 KiB" 3 "fault_dev=$d2 fail_write_after=65536" -- --precopy-rounds 0
mm_case "second destination arc RESUMING -> STOP goes to ERROR" 4 "fault_dev=$d2 error_arc_from=4 error_arc_to=1" -- --precopy-rounds 0
mm_case "second destination writes stall 4 s, --timeout 1500" 3 "fault_dev=$d2 stall_write_ms=4000" -- --precopy-rounds 0 --timeout 1500
check "source 1 memory intact after the failed runs" vmtest check "$s1" 141
check "source 2 memory intact after the failed runs" vmtest check "$s2" 142
# the same run without a fault moves both (with a PRE_COPY round: the PRE_COPY_P2P barrier)
t0=$(date +%s%N)
cli /tmp/mm-ok.json migrate run --pair "$s1=$d1" --pair "$s2=$d2" --precopy-rounds 1 --json
t1=$(date +%s%N)
echo "CASE multi run, no fault: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
expect_eq "no fault: exit" "$CLI_RC" 0
check "destination 1 holds source 1's memory" vmtest check "$d1" 141
check "destination 2 holds source 2's memory" vmtest check "$d2" 142
jcheck "no fault: both pairs reported, sources STOP, destinations RUNNING" /tmp/mm-ok.json \
  "deq(r.result.pairs.map(p => p.source + '>' + p.dest + ':' + p.source_state + ':' + p.dest_state), ['$s1>$d1:STOP:RUNNING', '$s2>$d2:STOP:RUNNING'])"
jcheck "no fault: both sources in (PRE_COPY_)P2P before either entered STOP_COPY" /tmp/mm-ok.json \
  "(() => { const i = (d, to) => r.result.steps.findIndex(s => s.device === d && s.to === to); const q = Math.max(i('$s1', 'PRE_COPY_P2P'), i('$s2', 'PRE_COPY_P2P')); return q >= 0 && q < Math.min(i('$s1', 'STOP_COPY'), i('$s2', 'STOP_COPY')); })()"
# a device without P2P in a multi run: refused up front, naming it, nothing moved
# (nic devices: the four gfx-4GB instances the type allows are in use)
arm no_p2p=1; np=$(mk nic); disarm
check "fill the P2P-less source" vmtest fill "$np" 143
e1=$(mk nic); e2=$(mk nic); e3=$(mk nic)
cli /tmp/mm-nop2p.json migrate run --pair "$np=$e1" --pair "$e2=$e3" --json
expect_eq "no P2P in a multi run: exit 2" "$CLI_RC" 2
jcheck "no P2P: NO_P2P names the device" /tmp/mm-nop2p.json "r.error.code === 'NO_P2P' && r.error.message.startsWith('$np: does not offer P2P')"
expect_eq "no P2P: nothing moved" "$(state $np) $(state $e1) $(state $e2) $(state $e3)" "RUNNING RUNNING RUNNING RUNNING"
