# The pair bed (sourced by run.sh): two guests at once, each on its own kernel, joined by a
# virtio-serial port named vfio-mig.0 whose two ends are ONE host UNIX socket (the first
# guest's QEMU listens on it, the second's connects, reconnect=1), no network between them.
# Each guest loads the reference driver built for its kernel (the same cached per-kernel
# build, initramfs and kernel image as the single-guest bed) and runs the pair scenarios of
# test/vm/pair-scenarios/ in one boot, with guest/pair-runner.sh.
#
# A pair scenario is test/vm/pair-scenarios/<name>.sh defining pair_source and
# pair_destination (one per guest, run at the same time), with a header naming the
# direction(s), kernel families (the first kernel of the run whose version is X.*):
#   # vmtest-pair: 6.1->6.12 6.12->6.1      (one run per direction)
# Names on run.sh's command line: pair:<name>, or `pairs` for all; `all` (the default) runs
# every pair scenario after the single-guest ones. Output lines:
#   PASS [<source kernel> -> <destination kernel>] <name> (<wall s>)
# A kernel a direction names missing from the run: n/a (a failure under CI/VMTEST_STRICT).
# The host serves two requests of the scenarios through the shared 9p dir: a cut (sockcut
# breaks the socket's connection) and nothing else.
PAIR_SDIR="$HERE/pair-scenarios"

all_pair_scenarios() { local f; for f in "$PAIR_SDIR"/*.sh; do [[ "$f" == */lib.sh ]] || echo "pair:$(basename "$f" .sh)"; done; }
pair_list() { local s; for s in $(all_pair_scenarios); do echo "$s  directions: $(header "$PAIR_SDIR/${s#pair:}.sh" pair)"; done; }

# pair_take_names: move pair:<name> (and `pairs`) out of SCEN_LIST into PAIR_LIST; with `all`
# every pair scenario; checks each one's header
PAIR_LIST=()
pair_take_names() {
  local s rest=() d
  for s in $SCEN_LIST; do
    case "$s" in
      pairs) PAIR_LIST+=($(all_pair_scenarios)) ;;
      pair:*) PAIR_LIST+=("$s") ;;
      *) rest+=("$s") ;;
    esac
  done
  [[ "$SCEN" != all ]] || PAIR_LIST=($(all_pair_scenarios))
  SCEN_LIST="${rest[*]}"
  for s in "${PAIR_LIST[@]}"; do
    [[ -f "$PAIR_SDIR/${s#pair:}.sh" ]] || die "no pair scenario ${s#pair:} (see VMTEST_LIST=1 $0)"
    d="$(header "$PAIR_SDIR/${s#pair:}.sh" pair)"
    [[ -n "$d" ]] || die "pair scenario ${s#pair:}: no '# vmtest-pair: FROM->TO ...' header"
    for d in $d; do
      [[ "$d" =~ ^[0-9]+(\.[0-9]+)*-\>[0-9]+(\.[0-9]+)*$ ]] || die "pair scenario ${s#pair:}: bad direction '$d' (use e.g. 6.1->6.12)"
    done
  done
}

# prepare_kernel once per kernel and run (the single-guest loop and the pairs share it)
declare -A PREPARED_K=()
prepare_kernel_once() {
  if [[ -n "${PREPARED_K[$1]:-}" ]]; then read -r KIMG KINITRD <<<"${PREPARED_K[$1]}"; return 0; fi
  prepare_kernel "$@" || return 1
  PREPARED_K[$1]="$KIMG $KINITRD"
}

# the Debian kernel of the run for a family (6.1 -> 6.1.0-57-amd64), empty when none; the pairs
# run on Debian's kernels (the issue's upgrade path), never on the self-built cdev kernel
pair_kernel() { local k; for k in "${KVERS[@]}"; do [[ "$k" != "$CDEV_K" ]] || continue; [[ "$(kver_num "$k")" == "$1".* || "$(kver_num "$k")" == "$1" ]] && { echo "$k"; return; }; done; }

pair_index() { local i; for i in "${!KVERS[@]}"; do [[ "${KVERS[$i]}" != "$1" ]] || { echo "$i"; return; }; done; }

# pair_boot G KVER: start guest G (a|b) in the background; its qemu's timeout pid in PAIR_PID[G]
declare -A PAIR_PID=() PAIR_KIMG=() PAIR_KINITRD=()
pair_boot() {
  local g="$1" k="$2" res="$PAIR_RUN/$1" chardev
  if [[ "$g" == a ]]; then chardev="socket,id=mig,path=$PAIR_SOCK,server=on,wait=off"; else chardev="socket,id=mig,path=$PAIR_SOCK,reconnect=1"; fi
  timeout --kill-after=10 "$PAIR_TIMEOUT" qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu max -smp "$PAIR_SMP" -m "$MEM" \
    -kernel "${PAIR_KIMG[$g]}" -initrd "${PAIR_KINITRD[$g]}" \
    -append "console=ttyS0 panic=-1 loglevel=4 vmtest.repo=$REPO vmtest.build=$BUILD/k/$k vmtest.bin=$BUILD/bin vmtest.scen=pair vmtest.results=$res vmtest.runner=pair-runner.sh vmtest.iface=$(kernel_ifaces "$k") vmtest.mods=$DEBIAN_GUEST_MODS" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$res,mount_tag=results,security_model=none" \
    -virtfs "local,path=$PAIR_RUN/sync,mount_tag=pairsync,security_model=none" \
    -chardev "$chardev" -device virtio-serial-pci -device virtserialport,chardev=mig,name=vfio-mig.0 \
    -display none -serial stdio -monitor none -no-reboot -nodefaults \
    </dev/null >"$PAIR_RUN/console-$g.log" 2>&1 &
  PAIR_PID[$g]=$!
}

# pair_group KA KB ENTRIES...: one boot of two guests (a on KA, b on KB) for the entries
# "name:from:to" whose kernels are KA and KB; prints their result lines
pair_group() {
  local ka="$1" kb_="$2"; shift 2
  local -a ids=() names=() froms=() tos=()
  local e i=0 name from to g
  PAIR_RUN="$BUILD/pair/$(kver_num "$ka")-$(kver_num "$kb_")"
  PAIR_SOCK="$PAIR_RUN/vfio-mig.0.sock"
  rm -rf "$PAIR_RUN"
  mkdir -p "$PAIR_RUN/a" "$PAIR_RUN/b" "$PAIR_RUN/sync"
  for g in a b; do
    local k; [[ "$g" == a ]] && k="$ka" || k="$kb_"
    printf 'GUEST=%s\nOTHER=%s\nSYNC=%s\nSCEN_TIMEOUT=%s\nFIRST_WAIT=%s\n' "$g" "$([[ $g == a ]] && echo b || echo a)" \
      "$PAIR_RUN/sync" "$PAIR_SCEN_TIMEOUT" 400 >"$PAIR_RUN/$g/pair.env"
  done
  for e in "$@"; do
    IFS=: read -r name from to <<<"$e"
    i=$((i + 1))
    local id; id="$(printf '%02d-%s' "$i" "$name")"
    ids+=("$id"); names+=("$name"); froms+=("$from"); tos+=("$to")
    for g in a b; do
      local gk role; [[ "$g" == a ]] && gk="$ka" || gk="$kb_"
      if [[ "$from" == "$to" ]]; then [[ "$g" == a ]] && role=source || role=destination
      elif [[ "$gk" == "$from" ]]; then role=source; else role=destination; fi
      echo "$id $name $role $from $to" >>"$PAIR_RUN/$g/plan"
    done
  done
  [[ -n "${VMTEST_TIMEOUT:-}" ]] && PAIR_TIMEOUT="$VMTEST_TIMEOUT" || PAIR_TIMEOUT=$((240 + (PAIR_SCEN_TIMEOUT / 2 + 60) * $#))
  log "pairs: booting two guests ($ka, $kb_; TCG, -smp $PAIR_SMP each, -m $MEM, timeout ${PAIR_TIMEOUT}s), $# runs"
  local t0; t0=$(date +%s.%N)
  set +e
  pair_boot a "$ka"
  for _ in $(seq 50); do [[ -S "$PAIR_SOCK" ]] && break; sleep 0.2; done
  pair_boot b "$kb_"
  # serve cut requests; restart a guest whose boot died before it was ready (TCG: 6.12
  # sometimes panics early), once
  local -A retried=()
  local req
  while kill -0 "${PAIR_PID[a]}" 2>/dev/null || kill -0 "${PAIR_PID[b]}" 2>/dev/null; do
    for req in "$PAIR_RUN"/sync/*.cut.request; do
      [[ -e "$req" && ! -e "${req%.request}.done" ]] || continue
      "$BUILD/bin/sockcut" "$PAIR_SOCK" >"${req%.request}.tmp" 2>&1 || echo "(sockcut exit $?)" >>"${req%.request}.tmp"
      mv "${req%.request}.tmp" "${req%.request}.done"
    done
    for g in a b; do
      kill -0 "${PAIR_PID[$g]}" 2>/dev/null && continue
      [[ -z "${retried[$g]:-}" && ! -f "$PAIR_RUN/$g/boot.time" && ! -f "$PAIR_RUN/$g/setup.failed" ]] || continue
      grep -q "VMTEST setup failed" "$PAIR_RUN/console-$g.log" && continue
      retried[$g]=1
      cp "$PAIR_RUN/console-$g.log" "$PAIR_RUN/console-$g.first-boot.log"
      echo "vm-test: pairs: guest $g's boot died before it was ready ($(grep -m1 -E "Kernel panic|BUG:|Oops|int3" "$PAIR_RUN/console-$g.log" || echo "no guest init")); retrying once"
      local gk; [[ "$g" == a ]] && gk="$ka" || gk="$kb_"
      pair_boot "$g" "$gk"
    done
    sleep 0.2
  done
  wait "${PAIR_PID[a]}"; local qa=$?
  wait "${PAIR_PID[b]}"; local qb=$?
  set -e
  PAIR_SECS="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')"
  grep -hE "^(VMTEST|vmtest)" "$PAIR_RUN/console-a.log" "$PAIR_RUN/console-b.log" >&2 || true

  local j sa sb secs label ra rb
  for j in "${!ids[@]}"; do
    id="${ids[$j]}"; label="[${froms[$j]} -> ${tos[$j]}] ${names[$j]}"
    sa="$(cat "$PAIR_RUN/a/$id.status" 2>/dev/null || echo missing)"
    sb="$(cat "$PAIR_RUN/b/$id.status" 2>/dev/null || echo missing)"
    secs="$(cat "$PAIR_RUN/a/$id.secs" "$PAIR_RUN/b/$id.secs" 2>/dev/null | sort -g | tail -1)"
    # a: the role of guest a in this run
    [[ "$ka" == "${froms[$j]}" ]] && { ra=source; rb=destination; } || { ra=destination; rb=source; }
    if [[ "$sa" == pass && "$sb" == pass ]]; then
      PAIR_PASS=$((PAIR_PASS + 1)); echo "PASS $label (${secs} s)"
    elif [[ "$sa" == missing || "$sb" == missing ]]; then
      PAIR_FAIL=$((PAIR_FAIL + 1)); echo "FAIL $label: did not run (guest a: $sa, guest b: $sb)"
    elif [[ "$sa" != fail && "$sb" != fail && -z "$STRICT" ]]; then
      echo "SKIP $label: $(tail -1 "$PAIR_RUN/a/$id.log") / $(tail -1 "$PAIR_RUN/b/$id.log")"
    else
      PAIR_FAIL=$((PAIR_FAIL + 1)); echo "FAIL $label (${secs:-?} s; $ra: $sa, $rb: $sb)"
      for g in a b; do
        [[ "$g" == a ]] && echo "    | --- $ra ($ka):" || echo "    | --- $rb ($kb_):"
        sed 's/^/    | /' "$PAIR_RUN/$g/$id.log" 2>/dev/null | tail -25
      done
    fi
  done
  for g in a b; do
    local q; [[ "$g" == a ]] && q=$qa || q=$qb
    if [[ -f "$PAIR_RUN/$g/setup.failed" ]]; then
      PAIR_FAIL=$((PAIR_FAIL + 1)); echo "FAIL pairs: guest $g setup:"; sed 's/^/    | /' "$PAIR_RUN/$g/setup.failed"
    elif [[ ! -f "$PAIR_RUN/$g/guest.done" ]]; then
      PAIR_FAIL=$((PAIR_FAIL + 1))
      echo "FAIL pairs: guest $g did not finish (qemu exit $q after ${PAIR_SECS}s; timeout ${PAIR_TIMEOUT}s). Console tail:"
      tail -30 "$PAIR_RUN/console-$g.log" | sed 's/^/    | /'
    fi
  done
  log "pairs ($ka, $kb_): two-guest round ${PAIR_SECS}s (consoles and results: $PAIR_RUN)"
}

# pair_run: every pair scenario of PAIR_LIST in each of its directions; adds to the totals
pair_run() {
  ((${#PAIR_LIST[@]})) || return 0
  PAIR_SMP="${VMTEST_PAIR_SMP:-$SMP}"
  PAIR_SCEN_TIMEOUT="${VMTEST_PAIR_SCENARIO_TIMEOUT:-180}"
  PAIR_PASS=0 PAIR_FAIL=0
  local pt0 s d from to kf kt key
  pt0=$(date +%s)
  # runs grouped by their (unordered) kernel pair: one two-guest boot per group
  local -A group=()
  local -a order=()
  for s in "${PAIR_LIST[@]}"; do
    s="${s#pair:}"
    for d in $(header "$PAIR_SDIR/$s.sh" pair); do
      from="${d%%->*}"; to="${d##*->}"
      kf="$(pair_kernel "$from")"; kt="$(pair_kernel "$to")"
      # `# vmtest-needs: migrate-send`: the duplex CLI (issue #15); until the build has it the
      # scenario does not apply (said so on its line), and applies by itself once it lands
      if [[ "$(header "$PAIR_SDIR/$s.sh" needs)" == *migrate-send* ]] && ! grep -q '"migrate:send"' "$REPO/oclif.manifest.json" 2>/dev/null; then
        echo "n/a  [$from -> $to] $s (the CLI has no migrate send/receive yet)"
        continue
      fi
      if [[ -z "$kf" || -z "$kt" ]]; then
        if [[ -n "$STRICT" ]]; then
          PAIR_FAIL=$((PAIR_FAIL + 1)); echo "FAIL [$from -> $to] $s: needs a $from and a $to kernel in the run (kernels: ${KVERS[*]})"
        else
          echo "n/a  [$from -> $to] $s (needs a $from and a $to kernel in the run)"
        fi
        continue
      fi
      # guest a: the pair's kernel that comes first in the run's order
      if (($(pair_index "$kf") <= $(pair_index "$kt"))); then key="$kf $kt"; else key="$kt $kf"; fi
      [[ -n "${group[$key]:-}" ]] || order+=("$key")
      group[$key]+="$s:$kf:$kt "
    done
  done
  for key in "${order[@]}"; do
    local ka="${key% *}" kb_="${key#* }" ok=1 k
    for k in $ka $kb_; do
      mkdir -p "$BUILD/k/$k"
      if ! prepare_kernel_once "$k" "$BUILD/k/$k" >"$BUILD/k/$k/setup.why"; then
        ok=; PAIR_FAIL=$((PAIR_FAIL + 1)); echo "FAIL [pairs $k] setup: $(cat "$BUILD/k/$k/setup.why")"
      fi
      if [[ "$k" == "$ka" ]]; then PAIR_KIMG[a]="$KIMG"; PAIR_KINITRD[a]="$KINITRD"; else PAIR_KIMG[b]="$KIMG"; PAIR_KINITRD[b]="$KINITRD"; fi
    done
    [[ -n "$ok" ]] || continue
    pair_group "$ka" "$kb_" ${group[$key]}
  done
  echo "pairs: $PAIR_PASS passed, $PAIR_FAIL failed ($(( $(date +%s) - pt0 )) s)"
  TOTAL_PASS=$((TOTAL_PASS + PAIR_PASS)); TOTAL_FAIL=$((TOTAL_FAIL + PAIR_FAIL))
}
