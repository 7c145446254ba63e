# The destination checks the saved header on RESUMING -> STOP: parameters must match.
a=$(mk gfx-4GB); b=$(mk gfx-4GB); n1=$(mk nic); n2=$(mk nic)
check "fill a" vmtest fill "$a" 51
check "save a" vmtest save "$a" /tmp/a.state
expect_eq "b queues=2" "$(wr $(mig $b queues) 2)" OK
vmtest load "$b" /tmp/a.state; rc=$?
expect_eq "load with queues 1 vs 2 rejected (exit 3)" "$rc" 3
grep -q "queues differs" /sys/bus/mdev/devices/$b/vmref_status && pass "reason: $(cat /sys/bus/mdev/devices/$b/vmref_status)" || fail "no reason in vmref_status"
expect_eq "b queues=1" "$(wr $(mig $b queues) 1)" OK
expect_eq "b memory=8" "$(wr $(mig $b memory) 8)" OK
vmtest load "$b" /tmp/a.state; rc=$?
expect_eq "load with memory 4 vs 8 rejected" "$rc" 3
expect_eq "b memory=4" "$(wr $(mig $b memory) 4)" OK
expect_eq "b ecc=0" "$(wr $(mig $b ecc) 0)" OK
vmtest load "$b" /tmp/a.state; rc=$?
expect_eq "load with ecc 1 vs 0 rejected" "$rc" 3
expect_eq "b ecc=1" "$(wr $(mig $b ecc) 1)" OK
check "load with equal parameters accepted" vmtest load "$b" /tmp/a.state
check "b holds a's pattern" vmtest check "$b" 51
# v4: version must match
check "save nic 1 (ref-nic v2)" vmtest save "$n1" /tmp/n.state
expect_eq "n2 version=v1" "$(wr $(mig $n2 version) v1)" OK
vmtest load "$n2" /tmp/n.state; rc=$?
expect_eq "load v2 into v1 rejected" "$rc" 3
expect_eq "n2 device_model=ref-nic-compat" "$(wr $(mig $n2 device_model) vfio-mig.dev/ref-nic-compat)" OK
vmtest load "$n2" /tmp/n.state; rc=$?
expect_eq "load into another model rejected" "$rc" 3
expect_eq "n2 device_model=ref-nic (version v2)" "$(wr $(mig $n2 device_model) vfio-mig.dev/ref-nic)" OK
check "load with same model and version accepted" vmtest load "$n2" /tmp/n.state
# a gfx state into a nic device
vmtest load "$n2" /tmp/a.state; rc=$?
expect_eq "gfx state into a nic rejected" "$rc" 3
