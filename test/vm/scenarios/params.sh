# Migration parameters: read, write, validation (EINVAL), refused combination, EBUSY; v4 model/version.
a=$(mk gfx-4GB)
expect_eq "memory init" "$(rd $(mig $a memory))" 4
expect_eq "ecc init" "$(rd $(mig $a ecc))" 1
expect_eq "profile init" "$(rd $(mig $a profile))" v2
expect_eq "queues init" "$(rd $(mig $a queues))" 1
# valid writes
expect_eq "memory=256" "$(wr $(mig $a memory) 256)" OK
expect_eq "memory reads back" "$(rd $(mig $a memory))" 256
expect_eq "memory=0 (off: the type's default size)" "$(wr $(mig $a memory) 0)" OK
expect_eq "queues=4" "$(wr $(mig $a queues) 4)" OK
expect_eq "ecc=false" "$(wr $(mig $a ecc) false)" OK
expect_eq "ecc reads 0" "$(rd $(mig $a ecc))" 0
expect_eq "ecc=1" "$(wr $(mig $a ecc) 1)" OK
expect_eq "ecc=n" "$(wr $(mig $a ecc) n)" OK
expect_eq "ecc=true" "$(wr $(mig $a ecc) true)" OK
# type and range validation
expect_eq "memory=257 (out of 1-256)" "$(wr $(mig $a memory) 257)" EINVAL
expect_eq "memory=1024 (allowed on gfx-8GB only)" "$(wr $(mig $a memory) 1024)" EINVAL
expect_eq "memory=abc" "$(wr $(mig $a memory) abc)" EINVAL
expect_eq "memory=-1" "$(wr $(mig $a memory) -1)" EINVAL
expect_eq "queues=0" "$(wr $(mig $a queues) 0)" EINVAL
expect_eq "queues=5 (out of 1-4)" "$(wr $(mig $a queues) 5)" EINVAL
expect_eq "ecc=maybe" "$(wr $(mig $a ecc) maybe)" EINVAL
expect_eq "profile=v3 (gfx-8GB only)" "$(wr $(mig $a profile) v3)" EINVAL
expect_eq "profile=V2" "$(wr $(mig $a profile) V2)" EINVAL
# the refused combination: ecc=1 with profile=v1, in either order
expect_eq "profile=v1 while ecc=1 refused" "$(wr $(mig $a profile) v1)" EINVAL
expect_eq "profile unchanged" "$(rd $(mig $a profile))" v2
expect_eq "ecc=0" "$(wr $(mig $a ecc) 0)" OK
expect_eq "profile=v1 with ecc=0" "$(wr $(mig $a profile) v1)" OK
expect_eq "ecc=1 while profile=v1 refused" "$(wr $(mig $a ecc) 1)" EINVAL
expect_eq "ecc unchanged" "$(rd $(mig $a ecc))" 0
# gfx-8GB ranges
b=$(mk gfx-8GB)
expect_eq "gfx-8GB memory init" "$(rd $(mig $b memory))" 8
expect_eq "gfx-8GB memory=1024" "$(wr $(mig $b memory) 1024)" OK
expect_eq "gfx-8GB memory=600" "$(wr $(mig $b memory) 600)" EINVAL
expect_eq "gfx-8GB profile=v3" "$(wr $(mig $b profile) v3)" OK
expect_eq "gfx-8GB queues=8" "$(wr $(mig $b queues) 8)" OK
# EBUSY while the device is open (between open_device and close_device)
check "EBUSY while open, accepted after close" vmtest ebusy "$a" queues 2
expect_eq "queues after the EBUSY test" "$(rd $(mig $a queues))" 2
# memory size follows the parameter (region size)
expect_eq "memory=16" "$(wr $(mig $a memory) 16)" OK
vmtest info "$a" | tee /tmp/info.txt
check "region size follows memory=16" grep -q "region_size=16777216" /tmp/info.txt
expect_eq "memory=0" "$(wr $(mig $a memory) 0)" OK
vmtest info "$a" | tee /tmp/info.txt
check "memory=0 gives the type's default (4 MiB)" grep -q "region_size=4194304" /tmp/info.txt
# RFC v4: model and version
n=$(mk nic)
expect_eq "nic device_model init" "$(rd $(mig $n device_model))" vfio-mig.dev/ref-nic
expect_eq "nic version init" "$(rd $(mig $n version))" v2
expect_eq "version=v1" "$(wr $(mig $n version) v1)" OK
expect_eq "version=v3 refused" "$(wr $(mig $n version) v3)" EINVAL
expect_eq "device_model=ref-nic-compat" "$(wr $(mig $n device_model) vfio-mig.dev/ref-nic-compat)" OK
expect_eq "version reset to the model's default" "$(rd $(mig $n version))" v1
expect_eq "version=v2 refused for ref-nic-compat" "$(wr $(mig $n version) v2)" EINVAL
expect_eq "device_model=unknown refused" "$(wr $(mig $n device_model) vendor.example/x)" EINVAL
expect_eq "device_model back to ref-nic" "$(wr $(mig $n device_model) vfio-mig.dev/ref-nic)" OK
expect_eq "version reset to v2" "$(rd $(mig $n version))" v2
check "nic EBUSY while open" vmtest ebusy "$n" version v1
