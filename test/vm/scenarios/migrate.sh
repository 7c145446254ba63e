# Full v2 flow with the static C client: STOP_COPY, memory compared (4 MiB devices).
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
vmtest info "$a" || fail info
vmtest migrate "$a" "$b" --seed 11 || fail "migrate"
