# vfio-mig types/list/show/validate against the real driver; mdevctl agrees on types and free instances.
need_cli
a=$(mk gfx-4GB); n=$(mk nic)
cli /tmp/types.json types --json
expect_eq "types exit code" "$CLI_RC" 0
jcheck "the three vmref types, in order" /tmp/types.json \
  'r.result.types.filter(t => t.parent === "vmref").map(t => t.id).join() === "vmref-gfx-4GB,vmref-gfx-8GB,vmref-nic"'
for t in gfx-4GB gfx-8GB; do
  jcheck "vmref-$t: params equal migration_info.json" /tmp/types.json \
    "deq(r.result.types.find(t => t.id === 'vmref-$t').migration, {scheme: 'v3', model: 'vfio-mig.dev/ref-gfx', params: json('$VMREF_TYPES/vmref-$t/migration_info.json').models['vfio-mig.dev/ref-gfx'].params})"
done
jcheck "vmref-nic: v4 models and versions" /tmp/types.json \
  'deq(r.result.types.find(t => t.id === "vmref-nic").migration, {scheme: "v4", models: [{model: "vfio-mig.dev/ref-nic", versions: ["v2", "v1"]}, {model: "vfio-mig.dev/ref-nic-compat", versions: ["v1"]}]})'
jcheck "no type has problems" /tmp/types.json 'r.result.types.every(t => t.problems.length === 0)'
jcheck "available_instances as sysfs says" /tmp/types.json \
  'r.result.types.filter(t => t.parent === "vmref").every(t => t.available_instances === Number(sysfs(`/sys/class/mdev_bus/vmref/mdev_supported_types/${t.id}/available_instances`)))'
# mdevctl types --dumpjson vs vfio-mig types --json: same types, same free instances
if command -v mdevctl >/dev/null; then
  mdevctl types --dumpjson >/tmp/mdevctl.json || fail "mdevctl types"
  jcheck "mdevctl and vfio-mig list the same vmref types and free instances" /tmp/types.json \
    'deq(Object.fromEntries(r.result.types.filter(t => t.parent === "vmref").map(t => [t.id, t.available_instances])),
         Object.fromEntries(json("/tmp/mdevctl.json").flatMap(p => (p.vmref || []).flatMap(o => Object.entries(o).map(([id, v]) => [id, v.available_instances])))))'
  jcheck "same names and device_api" /tmp/types.json \
    'json("/tmp/mdevctl.json").flatMap(p => (p.vmref || []).flatMap(o => Object.entries(o))).every(([id, v]) => { const t = r.result.types.find(x => x.id === id); return t && t.name === v.name && t.device_api === v.device_api && t.description === v.description; })'
else
  echo "mdevctl not installed: comparison skipped"
fi
# while a device is open, list reports who uses it
vmtest hold "$a" 60 >/tmp/hold.out & hp=$!
i=0; while ! grep -q opened /tmp/hold.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
cli /tmp/list.json list --json
kill $hp; wait $hp 2>/dev/null
jcheck "list: an open device shows its user" /tmp/list.json \
  "(r.result.devices.find(d => d.uuid === '$a').in_use || {pids: []}).pids.length === 1"
jcheck "list: the gfx device with its values" /tmp/list.json \
  "deq(r.result.devices.find(d => d.uuid === '$a').migration, {scheme: 'v3', model: 'vfio-mig.dev/ref-gfx', values: {memory: 4, ecc: true, profile: 'v2', queues: 1}})"
jcheck "list: the nic device with model and version" /tmp/list.json \
  "deq(r.result.devices.find(d => d.uuid === '$n').migration, {scheme: 'v4', model: 'vfio-mig.dev/ref-nic', version: 'v2'})"
jcheck "list: nodes ($VMTEST_IFACE) and driver" /tmp/list.json \
  "r.result.devices.filter(d => d.parent === 'vmref').every(d => $(dev_nodes_js) && d.driver === 'vmref')"
cli /tmp/show.json show "$a" --json
jcheck "show: device and its type" /tmp/show.json "r.result.device.uuid === '$a' && r.result.type.id === 'vmref-gfx-4GB'"
cli /tmp/validate.json validate --json
expect_eq "validate exit code" "$CLI_RC" 0
jcheck "validate: every type and device valid" /tmp/validate.json 'r.result.valid === true && r.result.reports.length >= 5'
