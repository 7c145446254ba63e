#!/bin/bash
# Real-kernel VM test bed: for each kernel (Debian's 6.1 and 6.12 and the self-built cdev-only
# 6.12, `6.12-cdev`, by default) builds the reference mdev driver (test/vm/driver) and, on
# kernels with the upstream sample (>= 6.7), mtty from the kernel's source package; boots the
# kernel once under QEMU (TCG) with the host root over 9p, and runs the scenarios of
# test/vm/scenarios/ that apply to it. 6.12-cdev (test/vm/kernel/: IOMMUFD, VFIO_DEVICE_CDEV,
# no VFIO_GROUP) is built by kernel/build.sh when missing and cached outside the clone.
#
#   sudo test/vm/run.sh                 # every scenario on every kernel
#   sudo test/vm/run.sh params basic    # scenarios whose names are given (file names without .sh)
#   sudo test/vm/run.sh bench/vm-save   # a path below the repo without .sh: the in-guest benchmark
#   VMTEST_LIST=1 test/vm/run.sh        # list the scenarios and what they need
#
# Environment: VMTEST_KVER (kernels under /lib/modules or 6.12-cdev, space or comma separated;
# default: every installed kernel with headers and mdev, after installing Debian's 6.1 and
# 6.12, and 6.12-cdev), VMTEST_KCACHE (where 6.12-cdev is cached, see kernel/build.sh),
# VMTEST_TIMEOUT (s, per guest, default 60 + 75 per scenario), VMTEST_MEM (3G), VMTEST_SMP (2),
# VMTEST_NO_INSTALL=1 (never apt), VMTEST_BUILD (build dir, default test/vm/build),
# VMTEST_STRICT=1 (a skip is a failure; the default when CI=true).
# A scenario declares what it needs in header comments:
#   # vmtest-needs: mtty          (runs on kernels that have mtty with migration, >= 6.7)
#   # vmtest-needs: group         (kernels with the VFIO group interface: all but 6.12-cdev)
#   # vmtest-needs: cdev          (kernels with the VFIO device cdev: 6.12-cdev)
#   # vmtest-kernels: >=6.7 <7.0  (version constraints on the kernel, all must hold)
# On a kernel that qualifies, anything missing is a failure, never a skip.
# Prints one line per scenario and kernel, a result line per kernel and `N passed, M failed`
# over all last; exits non-zero on any failure or when it cannot run at all.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="${VMTEST_BUILD:-$HERE/build}"
TIMEOUT="${VMTEST_TIMEOUT:-}"  # default: 60 s + 75 s per scenario (a guard against hangs)
MEM="${VMTEST_MEM:-3G}"
SMP="${VMTEST_SMP:-2}"
STRICT="${VMTEST_STRICT:-}"
[[ -n "$STRICT" || "${CI:-}" != true ]] || STRICT=1
MTTY_MIN=6.7  # mtty has migration since 6.7
CDEV_K=6.12-cdev  # the self-built kernel's name in the bed (test/vm/kernel/)
NEEDS_KNOWN="mtty group cdev"

die() { echo "vm-test: ERROR: $*" >&2; echo "0 passed, 1 failed"; exit 2; }
log() { echo "vm-test: $*" >&2; }

# header VALUE of a scenario file: `# vmtest-<key>: value`
header() { sed -n "s/^# vmtest-$2: *//p" "$1" | head -1; }
scenario_file() { if [[ "$1" == */* ]]; then echo "$REPO/$1.sh"; else echo "$HERE/scenarios/$1.sh"; fi; }
all_scenarios() { for f in "$HERE"/scenarios/*.sh; do [[ "$f" == */lib.sh ]] || basename "$f" .sh; done; }
# two guests at once (pair:<name>, test/vm/pair-scenarios/): pair.sh
source "$HERE/pair.sh"

if [[ "${VMTEST_LIST:-}" == 1 ]]; then
  for s in $(all_scenarios); do
    f="$(scenario_file "$s")"
    n="$(header "$f" needs)"; k="$(header "$f" kernels)"
    echo "$s${n:+  needs: $n}${k:+  kernels: $k}"
  done
  pair_list
  echo "bench/vm-save (not part of 'all')"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "must run as root (it loads nothing on the host, but installs packages and runs QEMU with the host root shared read-only); try: sudo $0"

# ------------------------------------------------------------------- versions
# kver_num 6.12.118+deb12-amd64 -> 6.12.118
kver_num() { local v="${1%%[-+]*}"; echo "$v"; }
# kver_mm 6.12.118+deb12-amd64 -> 6.12, 6.12-cdev -> 6.12 (a source package's version)
kver_mm() { kver_num "$1" | cut -d. -f1,2; }
# ver_ge A B: version A >= B (numeric fields)
ver_ge() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$2" ]]; }
# kernel_ok KVER CONSTRAINTS: every ">=X", ">X", "<X", "<=X", "=X" holds
kernel_ok() {
  local v; v="$(kver_num "$1")"
  local c
  for c in $2; do
    case "$c" in
      '>='*) ver_ge "$v" "${c#>=}" || return 1 ;;
      '<='*) ver_ge "${c#<=}" "$v" || return 1 ;;
      '>'*) ver_ge "$v" "${c#>}" && [[ "$v" != "${c#>}" ]] || return 1 ;;
      '<'*) ! ver_ge "$v" "${c#<}" || return 1 ;;
      '='*) [[ "$v" == "${c#=}" || "$v" == "${c#=}".* ]] || return 1 ;;
      *) die "bad kernel constraint '$c' (use >=X, >X, <X, <=X, =X)" ;;
    esac
  done
}
has_mdev() { local f; f="$(modinfo -k "$1" -F filename mdev 2>/dev/null || true)"; [[ -n "$f" ]]; }
# 6.12-cdev is built on demand from the source package: usable when that is there
usable_kernel() {
  if [[ "$1" == "$CDEV_K" ]]; then [[ -f "$(kernel_src "$1")" ]]; return; fi
  [[ -f "/boot/vmlinuz-$1" && -f "/lib/modules/$1/build/Makefile" ]] && has_mdev "$1"
}
# kernel_config KVER: its config (Debian's /boot/config-<ver>; 6.12-cdev: the fragment, whose
# every line build.sh checks against the built .config)
kernel_config() { if [[ "$1" == "$CDEV_K" ]]; then echo "$HERE/kernel/cdev.config"; else echo "/boot/config-$1"; fi; }
# the group interface is there unless VFIO_GROUP is off (it has no option before 6.6)
has_group() { ! grep -qx "# CONFIG_VFIO_GROUP is not set" "$(kernel_config "$1")" 2>/dev/null; }
has_cdev() { grep -qx "CONFIG_VFIO_DEVICE_CDEV=y" "$(kernel_config "$1")" 2>/dev/null; }
# the ways in to a VFIO device the kernel offers, for the guest's scenarios: group, cdev or group,cdev
kernel_ifaces() { local i=(); has_group "$1" && i+=(group); has_cdev "$1" && i+=(cdev); (IFS=,; echo "${i[*]}"); }
# the kernel source package of a kernel: /usr/src/linux-source-<major.minor>.tar.xz
kernel_src() { echo "/usr/src/linux-source-$(kver_mm "$1").tar.xz"; }

# ------------------------------------------------------------------- packages
KVERS_ASKED="${VMTEST_KVER:-}"
KVERS_ASKED="${KVERS_ASKED//,/ }"
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
[[ -x /bin/busybox && "$(file -b /bin/busybox 2>/dev/null || true)" == *static* ]] || need_pkgs+=(busybox-static)
command -v mdevctl >/dev/null || need_pkgs+=(mdevctl)
command -v cc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v make >/dev/null || need_pkgs+=(make)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v file >/dev/null || need_pkgs+=(file)
command -v modinfo >/dev/null || need_pkgs+=(kmod)
# both kernel families by default (Debian 12: 6.1 is linux-image-amd64, 6.12 is in the
# security suite); a family counts as there when a kernel of it is usable
family_there() { local k; for k in $(ls -1 /lib/modules 2>/dev/null); do [[ "$(kver_num "$k")" == "$1".* ]] && usable_kernel "$k" && return 0; done; return 1; }
wants_cdev=
if [[ -z "$KVERS_ASKED" || " $KVERS_ASKED " == *" $CDEV_K "* ]]; then wants_cdev=1; fi
if [[ -n "$wants_cdev" ]]; then
  # building 6.12-cdev: kbuild's flex/bison/bc, objtool's libelf
  for t in flex bison bc; do command -v "$t" >/dev/null || need_pkgs+=("$t"); done
  [[ -f /usr/include/libelf.h ]] || need_pkgs+=(libelf-dev)
fi
if [[ -z "$KVERS_ASKED" ]]; then
  family_there 6.1 || need_pkgs+=(linux-image-amd64 linux-headers-amd64)
  family_there 6.12 || need_pkgs+=(linux-image-6.12-amd64 linux-headers-6.12-amd64)
  [[ -f /usr/src/linux-source-6.12.tar.xz ]] || need_pkgs+=(linux-source-6.12)
else
  for k in $KVERS_ASKED; do
    v="$(kver_num "$k")"
    if ver_ge "$v" "$MTTY_MIN" && [[ ! -f "$(kernel_src "$k")" ]]; then
      need_pkgs+=("linux-source-$(kver_mm "$k")")
    fi
  done
fi
if ((${#need_pkgs[@]})); then
  [[ "${VMTEST_NO_INSTALL:-}" != 1 ]] || die "missing packages: ${need_pkgs[*]} (VMTEST_NO_INSTALL=1)"
  command -v apt-get >/dev/null || die "missing packages: ${need_pkgs[*]} and no apt-get"
  log "installing ${need_pkgs[*]} (a few minutes)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need_pkgs[@]}"; } >"/tmp/vm-test-apt.$$.log" 2>&1; then
    tail -20 "/tmp/vm-test-apt.$$.log" >&2
    die "apt-get failed installing: ${need_pkgs[*]} (log: /tmp/vm-test-apt.$$.log)"
  fi
  rm -f "/tmp/vm-test-apt.$$.log"
fi

# ------------------------------------------------------------------- kernels
KVERS=()
if [[ -n "$KVERS_ASKED" ]]; then
  for k in $KVERS_ASKED; do
    if [[ "$k" == "$CDEV_K" ]]; then
      usable_kernel "$k" || die "kernel $k: needs $(kernel_src "$k") (apt-get install linux-source-6.12)"
    else
      usable_kernel "$k" || die "kernel $k: needs /boot/vmlinuz-$k, /lib/modules/$k/build (headers) and the mdev module"
    fi
    KVERS+=("$k")
  done
else
  for k in $(ls -1 /lib/modules | sort -V); do
    usable_kernel "$k" && KVERS+=("$k")
  done
  ((${#KVERS[@]})) || die "no kernel under /lib/modules with /boot/vmlinuz-<ver>, headers and mdev (install linux-image-amd64 linux-headers-amd64)"
  # CI covers both families: one of them missing after the install is a failure
  if [[ -n "$STRICT" ]]; then
    for fam in 6.1 6.12; do family_there "$fam" || die "no usable $fam kernel (CI runs the bed on 6.1 and 6.12)"; done
    usable_kernel "$CDEV_K" || die "no $(kernel_src "$CDEV_K") to build $CDEV_K from (CI runs the bed on it too)"
  fi
  if usable_kernel "$CDEV_K"; then KVERS+=("$CDEV_K"); else log "$CDEV_K left out: no $(kernel_src "$CDEV_K")"; fi
fi
log "kernels: ${KVERS[*]}"
mkdir -p "$BUILD"

# ------------------------------------------------------------------- scenarios
SCEN="${*:-all}"
SCEN="${SCEN// /,}"
if [[ "$SCEN" == all ]]; then
  SCEN_LIST="$(all_scenarios)"
else
  SCEN_LIST="${SCEN//,/ }"
fi
pair_take_names
for s in $SCEN_LIST; do
  f="$(scenario_file "$s")"
  [[ -f "$f" ]] || die "no scenario $s (see VMTEST_LIST=1 $0)"
  for need in $(header "$f" needs | tr , ' '); do
    [[ " $NEEDS_KNOWN " == *" $need "* ]] || die "scenario $s: unknown vmtest-needs '$need' (known: $NEEDS_KNOWN)"
  done
  for c in $(header "$f" kernels); do
    [[ "$c" =~ ^(\>=|\<=|\>|\<|=)[0-9]+(\.[0-9]+)*$ ]] || die "scenario $s: bad vmtest-kernels constraint '$c' (use >=X, >X, <X, <=X, =X)"
  done
done
# applies KVER SCENARIO: empty when it runs there, else why not
applies() {
  local f n k; f="$(scenario_file "$2")"
  n="$(header "$f" needs)"; k="$(header "$f" kernels)"
  for need in ${n//,/ }; do
    case "$need" in
      mtty) kernel_ok "$1" ">=$MTTY_MIN" || { echo "needs mtty (kernel >= $MTTY_MIN)"; return; } ;;
      group) has_group "$1" || { echo "needs the VFIO group interface (kernel has VFIO_GROUP=n)"; return; } ;;
      cdev) has_cdev "$1" || { echo "needs the VFIO device cdev (kernel has no VFIO_DEVICE_CDEV)"; return; } ;;
      *) die "scenario $2: unknown vmtest-needs '$need'" ;;
    esac
  done
  [[ -z "$k" ]] || kernel_ok "$1" "$k" || echo "kernel not $k"
}

# ------------------------------------------------------------------- the installed package
# (issue #16) package-cli runs cli-migrate with the CLI a user gets: this checkout packed
# (`npm pack`, after `npm run build`) and installed as `npm install -g` does, into
# $BUILD/package (the guest sees it there); a file missing from the package fails it.
wants_package() {
  [[ " $(echo $SCEN_LIST) " == *" package-cli "* ]] || return 1
  local k; for k in "${KVERS[@]}"; do [[ -n "$(applies "$k" package-cli)" ]] || return 0; done
  return 1
}
if wants_package; then
  PKG="$BUILD/package"
  rm -rf "$PKG"
  mkdir -p "$PKG"
  [[ -f "$REPO/dist/vfio-mig.js" && -d "$REPO/engine/prebuilt" ]] || die "package-cli: dist/ or engine/prebuilt/ missing: run npm run build first"
  if ! { tgz="$(cd "$REPO" && npm pack --silent --pack-destination "$PKG" | tail -1)" &&
      npm install -g --prefix "$PKG" --ignore-scripts --prefer-offline --no-audit --no-fund "$PKG/$tgz"; } >"$PKG/install.log" 2>&1; then
    tail -20 "$PKG/install.log" >&2
    die "package-cli: npm pack or npm install -g of the package failed (log: $PKG/install.log)"
  fi
  log "package-cli: $tgz installed into $PKG"
fi

# ------------------------------------------------------------------- guest tools
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

TOTAL_PASS=0 TOTAL_FAIL=0
SUMMARY=()
# The driver's 8-state next-state table against the reference paths (host side, no guest).
FSM_REF="${VMTEST_FSM_REF:-$REPO/test/fixtures/fsm-paths.txt}"
if [[ -f "$FSM_REF" ]]; then
  if diff <(awk '/^== v6.1/{exit} {print}' "$FSM_REF") <("$BUILD/bin/fsmcheck") >"$BUILD/fsmcheck.diff"; then
    TOTAL_PASS=1; echo "PASS host-fsm-table (driver table = every 'latest' row of $(basename "$FSM_REF"))"
  else
    TOTAL_FAIL=1; echo "FAIL host-fsm-table"; sed 's/^/    | /' "$BUILD/fsmcheck.diff" | head -20
  fi
fi

# ------------------------------------------------------------------- per kernel
# mtty.c of a kernel source package, extracted once and cached by the tarball's mtime
mtty_source() {
  local tarball="$1" dir="$BUILD/src/$(basename "$1" .tar.xz)"
  local out="$dir/mtty.c"
  if [[ ! -s "$out" || "$tarball" -nt "$out" ]]; then
    mkdir -p "$dir"
    local top; top="$(basename "$tarball" .tar.xz)"
    tar -xJf "$tarball" -C "$dir" "$top/samples/vfio-mdev/mtty.c" || return 1
    mv "$dir/$top/samples/vfio-mdev/mtty.c" "$out"
    rm -rf "${dir:?}/$top"
  fi
  echo "$out"
}

# prepare KVER KB: driver, mtty, kernel image (KIMG) and initramfs (KINITRD) into KB;
# on failure the reason on stdout
# KDIR (kbuild dir for out-of-tree modules), KREL (uname -r), KMODROOT (modprobe -d root, empty:
# the host's /lib/modules), GUEST_MODS (what the guest modprobes before the drivers)
# what a guest on one of Debian's kernels modprobes before the drivers (the pairs run only there)
DEBIAN_GUEST_MODS=vfio,vfio_iommu_type1,mdev
prepare_kernel() {
  local k="$1" kb="$2" kc=""
  rm -rf "$kb/driver" "$kb/mtty" "$kb/modroot"
  KDIR="/lib/modules/$k/build" KREL="$k" KMODROOT="" GUEST_MODS="$DEBIAN_GUEST_MODS"
  if [[ "$k" == "$CDEV_K" ]]; then
    # built once per machine (minutes), then cached outside the clone
    kc="$(timeout 2700 bash "$HERE/kernel/build.sh")" || { echo "building $CDEV_K failed (test/vm/kernel/build.sh; output above)"; return 1; }
    # the guest loads its modules from the build dir: the cache may be under /tmp, which the
    # guest covers with its own tmpfs (a few hundred KiB: mdev, mtty, modules.*)
    mkdir -p "$kb" && cp -a "$kc/modroot" "$kb/modroot" || { echo "copying $kc/modroot into $kb failed"; return 1; }
    KDIR="$kc/src" KREL="$(cat "$kc/release")" KMODROOT="$kb/modroot"
    # VFIO and IOMMUFD are built in; no container, so no vfio_iommu_type1
    GUEST_MODS="mdev"
  fi
  mkdir -p "$kb/driver"
  cp "$HERE"/driver/*.c "$HERE"/driver/*.h "$HERE"/driver/Makefile "$kb/driver/"
  if ! make -s -C "$KDIR" M="$kb/driver" modules >"$kb/driver/build.log" 2>&1; then
    cat "$kb/driver/build.log" >&2
    echo "reference driver build failed against $k"; return 1
  fi
  grep -i "warning" "$kb/driver/build.log" | grep -v "Skipping BTF" >&2 || true

  # mtty: built from the kernel's own source package, never kept in the repository
  if [[ -n "$kc" ]]; then
    # 6.12-cdev builds it in tree (SAMPLE_VFIO_MDEV_MTTY=m)
    mkdir -p "$kb/mtty"
    cp "$KDIR/samples/vfio-mdev/mtty.ko" "$kb/mtty/mtty.ko"
  elif kernel_ok "$k" ">=$MTTY_MIN"; then
    mkdir -p "$kb/mtty"
    local src tarball; tarball="$(kernel_src "$k")"
    if [[ ! -f "$tarball" ]]; then
      echo "mtty: no $tarball (install linux-source-$(kver_mm "$k"))" >"$kb/mtty/why"
    elif ! src="$(mtty_source "$tarball")"; then
      echo "mtty: extracting samples/vfio-mdev/mtty.c from $tarball failed" >"$kb/mtty/why"
    else
      cp "$src" "$kb/mtty/mtty.c"
      echo 'obj-m := mtty.o' >"$kb/mtty/Makefile"
      if ! make -s -C "/lib/modules/$k/build" M="$kb/mtty" modules >"$kb/mtty/build.log" 2>&1; then
        { echo "mtty: build against $k failed:"; tail -20 "$kb/mtty/build.log"; } >"$kb/mtty/why"
      fi
    fi
    [[ -f "$kb/mtty/why" ]] && sed 's/^/vm-test: /' "$kb/mtty/why" >&2
  fi

  # the kernel image: the ELF vmlinux out of the bzImage's XZ payload (PVH boot, faster);
  # kernels whose payload is not XZ (6.12) boot the bzImage itself
  KIMG="$kb/vmlinux"
  if [[ -n "$kc" ]]; then
    KIMG="$KDIR/vmlinux"
  elif [[ ! -s "$KIMG" || "/boot/vmlinuz-$k" -nt "$KIMG" ]]; then
    rm -f "$KIMG"
    local off
    off="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$k" | head -1 | cut -d: -f1 || true)"
    if [[ -n "$off" ]]; then
      tail -c +"$((off + 1))" "/boot/vmlinuz-$k" | xz -dc 2>/dev/null >"$KIMG.tmp" || true
      if [[ "$(head -c 4 "$KIMG.tmp" | od -An -c | tr -d ' ')" == *ELF* ]]; then mv "$KIMG.tmp" "$KIMG"; else rm -f "$KIMG.tmp"; fi
    fi
  fi
  if [[ ! -s "$KIMG" ]]; then
    KIMG="/boot/vmlinuz-$k"
    log "$k: no XZ payload in the bzImage, booting /boot/vmlinuz-$k itself"
  fi

  # initramfs: busybox + the virtio/9p modules (dependencies first, decompressed; none when
  # built in, as in 6.12-cdev: modprobe says `builtin`)
  local initrd="$kb/initramfs.cpio.gz"
  if [[ ! -s "$initrd" || "$HERE/guest/init" -nt "$initrd" || "$0" -nt "$initrd" ||
        ( -n "$kc" && "$kc/complete" -nt "$initrd" ) ]]; then
    local R="$kb/initramfs.root" f m
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,proc,sys,dev,host,lib/mod,tmp}
    cp /bin/busybox "$R/bin/busybox"
    cp "$HERE/guest/init" "$R/init"
    chmod 755 "$R/init"
    for f in $(for m in virtio_pci 9pnet_virtio 9p; do modprobe ${KMODROOT:+-d "$KMODROOT"} -S "$KREL" --show-depends "$m" || echo "FAILED $m"; done |
               awk '$1 == "insmod" {print $2} $1 == "FAILED" {print "FAILED:" $2}'); do
      [[ "$f" != FAILED:* ]] || { echo "module ${f#FAILED:} not found for $k"; return 1; }
      m="$(basename "$f")"; m="${m%%.ko*}"
      grep -qx "$m" "$R/lib/mod/order" 2>/dev/null && continue
      case "$f" in
        *.ko) cp "$f" "$R/lib/mod/$m.ko" ;;
        *.ko.xz) xz -dc "$f" >"$R/lib/mod/$m.ko" ;;
        *.ko.zst) zstd -dcq "$f" >"$R/lib/mod/$m.ko" ;;
        *) echo "unknown module file $f"; return 1 ;;
      esac
      echo "$m" >>"$R/lib/mod/order"
    done
    touch "$R/lib/mod/order"
    (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 >"$initrd.tmp")
    mv "$initrd.tmp" "$initrd"
    rm -rf "$R"
  fi
  KINITRD="$initrd"
}

# boot KVER KB SCEN: one guest run; sets QRC and SECS
boot_guest() {
  local k="$1" kb="$2" scen="$3"
  rm -rf "$kb/results"
  mkdir -p "$kb/results"
  local t0 t1
  t0=$(date +%s.%N)
  set +e
  timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM" \
    -kernel "$KIMG" -initrd "$KINITRD" \
    -append "console=ttyS0 panic=-1 loglevel=4 vmtest.repo=$REPO vmtest.build=$kb vmtest.bin=$BUILD/bin vmtest.scen=$scen vmtest.iface=$(kernel_ifaces "$k") vmtest.mods=$GUEST_MODS${KMODROOT:+ vmtest.moddir=$KMODROOT}" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$kb/results,mount_tag=results,security_model=none" \
    -display none -serial stdio -monitor none -no-reboot -nodefaults \
    </dev/null >"$kb/console.log" 2>&1
  QRC=$?
  set -e
  t1=$(date +%s.%N)
  SECS="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
}

for k in "${KVERS[@]}"; do
  [[ -n "$SCEN_LIST" ]] || break  # only pair scenarios asked for
  kb="$BUILD/k/$k"
  mkdir -p "$kb"
  kt0=$(date +%s)
  kpass=0 kfail=0
  run_list=() na=()
  for s in $SCEN_LIST; do
    why="$(applies "$k" "$s")"
    if [[ -z "$why" ]]; then run_list+=("$s"); else na+=("$s ($why)"); fi
  done
  for x in "${na[@]}"; do echo "n/a  [$k] $x"; done
  if ((${#run_list[@]} == 0)); then
    SUMMARY+=("kernel $k: nothing applies")
    echo "kernel $k: 0 passed, 0 failed (no scenario applies)"
    continue
  fi
  if ! prepare_kernel_once "$k" "$kb" >"$kb/setup.why"; then
    kfail=$((kfail + 1)); echo "FAIL [$k] setup: $(cat "$kb/setup.why")"
    TOTAL_FAIL=$((TOTAL_FAIL + kfail))
    echo "kernel $k: 0 passed, $kfail failed"
    continue
  fi
  scen="$(IFS=,; echo "${run_list[*]}")"
  # a loaded 2-core machine ran 24 scenarios of 6.12 in ~15 min: room for twice that
  [[ -n "${VMTEST_TIMEOUT:-}" ]] || TIMEOUT=$((60 + 75 * ${#run_list[@]}))
  log "$k: booting guest (TCG, -smp $SMP, -m $MEM, timeout ${TIMEOUT}s), ${#run_list[@]} scenarios"
  boot_guest "$k" "$kb" "$scen"
  # a boot that died before the guest was ready (TCG: 6.12 sometimes panics early): once more
  if [[ ! -f "$kb/results/boot.time" && ! -f "$kb/results/setup.failed" ]] &&
     ! grep -q "VMTEST setup failed" "$kb/console.log"; then
    cp "$kb/console.log" "$kb/console.first-boot.log"
    reason="$(grep -m1 -E "Kernel panic|BUG:|Oops|int3" "$kb/console.log" || echo "no guest init after ${SECS}s, qemu exit $QRC")"
    echo "vm-test: $k: the boot died before the first scenario ($reason); retrying once (first console: $kb/console.first-boot.log)"
    boot_guest "$k" "$kb" "$scen"
  fi
  grep -E "^(VMTEST|vmtest)" "$kb/console.log" >&2 || true

  for s in "${run_list[@]}"; do
    name="$(echo "$s" | tr / -)"
    st="$kb/results/$name.status"
    if [[ ! -f "$st" ]]; then
      [[ -f "$kb/results/guest.done" && ! -f "$kb/results/setup.failed" ]] || continue
      kfail=$((kfail + 1)); echo "FAIL [$k] $name: did not run"; continue
    fi
    case "$(cat "$st")" in
      pass) kpass=$((kpass + 1)); echo "PASS [$k] $name" ;;
      skip)
        if [[ -n "$STRICT" ]]; then
          kfail=$((kfail + 1)); echo "FAIL [$k] $name: skipped, and skips fail here (CI/VMTEST_STRICT): $(tail -1 "$kb/results/$name.log" 2>/dev/null)"
        else
          echo "SKIP [$k] $name: $(tail -1 "$kb/results/$name.log" 2>/dev/null)"
        fi ;;
      *) kfail=$((kfail + 1)); echo "FAIL [$k] $name"; sed 's/^/    | /' "$kb/results/$name.log" | tail -40 ;;
    esac
  done
  if [[ ! -f "$kb/results/guest.done" ]]; then
    kfail=$((kfail + 1))
    echo "FAIL [$k] guest: did not finish (qemu exit $QRC after ${SECS}s; timeout ${TIMEOUT}s). Console tail:"
    tail -40 "$kb/console.log" | sed 's/^/    | /'
  elif [[ -f "$kb/results/setup.failed" ]]; then
    kfail=$((kfail + 1))
    echo "FAIL [$k] guest setup:"; sed 's/^/    | /' "$kb/results/setup.failed"
  fi
  # scenarios that never ran because the guest stopped early count as failures too
  if [[ ! -f "$kb/results/guest.done" || -f "$kb/results/setup.failed" ]]; then
    for s in "${run_list[@]}"; do
      [[ -f "$kb/results/$(echo "$s" | tr / -).status" ]] || { kfail=$((kfail + 1)); echo "FAIL [$k] $s: did not run"; }
    done
  fi
  [[ -f "$kb/results/boot.time" ]] && log "$k: guest ready after $(cat "$kb/results/boot.time")s of guest uptime"
  log "$k: boot-test-poweroff round: ${SECS}s (console: $kb/console.log, results: $kb/results)"
  ksecs=$(( $(date +%s) - kt0 ))
  echo "kernel $k: $kpass passed, $kfail failed ($ksecs s, ${#na[@]} not applicable)"
  TOTAL_PASS=$((TOTAL_PASS + kpass)); TOTAL_FAIL=$((TOTAL_FAIL + kfail))
done
pair_run
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
((TOTAL_FAIL == 0))
