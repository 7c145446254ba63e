# vfio-mig migrate send / migrate receive: two processes in one guest standing for two hosts,
# over a UNIX socket (the receiver listening) and over the exec form (the sender runs the
# receiver with its stdin/stdout as the channel, as `ssh dst vfio-mig migrate receive ...
# --from stdio` would); state compared; PRE_COPY rounds acknowledged before the stop.
need_cli
need_engine
t0=$(date +%s.%N)
a=$(mk gfx-4GB); b=$(mk gfx-4GB)
expect_eq "memory=16 on both" "$(wr $(mig $a memory) 16)$(wr $(mig $b memory) 16)" OKOK

check "fill a" vmtest fill "$a" 121
rm -f /tmp/r.sock
$CLI migrate receive "$b" --from unix-listen:/tmp/r.sock --json >/tmp/recv1.json & rp=$!
check "receiver listening" wait_sock /tmp/r.sock
cli /tmp/send1.json migrate send "$a" --to unix:/tmp/r.sock --precopy-rounds 0 --json
wait $rp; rrc=$?
expect_eq "unix, no PRE_COPY: send exit" "$CLI_RC" 0
expect_eq "unix, no PRE_COPY: receive exit" "$rrc" 0
check "b holds a's memory" vmtest check "$b" 121
jcheck "send: source STOP, destination RUNNING, no rounds" /tmp/send1.json \
  'r.status === "ok" && r.result.source_state === "STOP" && r.result.dest_state === "RUNNING" && r.result.precopy_rounds.length === 0 && r.result.dest.device === "'"$b"'"'
jcheck "receive: RUNNING, names the source" /tmp/recv1.json \
  'r.status === "ok" && r.result.final_state === "RUNNING" && r.result.source.device === "'"$a"'" && r.result.precopy_bytes === 0'

# PRE_COPY rounds: the destination accepts them (written to its device) before the source stops.
check "fill b" vmtest fill "$b" 122
rm -f /tmp/r.sock
$CLI migrate receive "$a" --from unix-listen:/tmp/r.sock --json >/tmp/recv2.json & rp=$!
check "receiver listening" wait_sock /tmp/r.sock
cli /tmp/send2.json migrate send "$b" --to unix:/tmp/r.sock --precopy-rounds 3 --max-downtime 0 --json
wait $rp; rrc=$?
expect_eq "unix, PRE_COPY: send exit" "$CLI_RC" 0
expect_eq "unix, PRE_COPY: receive exit" "$rrc" 0
check "a holds b's memory" vmtest check "$a" 122
jcheck "PRE_COPY rounds ran and were acknowledged" /tmp/send2.json \
  'r.result.precopy_rounds.length >= 1 && r.result.ack_ms >= 0 && r.result.precopy_rounds[0].bytes > 0'
jcheck "the destination wrote the PRE_COPY bytes before the stop" /tmp/recv2.json \
  'r.result.precopy_bytes > 0 && r.result.precopy_bytes < r.result.payload_bytes'

# exec form: the receiver's stdin/stdout is the channel, its report on stderr.
check "fill a" vmtest fill "$a" 123
cli /tmp/send3.json migrate send "$a" --to "exec:$CLI migrate receive $b --from stdio --json 2>/tmp/recv3.json" --precopy-rounds 2 --json
expect_eq "exec: send exit" "$CLI_RC" 0
check "b holds a's memory (exec form)" vmtest check "$b" 123
jcheck "exec: the receiver reported on stderr, RUNNING" /tmp/recv3.json 'r.status === "ok" && r.result.final_state === "RUNNING"'
jcheck "exec: channel named" /tmp/send3.json 'r.result.channel.startsWith("exec:")'
echo "wall: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
