#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The build's own promises, checked with `make -n` in an empty build
# directory (nothing is compiled):
# - each aggregate target builds every product it needs, whatever order
#   mk/*.mk are read in (a prerequisite naming a variable that a later
#   mk/*.mk defines expands to nothing: bench-build once lost the daemon);
# - reading the Makefile runs no pkg-config, so nothing alarming appears
#   before `make check` / `make run` have installed the -dev packages;
# - intermediate objects are kept (a second run recompiles nothing).
set -u
cd "$(dirname "$0")/.."
# Not the settings of a surrounding make (B=build/asan, SANITIZE=...).
unset MAKEFLAGS MAKEOVERRIDES MFLAGS MAKELEVEL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
B=$tmp/build
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

# builds TARGET PRODUCT...: `make -n TARGET` creates each $B/PRODUCT (as the
# output of the compiler, of ar or of ln).
builds() {
    target=$1
    shift
    if ! make -n B="$B" "$target" >"$tmp/out" 2>"$tmp/err"; then
        not_ok "make -n $target: $(head -c 300 "$tmp/err")"
        return
    fi
    missing=
    for p in "$@"; do
        re=$(printf '%s' "$B/$p" | sed 's/[].[*^$()+?{|\\]/\\&/g')
        grep -Eq "(-o |rcs |ln -sf [^ ]+ )$re( |$)" "$tmp/out" ||
            missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        ok "make $target builds $*"
    else
        not_ok "make $target does not build:$missing"
    fi
}

ctl=
[ -f src/ctl/main.c ] && ctl=iothreadctl
lib="libiothread.a libiothread.so.0.1.0 libiothread.so.0 libiothread.so"
# The layers under the daemon (docs/architecture.md), one archive each.
layers="libiothread-common.a libiothread-qmp.a libiothread-block.a
        libiothread-nbd.a libiothreadd.a"
builds all $lib $layers iothreadd $ctl examples/hello-iothread
builds run-daemon $layers iothreadd $ctl
builds run-example examples/hello-iothread
builds bench-build iothreadd bench/wake bench/bh
builds install libiothread.a libiothread.so.0.1.0 iothreadd $ctl
builds check-now $lib $layers iothreadd $ctl tests/test-aio \
    tests/nbd/nbd-test-server

# A pkg-config that complains as on a machine without the -dev packages.
cat >"$tmp/pkg-config" <<EOT
#!/bin/sh
echo "\$*" >>"$tmp/pkg-config.calls"
echo "Package \$2 was not found in the pkg-config search path." >&2
exit 1
EOT
chmod +x "$tmp/pkg-config"
for target in deps clean; do
    make -n B="$B" PKG_CONFIG="$tmp/pkg-config" "$target" \
        >"$tmp/out" 2>&1
    if [ -e "$tmp/pkg-config.calls" ] || grep -q "not found" "$tmp/out"; then
        not_ok "make $target runs pkg-config while reading the Makefile: $(cat "$tmp/pkg-config.calls" 2>/dev/null | tr '\n' ';')"
        rm -f "$tmp/pkg-config.calls"
    else
        ok "make $target runs no pkg-config before the dependency step"
    fi
done

if make -n B="$B" all 2>/dev/null | grep -E "^rm .*$B/obj/" >"$tmp/out"; then
    not_ok "make all deletes intermediate objects: $(head -c 200 "$tmp/out")"
else
    ok "make all keeps intermediate objects"
fi

echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
