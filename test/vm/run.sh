#!/bin/bash
# Real-kernel VM test bed: builds the reference mdev driver (test/vm/driver) for the
# host's Debian 6.1 kernel, boots that kernel under QEMU (TCG) with the host root over
# 9p, and runs the scenarios of test/vm/scenarios/ inside the guest.
#
#   sudo test/vm/run.sh                 # every scenario
#   sudo test/vm/run.sh params basic    # scenarios whose names are given (file names without .sh)
#   sudo test/vm/run.sh bench/vm-save   # a path below the repo without .sh: the in-guest benchmark
#   VMTEST_LIST=1 test/vm/run.sh        # list the scenarios
#
# Environment: VMTEST_TIMEOUT (s, whole guest run, default 540), VMTEST_MEM (default 3G),
# VMTEST_SMP (2), VMTEST_KVER (kernel under /lib/modules), VMTEST_NO_INSTALL=1 (never apt),
# VMTEST_BUILD (build dir, default test/vm/build).
# Prints one line per scenario and `N passed, M failed` last; exits non-zero on any failure
# or when it cannot run at all (not root, packages missing): it never passes silently.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="${VMTEST_BUILD:-$HERE/build}"
TIMEOUT="${VMTEST_TIMEOUT:-540}"
MEM="${VMTEST_MEM:-3G}"
SMP="${VMTEST_SMP:-2}"

die() { echo "vm-test: ERROR: $*" >&2; echo "0 passed, 1 failed" >&2; exit 2; }
log() { echo "vm-test: $*" >&2; }

if [[ "${VMTEST_LIST:-}" == 1 ]]; then
  for f in "$HERE"/scenarios/*.sh; do [[ "$f" == */lib.sh ]] || basename "$f" .sh; done
  echo "bench/vm-save (not part of 'all')"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "must run as root (it loads nothing on the host, but installs packages and runs QEMU with the host root shared read-only); try: sudo $0"

# ---------------------------------------------------------------- packages
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
[[ -x /bin/busybox && "$(file -b /bin/busybox 2>/dev/null || true)" == *static* ]] || need_pkgs+=(busybox-static)
command -v mdevctl >/dev/null || need_pkgs+=(mdevctl)
command -v cc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v file >/dev/null || need_pkgs+=(file)
ls /lib/modules/*/build/Makefile >/dev/null 2>&1 || need_pkgs+=(linux-headers-amd64)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need_pkgs+=(linux-image-amd64)
if ((${#need_pkgs[@]})); then
  [[ "${VMTEST_NO_INSTALL:-}" != 1 ]] || die "missing packages: ${need_pkgs[*]} (VMTEST_NO_INSTALL=1)"
  command -v apt-get >/dev/null || die "missing packages: ${need_pkgs[*]} and no apt-get"
  log "installing ${need_pkgs[*]} (about 2 minutes)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need_pkgs[@]}" linux-image-amd64 linux-headers-amd64; } \
      >"/tmp/vm-test-apt.$$.log" 2>&1; then
    tail -20 "/tmp/vm-test-apt.$$.log" >&2
    die "apt-get failed installing: ${need_pkgs[*]} (log: /tmp/vm-test-apt.$$.log)"
  fi
  rm -f "/tmp/vm-test-apt.$$.log"
fi

# ---------------------------------------------------------------- kernel
pick_kver() {
  local k
  if [[ -n "${VMTEST_KVER:-}" ]]; then echo "$VMTEST_KVER"; return; fi
  for k in $(ls -1 /lib/modules | sort -rV); do
    if [[ -f /boot/vmlinuz-$k && -f /lib/modules/$k/build/Makefile && -f /lib/modules/$k/kernel/drivers/vfio/mdev/mdev.ko ]]; then
      echo "$k"; return
    fi
  done
}
KVER="$(pick_kver)"
[[ -n "$KVER" ]] || die "no kernel under /lib/modules with /boot/vmlinuz-<ver>, headers and mdev.ko (install linux-image-amd64 linux-headers-amd64)"
log "kernel $KVER"
mkdir -p "$BUILD"
STAMP="$(date +%s)"

# ---------------------------------------------------------------- module
rm -rf "$BUILD/driver"
mkdir -p "$BUILD/driver"
cp "$HERE"/driver/*.c "$HERE"/driver/*.h "$HERE"/driver/Makefile "$BUILD/driver/"
if ! make -s -C "/lib/modules/$KVER/build" M="$BUILD/driver" modules >"$BUILD/driver/build.log" 2>&1; then
  cat "$BUILD/driver/build.log" >&2
  die "module build failed"
fi
grep -i "warning" "$BUILD/driver/build.log" | grep -v "Skipping BTF" >&2 || true
log "module built: $BUILD/driver/vfio_mig_ref.ko"

# ---------------------------------------------------------------- guest tools
mkdir -p "$BUILD/bin"
for src in "$HERE"/tools/*.c; do
  name="$(basename "$src" .c)"
  cc -static -O2 -Wall -Werror -o "$BUILD/bin/$name" "$src" || die "building $src failed"
done
if compgen -G "$REPO/bench/vm-*.c" >/dev/null; then
  for src in "$REPO"/bench/vm-*.c; do
    cc -static -O2 -Wall -o "$BUILD/bin/$(basename "$src" .c)" "$src" || die "building $src failed"
  done
fi

# The driver's 8-state next-state table against the reference paths (host side, no guest).
HOST_PASS=0 HOST_FAIL=0
FSM_REF="${VMTEST_FSM_REF:-$REPO/test/fixtures/fsm-paths.txt}"
if [[ -f "$FSM_REF" ]]; then
  if diff <(awk '/^== v6.1/{exit} {print}' "$FSM_REF") <("$BUILD/bin/fsmcheck") >"$BUILD/fsmcheck.diff"; then
    HOST_PASS=1; echo "PASS host-fsm-table (driver table = every 'latest' row of $(basename "$FSM_REF"))"
  else
    HOST_FAIL=1; echo "FAIL host-fsm-table"; sed 's/^/    | /' "$BUILD/fsmcheck.diff" | head -20
  fi
fi

# ---------------------------------------------------------------- vmlinux
VMLINUX="$BUILD/vmlinux-$KVER"
if [[ ! -s "$VMLINUX" || "/boot/vmlinuz-$KVER" -nt "$VMLINUX" ]]; then
  off="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1 || true)"
  [[ -n "$off" ]] || die "no XZ payload in /boot/vmlinuz-$KVER"
  tail -c +"$((off + 1))" "/boot/vmlinuz-$KVER" | xz -dc 2>/dev/null >"$VMLINUX.tmp" || true
  [[ "$(head -c 4 "$VMLINUX.tmp" | od -An -c | tr -d ' ')" == *ELF* ]] || die "extracted vmlinux is not ELF"
  mv "$VMLINUX.tmp" "$VMLINUX"
fi

# ---------------------------------------------------------------- initramfs
INITRD="$BUILD/initramfs-$KVER.cpio.gz"
if [[ ! -s "$INITRD" || "$HERE/guest/init" -nt "$INITRD" ]]; then
  R="$BUILD/initramfs.root"
  rm -rf "$R"
  mkdir -p "$R"/{bin,sbin,proc,sys,dev,host,lib/mod,tmp}
  cp /bin/busybox "$R/bin/busybox"
  cp "$HERE/guest/init" "$R/init"
  chmod 755 "$R/init"
  for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
           netfs fscache 9pnet 9pnet_virtio 9p; do
    f="$(modinfo -k "$KVER" -F filename "$m" 2>/dev/null || true)"
    [[ -z "$f" || "$f" == "(builtin)" ]] && continue
    case "$f" in
      *.ko) cp "$f" "$R/lib/mod/$m.ko" ;;
      *.ko.xz) xz -dc "$f" >"$R/lib/mod/$m.ko" ;;
      *.ko.zst) zstd -dcq "$f" >"$R/lib/mod/$m.ko" ;;
      *) die "unknown module file $f" ;;
    esac
    echo "$m" >>"$R/lib/mod/order"
  done
  (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 >"$INITRD.tmp")
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$R"
fi

# ---------------------------------------------------------------- run
RESULTS="$BUILD/results"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
SCEN="${*:-all}"
SCEN="${SCEN// /,}"
for s in ${SCEN//,/ }; do
  [[ "$s" == all || -f "$HERE/scenarios/$s.sh" || ( "$s" == */* && -f "$REPO/$s.sh" ) ]] || die "no scenario $s (see VMTEST_LIST=1 $0)"
done

log "booting guest (TCG, -smp $SMP, -m $MEM, timeout ${TIMEOUT}s), scenarios: $SCEN"
t0=$(date +%s.%N)
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  -machine q35 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
  -kernel "$VMLINUX" -initrd "$INITRD" \
  -append "console=ttyS0 panic=-1 loglevel=4 vmtest.repo=$REPO vmtest.build=$BUILD vmtest.scen=$SCEN" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$RESULTS,mount_tag=results,security_model=none" \
  -display none -serial stdio -monitor none -no-reboot -nodefaults \
  </dev/null >"$BUILD/console.log" 2>&1
qrc=$?
set -e
t1=$(date +%s.%N)
secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
grep -E "^(VMTEST|vmtest)" "$BUILD/console.log" >&2 || true

pass=$HOST_PASS fail=$HOST_FAIL skip=0
for st in "$RESULTS"/*.status; do
  [[ -e "$st" ]] || continue
  name="$(basename "$st" .status)"
  status="$(cat "$st")"
  case "$status" in
    pass) pass=$((pass + 1)); echo "PASS $name" ;;
    skip) skip=$((skip + 1)); echo "SKIP $name: $(tail -1 "$RESULTS/$name.log" 2>/dev/null)" ;;
    *) fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/    | /' "$RESULTS/$name.log" | tail -40 ;;
  esac
done
if [[ ! -f "$RESULTS/guest.done" ]]; then
  fail=$((fail + 1))
  echo "FAIL guest: did not finish (qemu exit $qrc after ${secs}s; timeout ${TIMEOUT}s). Console tail:"
  tail -40 "$BUILD/console.log" | sed 's/^/    | /'
elif [[ -f "$RESULTS/setup.failed" ]]; then
  fail=$((fail + 1))
  echo "FAIL guest setup:"; sed 's/^/    | /' "$RESULTS/setup.failed"
fi
[[ -f "$RESULTS/boot.time" ]] && log "guest ready after $(cat "$RESULTS/boot.time")s of guest uptime"
log "boot-test-poweroff round: ${secs}s (console: $BUILD/console.log, results: $RESULTS)"
if ! compgen -G "$RESULTS/*.status" >/dev/null; then
  fail=$((fail + 1))
  echo "FAIL: no scenario ran in the guest"
fi
if ((skip)); then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
((fail == 0))
