# vfio-mig params/compat/select between the driver's types.
need_cli
s=$(mk gfx-8GB)
cli /tmp/p.json params "$s" --json
jcheck "params: the source's list" /tmp/p.json \
  'r.result.kind === "ParamList" && deq(r.result.params, {memory: 8, ecc: true, profile: "v2", queues: 1})'
cli /tmp/c.json compat --source "$s" --dest vmref-gfx-4GB --json
expect_eq "gfx-8GB defaults -> gfx-4GB compatible (exit)" "$CLI_RC" 0
jcheck "compatible" /tmp/c.json 'r.result.compatible === true'
expect_eq "source memory=300" "$(wr $(mig $s memory) 300)" OK
cli /tmp/c.json compat --source "$s" --dest vmref-gfx-4GB --json
expect_eq "memory=300 -> gfx-4GB: exit 1 (no)" "$CLI_RC" 1
jcheck "not compatible, reason names memory" /tmp/c.json \
  'r.result.compatible === false && JSON.stringify(r.result.reasons).includes("memory")'
expect_eq "source memory=8, queues=8" "$(wr $(mig $s memory) 8)$(wr $(mig $s queues) 8)" OKOK
cli /tmp/c.json compat --source "$s" --dest vmref-gfx-4GB --json
jcheck "queues=8 -> gfx-4GB not compatible (queues)" /tmp/c.json \
  'r.result.compatible === false && JSON.stringify(r.result.reasons).includes("queues")'
expect_eq "source queues=1" "$(wr $(mig $s queues) 1)" OK
# select: both gfx types can take it; the nic cannot
d4=$(mk gfx-4GB)
cli /tmp/sel.json select --source "$s" --json --all
jcheck "select: candidates on both gfx types" /tmp/sel.json \
  'new Set(r.result.candidates.map(c => c.type_id)).size === 2 && r.result.candidates.every(c => c.type_id.startsWith("vmref-gfx"))'
jcheck "select: the nic type rejected" /tmp/sel.json 'r.result.rejected.some(x => x.type_id === "vmref-nic")'
jcheck "select: rank 1 needs no write (a new gfx-8GB)" /tmp/sel.json \
  'r.result.candidates[0].rank === 1 && r.result.candidates[0].writes === 0 && r.result.candidates[0].type_id === "vmref-gfx-8GB"'
jcheck "select: the free gfx-4GB device needs memory 4 -> 8" /tmp/sel.json \
  "deq(r.result.candidates.find(c => c.device === '$d4').planned_writes, [{param: 'memory', from: 4, to: 8}])"
# RFC v4
n1=$(mk nic); n2=$(mk nic)
expect_eq "n1 device_model=ref-nic-compat" "$(wr $(mig $n1 device_model) vfio-mig.dev/ref-nic-compat)" OK
cli /tmp/c.json compat --source "$n1" --dest "$n2" --json
# the destination device is at ref-nic v2, but its type offers ref-nic-compat v1 and a closed
# device's model/version are writable: compatible (prepare would write them)
jcheck "nic ref-nic-compat v1 -> a nic device at ref-nic v2: compatible (preparable)" /tmp/c.json 'r.result.compatible === true'
cli /tmp/c.json compat --source "$n1" --dest vmref-nic --json
jcheck "ref-nic-compat v1 -> vmref-nic type compatible (the type offers that model)" /tmp/c.json 'r.result.compatible === true'
