# P2P path: RUNNING -> RUNNING_P2P -> STOP_COPY on the source, RESUMING -> RUNNING_P2P -> RUNNING on the destination.
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
vmtest migrate "$a" "$b" --p2p --seed 21 || fail "migrate --p2p"
