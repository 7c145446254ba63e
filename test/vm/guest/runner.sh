#!/bin/sh
# Scenario runner, run by the guest init inside the chroot of the host root.
#   runner.sh REPO KBUILD SCENARIOS BIN   (SCENARIOS: "all" or a comma list of names;
#   KBUILD: the kernel's build dir with driver/, mtty/ and results/; BIN: the static tools)
# Each scenario is test/vm/scenarios/<name>.sh, run with sh under a timeout, sourcing
# test/vm/scenarios/lib.sh; exit 0 = pass, 77 = skip, anything else = fail.
# Results: <results>/<name>.log (output) and <name>.status (pass|fail|skip).
REPO="$1"; BUILD="$2"; SCEN="$3"; BIN="${4:-$2/bin}"
RES="$BUILD/results"
export VMTEST_REPO="$REPO" VMTEST_BUILD="$BUILD" VMTEST_RES="$RES" VMTEST_BIN="$BIN"
export PATH="$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/tmp TMPDIR=/tmp
SDIR="$REPO/test/vm/scenarios"
PER_SCENARIO_TIMEOUT="${VMTEST_SCENARIO_TIMEOUT:-180}"

if [ "$SCEN" = all ]; then
  list=$(ls "$SDIR"/*.sh | sed 's#.*/##; s#\.sh$##' | grep -v '^lib$')
else
  list=$(echo "$SCEN" | tr ',' ' ')
fi

for spec in $list; do
  # names with a slash are paths below the repo (bench/vm-save), others scenarios/<name>.sh
  case "$spec" in
    */*) file="$REPO/$spec.sh"; name=$(echo "$spec" | tr / -) ;;
    *) file="$SDIR/$spec.sh"; name="$spec" ;;
  esac
  t0=$(cut -d' ' -f1 /proc/uptime)
  timeout -k 5 "$PER_SCENARIO_TIMEOUT" sh -c ". '$SDIR/lib.sh'; vm_setup; . '$file'; jflush" >"$RES/$name.log" 2>&1
  rc=$?
  # clean up whatever the scenario left: its mdevs and the fault knobs
  sh -c ". '$SDIR/lib.sh'; vm_cleanup" >>"$RES/$name.log" 2>&1
  t1=$(cut -d' ' -f1 /proc/uptime)
  case $rc in
    0) st=pass ;;
    77) st=skip ;;
    124|137) st=fail; echo "TIMEOUT after ${PER_SCENARIO_TIMEOUT}s" >>"$RES/$name.log" ;;
    *) st=fail ;;
  esac
  echo "$st" >"$RES/$name.status"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  echo "VMTEST $st $name (${secs}s)"
done
