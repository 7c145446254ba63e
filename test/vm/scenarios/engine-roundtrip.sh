# The project's engine (JSON lines) against the real driver: save/load round trips at 4 KiB
# (nic) and 256 MiB (gfx), memory compared; PRE_COPY with precopy_info; the engine's own
# stream checksum rejects a corrupted file.
need_engine
n1=$(mk nic); n2=$(mk nic)
check "fill nic 1 (4 KiB)" vmtest fill "$n1" 81
engine /tmp/e1.out '{"op":"hello"}' "$(open_req "$n1")" '{"op":"flags"}' \
  '{"op":"set_state","state":"STOP_COPY"}' '{"op":"save_begin","path":"/tmp/n.vfm","header":{"test":"nic"}}' \
  '{"op":"save"}' '{"op":"save_end"}' '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "engine save of the 4 KiB nic: every request ok" /tmp/e1.out 'r.filter(x => !x.event).every(x => x.ok)'
jcheck "flags report STOP_COPY|P2P|PRE_COPY" /tmp/e1.out 'r.find(x => x.op === "flags").migration_flags === 7'
engine /tmp/e2.out "$(open_req "$n2")" '{"op":"set_state","state":"RESUMING"}' \
  '{"op":"load_begin","path":"/tmp/n.vfm"}' '{"op":"load"}' '{"op":"load_end"}' \
  '{"op":"set_state","state":"STOP"}' '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "engine load into nic 2: every request ok" /tmp/e2.out 'r.filter(x => !x.event).every(x => x.ok)'
check "nic 2 holds nic 1's 4 KiB" vmtest check "$n2" 81

a=$(mk gfx-4GB); b=$(mk gfx-4GB)
expect_eq "memory=256 on both" "$(wr $(mig $a memory) 256)$(wr $(mig $b memory) 256)" OKOK
check "fill a (256 MiB)" vmtest fill "$a" 82
engine /tmp/e3.out "$(open_req "$a")" '{"op":"set_state","state":"STOP_COPY"}' \
  '{"op":"save_begin","path":"/tmp/a.vfm","header":{"test":"gfx"}}' '{"op":"save","progress":false}' '{"op":"save_end"}' \
  '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "engine save of 256 MiB ok" /tmp/e3.out 'r.filter(x => !x.event).every(x => x.ok) && r.find(x => x.op === "save").bytes >= 268435456'
engine /tmp/e4.out "$(open_req "$b")" '{"op":"set_state","state":"RESUMING"}' \
  '{"op":"load_begin","path":"/tmp/a.vfm"}' '{"op":"load","progress":false}' '{"op":"load_end"}' \
  '{"op":"set_state","state":"STOP"}' '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "engine load of 256 MiB ok" /tmp/e4.out 'r.filter(x => !x.event).every(x => x.ok)'
check "b holds a's 256 MiB" vmtest check "$b" 82

# a corrupted stream file: the engine's checksum (or the driver) rejects it
size=$(stat -c %s /tmp/a.vfm)
printf '\377' | dd of=/tmp/a.vfm bs=1 seek=$((size / 2)) conv=notrunc status=none
engine /tmp/e5.out "$(open_req "$b")" '{"op":"set_state","state":"RESUMING"}' \
  '{"op":"load_begin","path":"/tmp/a.vfm"}' '{"op":"load","progress":false}' '{"op":"get_state"}' \
  '{"op":"reset"}' '{"op":"get_state"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "corrupted file: load fails" /tmp/e5.out 'r.find(x => x.op === "load" && !x.event).ok === false'
jcheck "reset brings the destination back to RUNNING" /tmp/e5.out 'r.filter(x => x.op === "get_state").pop().state_name === "RUNNING"'
rm -f /tmp/a.vfm /tmp/n.vfm

# PRE_COPY through the engine
expect_eq "memory=8 on both" "$(wr $(mig $a memory) 8)$(wr $(mig $b memory) 8)" OKOK
check "fill a" vmtest fill "$a" 83
engine /tmp/e6.out "$(open_req "$a")" '{"op":"set_state","state":"PRE_COPY"}' '{"op":"precopy_info"}' \
  '{"op":"save_begin","path":"/tmp/p.vfm","header":{"test":"precopy"}}' '{"op":"save","mode":"until_empty"}' \
  '{"op":"precopy_info"}' '{"op":"set_state","state":"STOP_COPY"}' '{"op":"save"}' '{"op":"save_end"}' \
  '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "engine PRE_COPY round then STOP_COPY: every request ok" /tmp/e6.out 'r.filter(x => !x.event).every(x => x.ok)'
jcheck "precopy_info: initial bytes first, none after the round" /tmp/e6.out \
  '(p => p[0].initial_bytes >= 8388608 && p[1].initial_bytes === 0)(r.filter(x => x.op === "precopy_info" && !x.event))'
engine /tmp/e7.out "$(open_req "$b")" '{"op":"set_state","state":"RESUMING"}' \
  '{"op":"load_begin","path":"/tmp/p.vfm"}' '{"op":"load"}' '{"op":"load_end"}' \
  '{"op":"set_state","state":"RUNNING"}' '{"op":"close"}' '{"op":"quit"}'
jcheck "load of the PRE_COPY stream ok" /tmp/e7.out 'r.filter(x => !x.event).every(x => x.ok)'
check "b holds a's memory" vmtest check "$b" 83
