# How the CLI opens a device on this kernel (#13): caps and show report what the device offers
# and what was used (auto: the group when the kernel has it, else the cdev); forcing the way the
# kernel lacks names the node and the kernel option (exit 3); a device another process holds
# open is reported in use with the node and the holder's pid, through the group node or the cdev.
need_cli
if has_iface group; then want=group; other=cdev; other_opt=VFIO_DEVICE_CDEV; else want=cdev; other=group; other_opt=VFIO_GROUP; fi
offered_js="['$(echo "$VMTEST_IFACE" | sed "s/,/','/g")']"

# check_device UUID NAME: caps/show/forced/in-use checks for one device
check_device() {
  _u=$1; _n=$2
  cli /tmp/if-caps.json migrate caps "$_u" --json
  expect_eq "$_n caps: exit" "$CLI_RC" 0
  jcheck "$_n caps: opened through the $want interface, offers $VMTEST_IFACE" /tmp/if-caps.json \
    "r.result.interface === '$want' && deq(r.result.interfaces.offered, $offered_js) && r.result.interfaces.auto === '$want'"
  cli /tmp/if-show.json show "$_u" --json
  expect_eq "$_n show: exit" "$CLI_RC" 0
  jcheck "$_n show: offers $VMTEST_IFACE, auto $want" /tmp/if-show.json \
    "deq(r.result.interfaces.offered, $offered_js) && r.result.interfaces.auto === '$want'"
  cli /tmp/if-forced.json migrate caps "$_u" --device-interface "$want" --json
  expect_eq "$_n caps --device-interface $want: exit" "$CLI_RC" 0
  if ! has_iface "$other"; then
    cli /tmp/if-other.json migrate caps "$_u" --device-interface "$other" --json
    expect_eq "$_n caps --device-interface $other (not in this kernel): exit" "$CLI_RC" 3
    jcheck "$_n: NO_DEVICE_INTERFACE names the node and $other_opt" /tmp/if-other.json \
      "r.error.code === 'NO_DEVICE_INTERFACE' && r.error.message.includes('$other_opt') && typeof r.error.details.node === 'string' && r.error.message.includes(r.error.details.node)"
  fi
  # in use: vmtest opens it the same way (group when there, else the cdev) and keeps it open
  vmtest hold "$_u" 60 >/tmp/hold.out & _hp=$!
  _i=0; while ! grep -q opened /tmp/hold.out && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i+1)); done
  check "$_n held open by pid $_hp" grep -q opened /tmp/hold.out
  cli /tmp/if-held.json migrate caps "$_u" --json
  _rc=$CLI_RC
  kill $_hp; wait $_hp 2>/dev/null
  expect_eq "$_n caps while held: exit" "$_rc" 3
  if [ "$want" = group ]; then _node_js="/^\\/dev\\/vfio\\/[0-9]+\$/"; else _node_js="/^\\/dev\\/vfio\\/devices\\/vfio[0-9]+\$/"; fi
  jcheck "$_n caps while held: DEVICE_IN_USE names the $want node and pid $_hp" /tmp/if-held.json \
    "r.error.code === 'DEVICE_IN_USE' && $_node_js.test(r.error.details.node) && r.error.details.pids.includes($_hp)"
  cli /tmp/if-free.json migrate caps "$_u" --json
  expect_eq "$_n caps once released: exit" "$CLI_RC" 0
}

u=$(mk nic)
check_device "$u" "vmref nic"
if [ -d "$MTTY_PARENT" ]; then
  m=$(mk_mtty mtty-1)
  check_device "$m" "mtty-1"
fi
