# 256 MiB devices: save to a file and load it into another device; also a direct migration.
a=$(mk gfx-4GB); b=$(mk gfx-8GB)
expect_eq "a memory=256" "$(wr $(mig $a memory) 256)" OK
expect_eq "b memory=256" "$(wr $(mig $b memory) 256)" OK
check "fill a (256 MiB)" vmtest fill "$a" 41
check "save a" vmtest save "$a" /tmp/big.state
ls -l /tmp/big.state
check "load into b (a gfx-8GB with the same parameters)" vmtest load "$b" /tmp/big.state
check "b holds a's pattern" vmtest check "$b" 41
rm -f /tmp/big.state
check "direct migration b -> a, 256 MiB" vmtest migrate "$b" "$a" --seed 42
