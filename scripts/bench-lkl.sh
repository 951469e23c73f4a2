#!/bin/sh
# LKL forwarding figures (printed, not checked), all under TCG, from one run
# each (absolute times move with the machine's load: compare the ratios):
#   - a syscall forwarded to LKL (getuid32) next to our native null syscall
#     (getpid) in the same x86/lkl-qemu kernel, and the Linux guest's null
#     syscall when scripts/bench-syscall.sh has measured it (goal: forwarded
#     at most 2x native);
#   - write() throughput to a file through LKL (/tmp inside LKL) next to our
#     native /tmp (x86/qemu).
# Needs a real LKL tree: EMBCTL_LKL_TREE=DIR (e.g. a local ambergroup-labs/lkl
# checkout). Without one it prints SKIPPED and exits 0 with no figures.
# Usage: EMBCTL_LKL_TREE=DIR scripts/bench-lkl.sh
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${EMBCTL_LKL_TREE:-}" ]; then
    echo "SKIPPED bench-lkl: EMBCTL_LKL_TREE is not set (no LKL tree to build x86/lkl-qemu from); no figures"
    exit 0
fi
embctl=${EMBCTL:-$ws/target/release/embctl}
if [ -z "${EMBCTL:-}" ]; then (cd "$ws" && cargo build --release -q -p embctl); fi
out="$ws/build/bench"
mkdir -p "$out"
CALLS=${CALLS:-200000}
WRITE_MIB=${WRITE_MIB:-2}

echo "== benchmark binary (build image)"
"$embctl" --workspace "$ws" shell -- sh -c 'gcc -m32 -static -O2 -o /ws/build/bench/bench /ws/scripts/bench-syscall/bench.c'

figure() { sed -n "s/.*$1: .*: \([0-9.]*\) ns\/call.*/\1/p" "$2" | tr -d '\r' | head -1; }

echo "== x86/lkl-qemu (TCG), LKL tree $EMBCTL_LKL_TREE"
lkl_log="$out/embox-lkl.log"
"$embctl" --workspace "$ws" run -t x86/lkl-qemu --lkl-tree "$EMBCTL_LKL_TREE" --no-kvm --timeout 300 \
    --add "$out/bench:/bin/bench" \
    --cmd "load_app bench null $CALLS" --cmd "load_app bench getuid $CALLS" \
    --cmd "load_app bench write $WRITE_MIB" > "$lkl_log" 2>&1 || { tail -30 "$lkl_log"; exit 1; }
native_ns=$(figure "null syscall" "$lkl_log")
forward_ns=$(figure "getuid32 syscall" "$lkl_log")
lkl_write=$(sed -n 's/.*write to \/tmp: \(.*\)/\1/p' "$lkl_log" | tr -d '\r' | head -1)

echo "== x86/qemu (TCG): native /tmp"
native_log="$out/embox-native-write.log"
"$embctl" --workspace "$ws" run --no-kvm --timeout 300 --add "$out/bench:/bin/bench" \
    --cmd "load_app bench write $WRITE_MIB" > "$native_log" 2>&1 || { tail -30 "$native_log"; exit 1; }
native_write=$(sed -n 's/.*write to \/tmp: \(.*\)/\1/p' "$native_log" | tr -d '\r' | head -1)
linux_ns=$(figure "null syscall" "$out/linux-guest.log" 2>/dev/null || true)

echo
echo "syscalls under x86/lkl-qemu, TCG, $CALLS calls each:"
echo "  native null syscall (getpid):        $native_ns ns/call"
echo "  forwarded to LKL (getuid32):         $forward_ns ns/call"
awk -v f="$forward_ns" -v n="$native_ns" 'BEGIN { if (n > 0) printf "  ratio forwarded/native: %.2f (goal: at most 2)\n", f / n }'
if [ -n "$linux_ns" ]; then
    echo "  Linux guest null syscall (from scripts/bench-syscall.sh): $linux_ns ns/call"
else
    echo "  Linux guest: run scripts/bench-syscall.sh first for its figure"
fi
echo "write() of $WRITE_MIB MiB in 64 KiB writes:"
echo "  through LKL (/tmp in LKL's tmpfs): $lkl_write"
echo "  native /tmp (x86/qemu):            $native_write"
