# vmtest-needs: mtty
# Compatibility for a device without vendor metadata (issue #11): the upstream mtty sample
# publishes nothing, so params/compat/select decide by the device's kernel identity and the
# shipped `mtty` rule set: mtty-2 -> mtty-2 compatible (exit 0), mtty-2 -> mtty-1 not (exit 1)
# with a reason naming the type.
need_cli
need_mtty
s=$(mk_mtty mtty-2); d2=$(mk_mtty mtty-2); d1=$(mk_mtty mtty-1)
cli /tmp/params.json params "$s" --json
expect_eq "params of an mtty-2: exit" "$CLI_RC" 0
jcheck "params: no vendor metadata, the kernel identity instead" /tmp/params.json \
  'r.result.scheme === "none" && r.result.identity.driver === "mtty" && r.result.identity.mdev_type === "mtty-2" && r.result.identity.bus === "mdev"'
cli /tmp/c22.json compat --source "$s" --dest mtty-2 --json
expect_eq "compat mtty-2 -> type mtty-2: exit" "$CLI_RC" 0
jcheck "compat mtty-2 -> mtty-2: compatible by rule set mtty" /tmp/c22.json \
  'r.result.compatible === true && r.result.basis.kind === "rule_set" && r.result.basis.rule_set === "mtty"'
cli /tmp/c2d.json compat --source "$s" --dest "$d2" --json
expect_eq "compat mtty-2 -> free mtty-2 device: exit" "$CLI_RC" 0
cli /tmp/c21.json compat --source "$s" --dest mtty-1 --json
expect_eq "compat mtty-2 -> type mtty-1: exit" "$CLI_RC" 1
jcheck "compat mtty-2 -> mtty-1: IDENTITY_MISMATCH naming the type" /tmp/c21.json \
  'r.result.compatible === false && r.result.reasons.some(x => x.code === "IDENTITY_MISMATCH" && x.field === "mdev_type" && /mtty-2/.test(x.message) && /mtty-1/.test(x.message))'
cli /tmp/sel.json select --source "$s" --all --json
expect_eq "select --source mtty-2: exit" "$CLI_RC" 0
jcheck "select: only mtty-2 destinations accepted, the free device first" /tmp/sel.json \
  'r.result.candidates.length >= 1 && r.result.candidates.every(c => c.type_id === "mtty-2") && r.result.candidates[0].device === "'"$d2"'"'
jcheck "select: mtty-1 rejected with the type named" /tmp/sel.json \
  'JSON.stringify(r.result.rejected ?? []).includes("mtty-1")'
cli /tmp/params-out.txt params "$s" --out /tmp/mtty2.list.json
expect_eq "params --out FILE: exit" "$CLI_RC" 0
cli /tmp/sel1.json select --source /tmp/mtty2.list.json --json
expect_eq "select from a parameter list file: exit" "$CLI_RC" 0
cli /tmp/c1.txt compat --source "$s" --dest mtty-1
expect_eq "human compat mtty-2 -> mtty-1: exit" "$CLI_RC" 1
cat /tmp/c1.txt
grep -q "mtty-1" /tmp/c1.txt || fail "human compat output does not name mtty-1"
rm_mdev "$d1"
