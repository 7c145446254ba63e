# vfio-mig prepare: EBUSY on an open destination, a refused combination rolled back, then a real
# prepare whose destination accepts the source's saved state.
need_cli
src=$(mk gfx-4GB); dst=$(mk gfx-8GB)
expect_eq "src queues=2" "$(wr $(mig $src queues) 2)" OK
cli /tmp/p.json params "$src" -o /tmp/list.json
# EBUSY: destination open
vmtest hold "$dst" 60 >/tmp/hold.out & hp=$!
i=0; while ! grep -q opened /tmp/hold.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
cli /tmp/prep.json prepare "$dst" --params /tmp/list.json --json
kill $hp; wait $hp 2>/dev/null
check "prepare on an open destination fails (exit $CLI_RC)" test "$CLI_RC" -ne 0
jcheck "refused because the device is open (DEVICE_IN_USE found through /proc, or the kernel's EBUSY)" /tmp/prep.json \
  'r.exitCode !== 0 && r.result.writes === 0 && /DEVICE_IN_USE|EBUSY/.test(JSON.stringify(r.result.reasons || r))'
expect_eq "dst memory untouched" "$(rd $(mig $dst memory))" 8
expect_eq "dst queues untouched" "$(rd $(mig $dst queues))" 1
# refused combination: ecc=true with profile=v1 (each value allowed on its own)
jget /tmp/list.json '({...r, params: {...r.params, profile: "v1"}})' >/tmp/bad.json
cat /tmp/bad.json
cli /tmp/prep.json prepare "$dst" --params /tmp/bad.json --json
check "prepare with ecc=1,profile=v1 fails (exit $CLI_RC)" test "$CLI_RC" -ne 0
jcheck "the failure names profile and EINVAL, and the rollback" /tmp/prep.json \
  'JSON.stringify(r).includes("profile") && JSON.stringify(r).includes("EINVAL")'
cp /tmp/prep.json /tmp/prep-refused.json
expect_eq "dst memory rolled back" "$(rd $(mig $dst memory))" 8
expect_eq "dst queues rolled back" "$(rd $(mig $dst queues))" 1
expect_eq "dst profile unchanged" "$(rd $(mig $dst profile))" v2
# a real prepare
cli /tmp/prep.json prepare "$dst" --params /tmp/list.json --json
expect_eq "prepare exit" "$CLI_RC" 0
jcheck "prepared with 2 writes (memory, queues)" /tmp/prep.json 'r.result.status === "prepared" && r.result.writes === 2'
expect_eq "dst memory" "$(rd $(mig $dst memory))" 4
expect_eq "dst queues" "$(rd $(mig $dst queues))" 2
check "the prepared gfx-8GB destination takes the gfx-4GB source's state" vmtest migrate "$src" "$dst" --seed 71
