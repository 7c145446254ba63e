#!/bin/bash
# Builds the test bed's cdev-only kernel (cdev.config) from Debian's linux-source-6.12, once
# per machine: the result lives outside the clone, in
#   $VMTEST_KCACHE (default /var/cache/vfio-mig/vmtest-kernels)/<key>/
# where <key> = the source package's version + a hash of cdev.config and this script, so a new
# source package or a changed config builds anew and anything else reuses it.
#
#   build.sh          build when missing; print the kernel's directory on stdout
#   build.sh --key    print the key only (no build)
#
# The directory: src/ (the built tree: vmlinux, and the build dir for out-of-tree modules),
# modroot/ (modules_install: lib/modules/<release>/ with modules.dep and modules.builtin),
# release (uname -r of the kernel), build.log, build.seconds (wall time of all sessions), and
# `complete`, written last. A build that was stopped (a timeout, ^C) resumes where it was: its
# tree is kept once configured and checked (`configured`), and make redoes only what is missing
# (make deletes a target it was interrupted writing); an unconfigured directory starts over.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARBALL="${VMTEST_KSRC:-/usr/src/linux-source-6.12.tar.xz}"
CACHE="${VMTEST_KCACHE:-/var/cache/vfio-mig/vmtest-kernels}"
PKG=linux-source-6.12

err() { echo "cdev kernel: $*" >&2; exit 1; }
[[ -f "$TARBALL" ]] || err "no $TARBALL (apt-get install $PKG)"
ver="$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || true)"
# a tarball not from the package: its size and mtime stand for the version
[[ -n "$ver" ]] || ver="$(stat -c '%s-%Y' "$TARBALL")"
hash="$(cat "$HERE/cdev.config" "$HERE/build.sh" | sha256sum | cut -c1-12)"
key="6.12-cdev_${ver//[^A-Za-z0-9.+-]/_}_$hash"
if [[ "${1:-}" == --key ]]; then echo "$key"; exit 0; fi

dir="$CACHE/$key"
mkdir -p "$CACHE"
# one build at a time per key (two bed runs on one machine wait for each other)
exec 9>"$CACHE/$key.lock"
flock 9
if [[ -f "$dir/complete" ]]; then echo "$dir"; exit 0; fi
t0=$(date +%s)
log="$dir/build.log"
if [[ -f "$dir/configured" ]]; then
  echo "cdev kernel: resuming the build of $key in $dir (log: $log)" >&2
else
rm -rf "$dir"
mkdir -p "$dir"
echo "cdev kernel: building $key into $dir (extract ~15 s, build ~4-5 min on 2 idle cores; log: $log)" >&2
{
  top="$(basename "$TARBALL" .tar.xz)"
  tar -xJf "$TARBALL" -C "$dir"
  mv "$dir/$top" "$dir/src"
  cd "$dir/src"
  # the kernel's own tiny configs, then ours (later lines win)
  cat kernel/configs/tiny-base.config kernel/configs/tiny.config arch/x86/configs/tiny.config \
    "$HERE/cdev.config" >"$dir/allconfig"
  make KCONFIG_ALLCONFIG="$dir/allconfig" allnoconfig
} >"$log" 2>&1 || { tail -20 "$log" >&2; err "extracting or configuring failed (log: $log)"; }

# every option of cdev.config must have taken (Kconfig drops what it cannot satisfy quietly)
bad=()
while IFS= read -r line; do
  if [[ "$line" =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]]; then
    grep -qxF "$line" "$dir/src/.config" || bad+=("$line (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$dir/src/.config" || echo unset))")
  elif [[ "$line" =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
    ! grep -q "^${BASH_REMATCH[1]}=" "$dir/src/.config" || bad+=("$line (got: $(grep "^${BASH_REMATCH[1]}=" "$dir/src/.config"))")
  fi
done <"$HERE/cdev.config"
((${#bad[@]} == 0)) || err "options of cdev.config did not take: ${bad[*]} (log: $log)"
touch "$dir/configured"
fi

jobs="$(nproc)"
{
  cd "$dir/src"
  make -j"$jobs" vmlinux modules
  make INSTALL_MOD_PATH="$dir/modroot" modules_install
  make -s kernelrelease >"$dir/release"
} >>"$log" 2>&1 || { echo $(( $(date +%s) - t0 )) >>"$dir/build.sessions"; tail -30 "$log" >&2; err "build failed or stopped (log: $log; the next run resumes it)"; }
[[ -s "$dir/src/vmlinux" && -f "$dir/src/samples/vfio-mdev/mtty.ko" ]] || err "build left no vmlinux or mtty.ko (log: $log)"
echo $(( $(date +%s) - t0 )) >>"$dir/build.sessions"
awk '{s += $1} END {print s}' "$dir/build.sessions" >"$dir/build.seconds"
touch "$dir/complete"
echo "cdev kernel: built in $(cat "$dir/build.seconds") s ($(wc -l <"$dir/build.sessions") session(s))" >&2
echo "$dir"
