# SIGINT and SIGKILL of the CLI in each phase (PRE_COPY, STOP_COPY, RESUMING): the CLI (or,
# when killed, the engines on their own) leaves the source RUNNING with its memory intact,
# the destination reset, no partial file. A stall knob holds each phase long enough to hit.
need_cli
need_engine
s=$(mk gfx-4GB); d=$(mk gfx-4GB)
check "fill source" vmtest fill "$s" 131
# bg_cli OUT ARGS...: start the CLI in the background; its pid in BG
bg_cli() { _o="$1"; shift; echo "+ vfio-mig $* &"; $CLI "$@" >"$_o" 2>&1 & BG=$!; }
# wait_state UUID STATE: until the driver reports STATE (at most 60 s)
wait_state() { i=0; while [ "$(state $1)" != "$2" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ "$(state $1)" = "$2" ]; }
# engines_gone: until no engine process is left (at most 30 s)
engines_gone() { i=0; while pidof vfio-mig-engine >/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; ! pidof vfio-mig-engine >/dev/null; }
# sig_case DESC SIGNAL WANT_EXIT DEVICE STATE KNOBS -- ARGS...
sig_case() {
  desc="$1"; sig="$2"; want="$3"; dev="$4"; st="$5"; knobs="$6"; shift 7
  disarm; arm $knobs
  t0=$(date +%s%N)
  bg_cli /tmp/sig.out "$@"
  check "$desc: reached $st" wait_state "$dev" "$st"
  kill -"$sig" "$BG"; wait "$BG"; rc=$?
  check "$desc: the engines ended" engines_gone
  t1=$(date +%s%N)
  echo "CASE $desc: exit $rc, wall $(( (t1 - t0) / 1000000 )) ms"; tail -3 /tmp/sig.out
  disarm
  expect_eq "$desc: exit code" "$rc" "$want"
  expect_eq "$desc: source state" "$(state $s)" RUNNING
  expect_eq "$desc: destination state" "$(state $d)" RUNNING
  expect_eq "$desc: no partial file" "$(ls /tmp/sg.vfm* 2>/dev/null | wc -l)" 0
  # Killed, the CLI could not recover: the engines undid their own moves (the reference
  # driver would also resume a closed device, so the engines' own report is what is checked).
  if [ "$sig" = KILL ]; then check "$desc: the engines undid their moves" grep -q "caller gone: .*\(-> RUNNING\|reset done\)" /tmp/sig.out; fi
}
sig_case "SIGINT in PRE_COPY (run)" INT 130 "$s" PRE_COPY "fault_dev=$s stall_read_ms=3000" -- migrate run --source "$s" --dest "$d"
sig_case "SIGKILL in PRE_COPY (run)" KILL 137 "$s" PRE_COPY "fault_dev=$s stall_read_ms=3000" -- migrate run --source "$s" --dest "$d"
sig_case "SIGINT in STOP_COPY (run)" INT 130 "$s" STOP_COPY "fault_dev=$d stall_write_ms=3000" -- migrate run --source "$s" --dest "$d" --precopy-rounds 0
sig_case "SIGKILL in STOP_COPY (run)" KILL 137 "$s" STOP_COPY "fault_dev=$d stall_write_ms=3000" -- migrate run --source "$s" --dest "$d" --precopy-rounds 0
sig_case "SIGTERM in STOP_COPY (save)" TERM 143 "$s" STOP_COPY "fault_dev=$s stall_read_ms=3000" -- migrate save "$s" --out /tmp/sg.vfm --final-state stop
sig_case "SIGKILL in STOP_COPY (save)" KILL 137 "$s" STOP_COPY "fault_dev=$s stall_read_ms=3000" -- migrate save "$s" --out /tmp/sg.vfm --final-state stop
cli /tmp/sg-good.json migrate save "$s" --out /tmp/sg-good.vfm --final-state running --json
expect_eq "a good snapshot save: exit" "$CLI_RC" 0
sig_case "SIGINT in RESUMING (load)" INT 130 "$d" RESUMING "fault_dev=$d stall_write_ms=3000" -- migrate load "$d" --in /tmp/sg-good.vfm
sig_case "SIGKILL in RESUMING (load)" KILL 137 "$d" RESUMING "fault_dev=$d stall_write_ms=3000" -- migrate load "$d" --in /tmp/sg-good.vfm
check "source memory intact" vmtest check "$s" 131
rm -f /tmp/sg-good.vfm
