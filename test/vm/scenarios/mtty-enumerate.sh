# vmtest-needs: mtty
# The kernel's sample driver mtty through the CLI: types, list and show see its parent, its
# two types (one and two ports) and its devices; mdevctl agrees on the free ports.
need_cli
need_mtty
expect_eq "mtty types in sysfs" "$(ls $MTTY_PARENT/mdev_supported_types | tr '\n' ' ')" "mtty-1 mtty-2 "
a=$(mk_mtty mtty-1); b=$(mk_mtty mtty-2)
cli /tmp/types.json types --json
expect_eq "types: exit" "$CLI_RC" 0
jcheck "types: mtty-1 and mtty-2 under the parent mtty" /tmp/types.json \
  'r.result.types.filter(t => t.parent === "mtty").map(t => t.id).join() === "mtty-1,mtty-2"'
jcheck "types: mtty's free instances as sysfs says" /tmp/types.json \
  'r.result.types.filter(t => t.parent === "mtty").every(t => t.available_instances === Number(sysfs(`/sys/class/mdev_bus/mtty/mdev_supported_types/${t.id}/available_instances`)))'
jcheck "types: name and device_api from sysfs" /tmp/types.json \
  'r.result.types.filter(t => t.parent === "mtty").every(t => t.device_api === "vfio-pci" && t.name === sysfs(`/sys/class/mdev_bus/mtty/mdev_supported_types/${t.id}/name`).trim())'
if command -v mdevctl >/dev/null; then
  mdevctl types --dumpjson >/tmp/mdevctl.json || fail "mdevctl types"
  jcheck "mdevctl and vfio-mig agree on the mtty types and free instances" /tmp/types.json \
    'deq(Object.fromEntries(r.result.types.filter(t => t.parent === "mtty").map(t => [t.id, t.available_instances])),
         Object.fromEntries(json("/tmp/mdevctl.json").flatMap(p => (p.mtty || []).flatMap(o => Object.entries(o).map(([id, v]) => [id, v.available_instances])))))'
fi
cli /tmp/list.json list --json
expect_eq "list: exit" "$CLI_RC" 0
jcheck "list: both mtty devices, with their type, parent mtty and their nodes ($VMTEST_IFACE)" /tmp/list.json \
  "['$a:mtty-1', '$b:mtty-2'].every(x => { const [u, t] = x.split(':'); const d = r.result.devices.find(d => d.uuid === u); return d && d.parent === 'mtty' && d.type_id === t && $(dev_nodes_js); })"
cli /tmp/show.json show "$b" --json
expect_eq "show: exit" "$CLI_RC" 0
jcheck "show: the mtty-2 device and its type" /tmp/show.json "r.result.device.uuid === '$b' && r.result.type.id === 'mtty-2'"
