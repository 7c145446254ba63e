# Remove while open waits for the user to close; module unload and reload leave nothing behind.
a=$(mk gfx-4GB)
vmtest hold "$a" 3 >/tmp/hold.out & hp=$!
i=0; while ! grep -q opened /tmp/hold.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
t0=$(cut -d' ' -f1 /proc/uptime)
rm_mdev "$a"
t1=$(cut -d' ' -f1 /proc/uptime)
wait $hp
check "remove of an open device waited for the close ($t0 -> $t1)" awk -v a="$t0" -v b="$t1" 'BEGIN{exit !(b - a >= 1)}'
check "the device is gone" test ! -e "/sys/bus/mdev/devices/$a"
o=$(mk gfx-4GB)
check "a data fd outliving its device's close and removal is ended, safely" vmtest orphan "$o"
b=$(mk nic); c=$(mk gfx-8GB)
rm_mdev "$b"; rm_mdev "$c"
check "rmmod vfio_mig_ref" rmmod vfio_mig_ref
check "parent gone" test ! -e /sys/class/mdev_bus/vmref
check "insmod again" insmod "$VMTEST_BUILD/driver/vfio_mig_ref.ko"
expect_eq "types back" "$(ls $VMREF_TYPES | tr '\n' ' ')" "vmref-gfx-4GB vmref-gfx-8GB vmref-nic "
expect_eq "instances back" "$(cat $VMREF_TYPES/vmref-gfx-8GB/available_instances)" 2
d=$(mk gfx-4GB); e=$(mk gfx-4GB)
check "migration works after the reload" vmtest migrate "$d" "$e" --seed 121
if dmesg | grep -E "BUG:|Oops|general protection|refcount_t|use-after-free|list_del corruption"; then fail "kernel complained (see above)"; fi
pass "no BUG/Oops in dmesg"
