# PRE_COPY emulated by the driver: initial data, PRECOPY_INFO, dirty pages, then STOP_COPY.
a=$(mk gfx-8GB); b=$(mk gfx-8GB)
vmtest migrate "$a" "$b" --precopy --seed 31 || fail "migrate --precopy"
vmtest migrate "$a" "$b" --precopy --p2p --seed 32 || fail "migrate --precopy --p2p"
