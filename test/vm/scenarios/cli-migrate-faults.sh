# vfio-mig migrate run with every injected fault: the command fails with the documented exit
# code (3: devices usable; 4: a device went to ERROR and was reset), and afterwards the source
# is RUNNING with its memory intact, the destination RUNNING (reset), no device in ERROR.
need_cli
need_engine
s=$(mk gfx-4GB); d=$(mk gfx-4GB)
check "fill source" vmtest fill "$s" 111
n=0
# fault_case DESCRIPTION WANT_EXIT EXTRA_RUN_ARGS KNOB=VALUE...
fault_case() {
  desc="$1"; want="$2"; extra="$3"; shift 3
  n=$((n + 1))
  disarm
  arm faults_fired=0 "$@"
  t0=$(date +%s%N)
  cli "/tmp/fault$n.json" migrate run --source "$s" --dest "$d" ${extra:---precopy-rounds 0} --json
  t1=$(date +%s%N)
  echo "CASE run: $desc: exit $CLI_RC, wall $(( (t1 - t0) / 1000000 )) ms"
  expect_eq "$desc: exit code" "$CLI_RC" "$want"
  expect_eq "$desc: the fault fired" "$(cat $VMREF_PARAMS/faults_fired)" 1
  expect_eq "$desc: source state" "$(state $s)" RUNNING
  expect_eq "$desc: destination state" "$(state $d)" RUNNING
  jcheck "$desc: reported as a failure" "/tmp/fault$n.json" 'r.status !== "ok" && r.exitCode !== 0'
  disarm
}
fault_case "source arc STOP->STOP_COPY fails (ESTALE)" 3 "" fault_dev="$s" fail_arc_from=1 fail_arc_to=3 fail_arc_errno=116
jcheck "the ESTALE failure names its arc" /tmp/fault1.json 'JSON.stringify(r).includes("ESTALE") && JSON.stringify(r).includes("STOP_COPY")'
fault_case "source arc RUNNING_P2P->STOP goes to ERROR" 4 "" fault_dev="$s" error_arc_from=5 error_arc_to=1
fault_case "source data read fails after 64 KiB" 3 "" fault_dev="$s" fail_read_after=65536
fault_case "destination arc STOP->RESUMING fails (EIO)" 3 "" fault_dev="$d" fail_arc_from=1 fail_arc_to=4
fault_case "destination rejects the loaded data" 3 "" fault_dev="$d" reject_load=1
fault_case "destination arc RESUMING->STOP goes to ERROR" 4 "" fault_dev="$d" error_arc_from=4 error_arc_to=1
fault_case "source arc PRE_COPY_P2P->STOP_COPY fails (PRE_COPY run)" 3 "--precopy-rounds 1" fault_dev="$s" fail_arc_from=7 fail_arc_to=3
check "source memory intact after every fault" vmtest check "$s" 111
# and with no fault the same pair migrates
cli /tmp/ok.json migrate run --source "$s" --dest "$d" --json
expect_eq "no fault: migrate run exit" "$CLI_RC" 0
check "destination holds the source's memory" vmtest check "$d" 111
