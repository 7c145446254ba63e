# vmtest-kernels: =6.1
# The cli-migrate scenario again, with the CLI a user installs (issue #16): run.sh packs this
# checkout (`npm pack`) and installs the tarball as `npm install -g` does, into
# <build>/package, before booting; a file missing from the package fails here. One kernel:
# the package is the same on every kernel.
PKG="$(dirname "$VMTEST_BIN")/package"
CLI="$PKG/bin/vfio-mig"
[ -x "$CLI" ] || fail "no installed package at $PKG (run.sh installs it when package-cli is among the scenarios)"
ENGINE="$PKG/lib/node_modules/vfio-mig/engine/prebuilt/linux-x64/vfio-mig-engine"
cli /tmp/engine-path.json engine path --json
expect_eq "engine path: exit" "$CLI_RC" 0
jcheck "the installed CLI uses the package's prebuilt static engine" /tmp/engine-path.json \
  "r.result.source === 'prebuilt' && r.result.path === '$ENGINE'"
case "$(file -b "$ENGINE")" in *"statically linked"*) pass "prebuilt engine is static" ;; *) fail "prebuilt engine not static: $(file -b "$ENGINE")" ;; esac
. "$VMTEST_REPO/test/vm/scenarios/cli-migrate.sh"
