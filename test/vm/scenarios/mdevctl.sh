# mdevctl (Debian 1.2.0) sees the driver's types and free instances.
command -v mdevctl >/dev/null || skip "mdevctl not installed"
a=$(mk gfx-4GB)
mdevctl types --dumpjson >/tmp/types.json || fail "mdevctl types --dumpjson"
cat /tmp/types.json
check "mdevctl lists the three vmref types with free instances" node -e '
const j = JSON.parse(require("fs").readFileSync("/tmp/types.json","utf8"));
const want = {"vmref-gfx-4GB":3,"vmref-gfx-8GB":2,"vmref-nic":4};
const got = {};
for (const parent of j) for (const [p, types] of Object.entries(parent)) if (p === "vmref")
  for (const t of types) for (const [id, v] of Object.entries(t)) got[id] = v.available_instances;
console.log(JSON.stringify(got));
process.exit(JSON.stringify(got) === JSON.stringify(want) ? 0 : 1);'
mdevctl list || true
