# The driver's sysfs layout: parent, three types, type attributes, instances.
check "parent $VMREF_PARENT exists" test -d "$VMREF_PARENT"
types=$(ls "$VMREF_TYPES" | tr '\n' ' ')
expect_eq "type directories" "$types" "vmref-gfx-4GB vmref-gfx-8GB vmref-nic "
for t in gfx-4GB gfx-8GB nic; do
  d="$VMREF_TYPES/vmref-$t"
  for a in name description device_api available_instances create devices; do
    check "vmref-$t/$a exists" test -e "$d/$a"
  done
  expect_eq "vmref-$t/device_api" "$(cat $d/device_api)" "vfio-pci"
done
for t in gfx-4GB gfx-8GB; do
  j="$VMREF_TYPES/vmref-$t/migration_info.json"
  check "vmref-$t/migration_info.json is valid JSON" node -e "JSON.parse(require('fs').readFileSync('$j','utf8'))"
  check "vmref-$t has no migration_device_models" test ! -e "$VMREF_TYPES/vmref-$t/migration_device_models"
  echo "vmref-$t/migration_info.json:"; cat "$j"
done
check "vmref-nic/migration_device_models exists" test -f "$VMREF_TYPES/vmref-nic/migration_device_models"
echo "vmref-nic/migration_device_models:"; cat "$VMREF_TYPES/vmref-nic/migration_device_models"

# available_instances decreases as instances are created, and comes back on remove
a0=$(cat $VMREF_TYPES/vmref-gfx-8GB/available_instances)
expect_eq "gfx-8GB available_instances initially" "$a0" 2
u1=$(mk gfx-8GB); u2=$(mk gfx-8GB)
expect_eq "gfx-8GB available_instances after 2 creates" "$(cat $VMREF_TYPES/vmref-gfx-8GB/available_instances)" 0
r=$(wr "$VMREF_TYPES/vmref-gfx-8GB/create" "$(new_uuid)")
check "third gfx-8GB create refused ($r)" test "$r" != OK
check "devices/ lists both" test -e "$VMREF_TYPES/vmref-gfx-8GB/devices/$u1" -a -e "$VMREF_TYPES/vmref-gfx-8GB/devices/$u2"
# the device's node(s): its group's /dev/vfio/<group>, its cdev /dev/vfio/devices/vfioN, or both
if has_iface group; then
  check "mdev $u1 has an iommu_group" test -e "/sys/bus/mdev/devices/$u1/iommu_group"
  g=$(basename "$(readlink /sys/bus/mdev/devices/$u1/iommu_group)")
  check "/dev/vfio/$g exists" test -c "/dev/vfio/$g"
else
  check "mdev $u1 has no iommu_group (no group interface)" test ! -e "/sys/bus/mdev/devices/$u1/iommu_group"
  check "no /dev/vfio/vfio (no container)" test ! -e /dev/vfio/vfio
fi
if has_iface cdev; then
  n=$(ls "/sys/bus/mdev/devices/$u1/vfio-dev" 2>/dev/null)
  check "mdev $u1 has a vfio-dev/vfioN ($n)" expr "$n" : 'vfio[0-9][0-9]*$'
  check "vfio-dev/$n has a dev number (the cdev's)" test -s "/sys/bus/mdev/devices/$u1/vfio-dev/$n/dev"
  check "/dev/vfio/devices/$n exists" test -c "/dev/vfio/devices/$n"
  check "/dev/iommu exists" test -c /dev/iommu
else
  # 6.1+ list vfio-dev/vfioN anyway; without VFIO_DEVICE_CDEV it has no dev number and no node
  n=$(ls "/sys/bus/mdev/devices/$u1/vfio-dev" 2>/dev/null)
  check "mdev $u1: vfio-dev/${n:-(none)} has no dev number (no cdev)" test ! -e "/sys/bus/mdev/devices/$u1/vfio-dev/$n/dev"
  check "no /dev/vfio/devices/ (no cdev)" test ! -e "/dev/vfio/devices/${n:-vfio0}"
fi
expect_eq "mdev_type link" "$(basename "$(readlink /sys/bus/mdev/devices/$u1/mdev_type)")" vmref-gfx-8GB
rm_mdev "$u2"
expect_eq "gfx-8GB available_instances after a remove" "$(cat $VMREF_TYPES/vmref-gfx-8GB/available_instances)" 1
u3=$(mk gfx-4GB); u4=$(mk nic)
expect_eq "gfx-4GB available_instances" "$(cat $VMREF_TYPES/vmref-gfx-4GB/available_instances)" 3
echo "--- migration/ of a gfx device:"; ls "/sys/bus/mdev/devices/$u1/migration"
expect_eq "gfx migration/ files" "$(ls /sys/bus/mdev/devices/$u1/migration | tr '\n' ' ')" "ecc memory profile queues "
expect_eq "nic migration/ files" "$(ls /sys/bus/mdev/devices/$u4/migration | tr '\n' ' ')" "device_model version "
echo "--- tree:"
cd "$(readlink -f $VMREF_PARENT)" && find . -path ./power -prune -o -print | grep -v '/power' | sort | sed 's#^\./##'
echo "--- vmref_status: $(cat /sys/bus/mdev/devices/$u1/vmref_status)"
