# Engine mechanism under injected driver faults, on the real 6.1 kernel and the reference
# driver: a failed arc reports the state after it, ERROR needs a reset, STOP_COPY -> PRE_COPY
# is refused, a failed read gives EIO, a rejected load is reset and retried.
need_engine
P=$VMREF_PARAMS
a=$(mk nic); b=$(mk nic)
disarm() { for p in fail_arc_from fail_arc_to error_arc_from error_arc_to fail_read_after; do echo -1 >"$P/$p"; done; echo 0 >"$P/reject_load"; }

# 1. RUNNING -> RUNNING_P2P (the first arc of RUNNING -> STOP_COPY with P2P) fails with EBUSY on the way to STOP_COPY
echo "$a" >"$P/fault_dev"; echo 2 >"$P/fail_arc_from"; echo 5 >"$P/fail_arc_to"; echo 16 >"$P/fail_arc_errno"; echo 1 >"$P/fail_arc_count"
engine /tmp/f1.out "$(open_req "$a" ',"id":1')" '{"id":2,"op":"set_state","state":"STOP_COPY"}' \
  '{"id":3,"op":"get_state"}' '{"id":4,"op":"set_state","state":"STOP_COPY"}' '{"id":5,"op":"data_size"}' \
  '{"id":6,"op":"set_state","state":"PRE_COPY"}' '{"id":7,"op":"get_state"}' '{"id":8,"op":"set_state","state":"RUNNING"}' '{"id":9,"op":"quit"}'
jcheck "failed SET: EBUSY, from RUNNING, device_state RUNNING" /tmp/f1.out '(x => x.ok === false && x.errno === 16 && x.error === "EBUSY" && x.from === 2 && x.requested === 3 && x.device_state === 2)(r.find(x => x.id === 2))'
jcheck "retry succeeds and opens a data session" /tmp/f1.out '(x => x.ok && x.data_fd_opened)(r.find(x => x.id === 4))'
jcheck "data_size in STOP_COPY" /tmp/f1.out '(x => x.ok && x.stop_copy_length > 0)(r.find(x => x.id === 5))'
jcheck "STOP_COPY -> PRE_COPY refused without touching the device" /tmp/f1.out 'r.find(x => x.id === 6).code === "UNSAFE_TRANSITION" && r.find(x => x.id === 7).state_name === "STOP_COPY"'
jcheck "back to RUNNING drops the data_fd" /tmp/f1.out '(x => x.ok && x.data_fd_closed && !x.data_session)(r.find(x => x.id === 8))'
disarm

# 2. STOP -> STOP_COPY sends the device to ERROR
echo 1 >"$P/error_arc_from"; echo 3 >"$P/error_arc_to"; echo 1 >"$P/error_arc_count"
engine /tmp/f2.out "$(open_req "$a" ',"id":1')" '{"id":2,"op":"set_state","state":"STOP"}' \
  '{"id":3,"op":"set_state","state":"STOP_COPY"}' '{"id":4,"op":"set_state","state":"RUNNING"}' '{"id":5,"op":"reset"}' '{"id":6,"op":"get_state"}' '{"id":7,"op":"quit"}'
jcheck "ERROR arc: failure reports device_state ERROR" /tmp/f2.out '(x => x.ok === false && x.device_state === 0 && x.device_state_name === "ERROR")(r.find(x => x.id === 3))'
jcheck "SET in ERROR refused: DEVICE_IN_ERROR" /tmp/f2.out 'r.find(x => x.id === 4).code === "DEVICE_IN_ERROR"'
jcheck "reset brings RUNNING" /tmp/f2.out 'r.find(x => x.id === 5).state_name === "RUNNING" && r.find(x => x.id === 6).state_name === "RUNNING"'
disarm

# 3. a data_fd read fails mid-save
echo 1000 >"$P/fail_read_after"; echo 5 >"$P/fail_read_errno"; echo 1 >"$P/fail_read_count"
engine /tmp/f3.out "$(open_req "$a" ',"id":1')" '{"id":2,"op":"set_state","state":"STOP_COPY"}' \
  '{"id":3,"op":"save_begin","path":"/tmp/f3.vfm","header":{"t":3}}' '{"id":4,"op":"save"}' '{"id":5,"op":"save_end","abort":true}' \
  '{"id":6,"op":"reset"}' '{"id":7,"op":"quit"}'
jcheck "read failure surfaces as EIO" /tmp/f3.out '(x => x.ok === false && x.errno === 5 && x.error === "EIO")(r.find(x => x.id === 4))'
jcheck "aborted stream and reset" /tmp/f3.out 'r.find(x => x.id === 5).complete === false && r.find(x => x.id === 6).state_name === "RUNNING"'
disarm
engine /tmp/f3b.out '{"id":1,"op":"verify","in_path":"/tmp/f3.vfm"}'
jcheck "the aborted stream does not verify" /tmp/f3b.out '[].concat(r)[0].code === "STREAM_CORRUPT"'

# 4. the destination driver rejects the load on RESUMING -> STOP
check "fill a" vmtest fill "$a" 91
engine /tmp/f4.out "$(open_req "$a" ',"id":1')" '{"id":2,"op":"set_state","state":"STOP_COPY"}' \
  '{"id":3,"op":"save_begin","path":"/tmp/f4.vfm","header":{"t":4}}' '{"id":4,"op":"save"}' '{"id":5,"op":"save_end"}' '{"id":6,"op":"set_state","state":"RUNNING"}' '{"id":7,"op":"quit"}'
echo "$b" >"$P/fault_dev"; echo 1 >"$P/reject_load"; echo 22 >"$P/reject_load_errno"
engine /tmp/f5.out "$(open_req "$b" ',"id":1')" '{"id":2,"op":"load_begin","path":"/tmp/f4.vfm"}' '{"id":3,"op":"set_state","state":"RESUMING"}' \
  '{"id":4,"op":"load"}' '{"id":5,"op":"set_state","state":"STOP"}' '{"id":6,"op":"get_state"}' '{"id":7,"op":"reset"}' \
  '{"id":8,"op":"set_state","state":"RESUMING"}' '{"id":9,"op":"load_end"}' '{"id":10,"op":"load_begin","path":"/tmp/f4.vfm"}' '{"id":11,"op":"load"}' \
  '{"id":12,"op":"set_state","state":"STOP"}' '{"id":13,"op":"set_state","state":"RUNNING"}' '{"id":14,"op":"quit"}'
jcheck "header read before the device is touched" /tmp/f5.out 'JSON.parse(r.find(x => x.id === 2).header).t === 4'
jcheck "rejected load: RESUMING -> STOP fails EINVAL with the state after" /tmp/f5.out '(x => x.ok === false && x.errno === 22 && typeof x.device_state === "number")(r.find(x => x.id === 5))'
jcheck "reset, then a second load succeeds" /tmp/f5.out 'r.find(x => x.id === 7).ok && r.find(x => x.id === 11).complete && r.find(x => x.id === 12).ok && r.find(x => x.id === 13).ok'
check "b holds a's state after the retry" vmtest check "$b" 91
disarm
rm -f /tmp/f3.vfm /tmp/f4.vfm
