# vfio-mig prepare killed between two writes on real sysfs attributes: the next prepare rolls
# the first write back (read back from the driver), then prepares. The pause comes from the
# test hook VFIO_MIG_TEST_PAUSE, which is ignored for the root `/`: the root is given as a
# link to `/`, so the lock and journal are the host's own /run/vfio-mig.
need_cli
src=$(mk gfx-4GB); dst=$(mk gfx-8GB)
expect_eq "src queues=2" "$(wr $(mig $src queues) 2)" OK
cli /tmp/p.json params "$src" -o /tmp/list.json
ln -sfn / /tmp/hostroot
echo "+ VFIO_MIG_TEST_PAUSE=write1:60000 vfio-mig prepare $dst ... &"
VFIO_MIG_TEST_PAUSE=write1:60000 $CLI prepare "$dst" --params /tmp/list.json --sysfs-root /tmp/hostroot >/tmp/crash.out 2>/tmp/crash.err &
pp=$!
i=0; while ! grep -q "test pause at write1" /tmp/crash.err && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
check "the prepare paused after its first write" grep -q "test pause at write1" /tmp/crash.err
kill -9 $pp; wait $pp 2>/dev/null
expect_eq "half prepared: dst memory written" "$(rd $(mig $dst memory))" 4
expect_eq "half prepared: dst queues not yet" "$(rd $(mig $dst queues))" 1
check "the journal is left behind" test -s "/run/vfio-mig/$dst.journal"
cli /tmp/prep.json prepare "$dst" --params /tmp/list.json --json
expect_eq "next prepare exit" "$CLI_RC" 0
jcheck "it rolled back memory=8 first, then prepared with 2 writes" /tmp/prep.json \
  'r.result.recovered && r.result.recovered.pid > 0 && deq(r.result.recovered.restored, [{param: "memory", value: 8, ok: true}]) && r.result.status === "prepared" && r.result.writes === 2'
check "the journal is gone" test ! -e "/run/vfio-mig/$dst.journal"
expect_eq "dst memory" "$(rd $(mig $dst memory))" 4
expect_eq "dst queues" "$(rd $(mig $dst queues))" 2
rm -f /tmp/hostroot
