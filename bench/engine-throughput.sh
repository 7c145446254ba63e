#!/usr/bin/env bash
# Throughput of the migration engine's data path against plain copy baselines.
# Moves SIZE_MB (default 1024) MiB from a file and from a pipe to a file on tmpfs:
#   engine   vfio-mig-engine "pack" (stream format, CRC32C on every chunk)
#   rwloop   a plain C 1 MiB read()/write() loop (QEMU's approach), built from bench/
#   cat      coreutils cat
#   dd       dd bs=1M
# Prints the median MB/s of RUNS (default 5) runs each and the engine's ratio to the
# fastest baseline. Usage: bash bench/engine-throughput.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIZE_MB="${SIZE_MB:-1024}"
RUNS="${RUNS:-5}"
ENGINE="${VFIO_MIG_ENGINE:-$ROOT/engine/build/vfio-mig-engine-test}" # pack/unpack: test build
TMP="${BENCH_DIR:-/dev/shm}"
[ -d "$TMP" ] && [ -w "$TMP" ] || TMP=/tmp
WORK="$(mktemp -d "$TMP/vfio-mig-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

make -s -C "$ROOT/engine" all test-engine >/dev/null
cc -O2 -Wall -Wextra -Werror -o "$WORK/rwloop" "$HERE/engine-throughput-rwloop.c"

# Fault in guest memory first: on virtual machines the first touch of a page costs far more
# than the copy itself and would dominate whichever method ran first.
head -c "$((SIZE_MB * 3 * 1024 * 1024))" /dev/zero >"$WORK/prefault" && rm -f "$WORK/prefault"

SRC="$WORK/src.bin"
OUT="$WORK/out.bin"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$SRC"
BYTES=$(stat -c %s "$SRC")

now() { date +%s%N; }
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "needs GNU time (/usr/bin/time, package time)" >&2; exit 1; }

# One timed run; prints "elapsed_ns cpu_seconds" (cpu = user + sys of the whole pipeline,
# including the cat that feeds the pipe, which is the same for every method).
# $1 = method, $2 = file|pipe
run_once() {
  local method=$1 src=$2 t0 t1 req cmd
  rm -f "$OUT"
  req='{"id":1,"op":"pack","out_path":"'"$OUT"'","header":{"bench":true},"progress":false,'
  case "$method:$src" in
    engine:file) cmd="printf '%s\\n' '${req}\"in_path\":\"$SRC\"}' | '$ENGINE' >'$WORK/resp'" ;;
    engine:pipe) cmd="cat '$SRC' | '$ENGINE' 3<&0 >'$WORK/resp' < <(printf '%s\\n' '${req}\"in_fd\":3}')" ;;
    rwloop:file) cmd="'$WORK/rwloop' '$SRC' '$OUT'" ;;
    rwloop:pipe) cmd="cat '$SRC' | '$WORK/rwloop' - '$OUT'" ;;
    cat:file) cmd="cat '$SRC' >'$OUT'" ;;
    cat:pipe) cmd="cat '$SRC' | cat >'$OUT'" ;;
    dd:file) cmd="dd if='$SRC' of='$OUT' bs=1M status=none" ;;
    dd:pipe) cmd="cat '$SRC' | dd of='$OUT' bs=1M status=none" ;;
  esac
  t0=$(now)
  "$TIME" -f '%U %S' -o "$WORK/cpu" bash -c "$cmd"
  t1=$(now)
  if [ "$method" = engine ] && ! grep -q '"ok":true' "$WORK/resp"; then
    echo "engine failed: $(cat "$WORK/resp")" >&2
    exit 1
  fi
  echo "$((t1 - t0)) $(awk '{print $1 + $2}' "$WORK/cpu")"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A MBS TIMES CPUS
METHODS=(engine rwloop cat dd)
# Round-robin: every round runs each method once, so background noise on a shared
# machine hits all methods alike. Round 0 is a warm-up and is not counted.
for round in $(seq 0 "$RUNS"); do
  for src in file pipe; do
    for method in "${METHODS[@]}"; do
      read -r ns cpu < <(run_once "$method" "$src")
      [ "$round" -eq 0 ] && continue
      TIMES[$method:$src]+="$ns "
      CPUS[$method:$src]+="$cpu "
    done
  done
done
for key in "${!TIMES[@]}"; do
  ns=$(tr " " "\n" <<<"${TIMES[$key]}" | grep . | median)
  MBS[$key]=$(awk -v b="$BYTES" -v ns="$ns" 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}')
  CPUS[$key]=$(tr " " "\n" <<<"${CPUS[$key]}" | grep . | median)
done

# Sanity: the engine's output unpacks to the source.
rm -f "$OUT"
printf '%s\n' '{"id":1,"op":"pack","in_path":"'"$SRC"'","out_path":"'"$OUT"'","header":{"bench":true}}' \
  '{"id":2,"op":"unpack","in_path":"'"$OUT"'","out_path":"'"$WORK/back.bin"'"}' | "$ENGINE" >"$WORK/resp"
cmp -s "$SRC" "$WORK/back.bin" || { echo "round trip mismatch" >&2; exit 1; }
rm -f "$WORK/back.bin" "$OUT"

printf 'vfio-mig engine throughput: %d MiB, median of %d runs, output on %s, crc32c %s\n' \
  "$SIZE_MB" "$RUNS" "$TMP" "$("$ENGINE" --version | sed 's/.*crc32c \(.*\))/\1/')"
printf '%-8s %12s %12s %14s %14s\n' method "file MB/s" "pipe MB/s" "file CPU s" "pipe CPU s"
for method in engine rwloop cat dd; do
  printf '%-8s %12s %12s %14s %14s\n' "$method" "${MBS[$method:file]}" "${MBS[$method:pipe]}" \
    "${CPUS[$method:file]}" "${CPUS[$method:pipe]}"
done
echo "(CPU s: median user+sys seconds of the whole command for $SIZE_MB MiB, feeding cat included;"
echo " it does not depend on how busy the machine is, MB/s does. Load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
for src in file pipe; do
  best=0 bestm=
  for method in rwloop cat dd; do
    v=${MBS[$method:$src]}
    if [ "$v" -gt "$best" ]; then best=$v bestm=$method; fi
  done
  awk -v e="${MBS[engine:$src]}" -v b="$best" -v m="$bestm" -v s="$src" \
    'BEGIN {printf "engine / fastest baseline (%s) from %s: %.2fx\n", m, s, e / b}'
done
