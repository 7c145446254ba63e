#!/usr/bin/env bash
# The main job on the bundled example hosts, offline: what the hosts have, a source device's
# migration parameter list, every destination across the fleet ranked, one verdict explained,
# and the preparation plan for the chosen destination (a dry run: nothing is written).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=fixtures/hosts
work=$(mktemp -d)
mkdir -p "$work/inventories"
trap 'rm -rf "$work"' EXIT
source_dev=cb422412-cf4b-4ce8-b578-bf742f23d32d # gpu-a, vgfx-8GB, in use by its VM

run() {
  printf '\n\033[1m$ vfio-mig %s\033[0m\n' "$*"
  local status=0
  node bin/run.js "$@" || status=$?
  [ "$status" -eq 0 ] || printf '(exit %s)\n' "$status"
}

run types --sysfs-root "$hosts/gpu-a"
run list --sysfs-root "$hosts/gpu-b"
for host in gpu-a gpu-b pci-vf v4-host; do
  node bin/run.js inventory --sysfs-root "$hosts/$host" --out "$work/inventories/$host.json"
done
printf '\n(inventories of gpu-a, gpu-b, pci-vf and v4-host written to %s)\n' "$work/inventories"
run params "$source_dev" --sysfs-root "$hosts/gpu-a" --out "$work/source.json"
cat "$work/source.json"
run select --source "$work/source.json" --inventory "$work"/inventories/*.json --all
run compat --source "$work/source.json" --dest vgfx-4GB --inventory "$work/inventories/gpu-b.json" --host gpu-b
run prepare f5c5eb08-e0c4-4af1-9f9b-533fdc15ae19 --params "$work/source.json" --dry-run --sysfs-root "$hosts/gpu-b"

# Devices without vendor metadata (every kernel driver today): rule sets decide on the identity
# read from sysfs. An NVIDIA L4 vGPU across hosts with host drivers 550.54.14, 550.90.07 (same
# branch) and 535.183.01 (another branch), and the kernel's mtty sample.
for host in vgpu-a vgpu-b vgpu-c; do
  node bin/run.js inventory --sysfs-root "$hosts/$host" --out "$work/inventories/$host.json"
done
run params 0000:41:00.4 --sysfs-root "$hosts/vgpu-a" --out "$work/vgpu.json"
run select --source "$work/vgpu.json" --inventory "$work"/inventories/vgpu-*.json --all
run compat --source 1e4c93a6-6a3f-4b8e-9c2d-5f7a8b9c0d1e --dest mtty-1 --sysfs-root "$hosts/mtty"
