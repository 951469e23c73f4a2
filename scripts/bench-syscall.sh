#!/usr/bin/env bash
# Syscall figures (printed, not checked): the same static i386 binary in our
# kernel and in a Linux guest (Debian bookworm's linux-image-686, the binary
# as init in an initramfs) under the same QEMU and accelerator (TCG):
#   - null syscall (int $0x80 getpid) time per call, and the ratio;
#   - a context switch between two threads and between two processes
#     (sched_yield ping-pong) and a futex wake round trip between two
#     threads, and the ratios;
#   - signal delivery to a handler (kill to itself, the handler, sigreturn)
#     per signal, and the ratio;
#   - fork+exit+wait, fork+execve+wait (a tiny static program), a pipe
#     round trip (one byte between two processes) and pipe throughput
#     (64 KiB writes), and the ratios;
#   - write() throughput to /tmp in our kernel;
#   - time from `load_app` to the program's first instruction (read by the
#     program from CLOCK_PROCESS_CPUTIME_ID, which the kernel counts from
#     load_app's start on its TSC clock), cold once, then min and median of
#     FIRST_RUNS (default 20) cached runs.
# Then (unless ICOUNT=0) both guests run again under
# `qemu-system-i386 -icount shift=0,sleep=off`, where one guest "ns" is one
# guest instruction: the same figures as guest instructions per operation,
# which the machine's load cannot move (helpers such as fxsave, iret and
# segment loads count as one, so this measures path length, not TCG's cost).
# Usage: scripts/bench-syscall.sh   (from anywhere; needs Docker and the build image)
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
embctl=${EMBCTL:-$ws/target/release/embctl}
if [ -z "${EMBCTL:-}" ]; then (cd "$ws" && cargo build --release -q -p embctl); fi
out="$ws/build/bench"
mkdir -p "$out"
CALLS=${CALLS:-1000000}
# The thread figures: the Linux guest's init always runs 100000 of each.
TRIPS=100000
# /tmp lives in the kernel heap (8 MiB in x86/qemu): a 2 MiB file fits.
WRITE_MIB=${WRITE_MIB:-2}
# The Linux guest's init sends itself 100000 (bench.c).
SIGNALS=100000
# The process figures: the Linux guest's init runs these counts too.
FORKS=2000
EXECS=1000
PIPE_TRIPS=20000
PIPE_MIB=16
FIRST_RUNS=${FIRST_RUNS:-20}

echo "== building the kernel and the benchmark binaries (build image)"
"$embctl" --workspace "$ws" build -q
"$embctl" --workspace "$ws" shell -- sh -c '
set -e
cd /ws/scripts/bench-syscall
out=/ws/build/bench
gcc -m32 -static -O2 -o "$out/bench" bench.c
gcc -m32 -nostdlib -static -no-pie -fno-pie -O2 -fno-stack-protector -Wl,--build-id=none -o "$out/tiny" tiny.c
gcc -m32 -nostdlib -emain -fpie -N -static -O2 -fno-stack-protector -ffreestanding -Wno-main \
    -Wl,--no-warn-rwx-segments -o "$out/first" first.c
sh /ws/scripts/lib/debian-kernel.sh "$out"
rm -rf "$out/initramfs" && mkdir -p "$out/initramfs"
cp "$out/bench" "$out/initramfs/init"
cp "$out/tiny" "$out/initramfs/tiny"
(cd "$out/initramfs" && printf "init\ntiny\n" | cpio -o -H newc --quiet) > "$out/linux-initramfs.cpio"
'

# linux_guest LOG [QEMU OPTION...]: the Linux guest runs bench.c as its init.
linux_guest() {
  local log=$1
  shift
  "$embctl" --workspace "$ws" shell -- timeout 1800 qemu-system-i386 -accel tcg "$@" -m 256 -display none -serial stdio \
      -no-reboot -kernel /ws/build/bench/vmlinuz -initrd /ws/build/bench/linux-initramfs.cpio \
      -append "console=ttyS0 quiet panic=-1" > "$log" 2>&1 || true
}
echo "== Linux guest (TCG): $CALLS getpid calls"
linux_log="$out/linux-guest.log"
linux_guest "$linux_log"
linux_ns=$(sed -n 's/.*null syscall: .*: \([0-9.]*\) ns\/call.*/\1/p' "$linux_log" | head -1)
[ -n "$linux_ns" ] || { echo "no figure from the Linux guest; its console:"; tail -20 "$linux_log"; exit 1; }

echo "== our kernel (TCG)"
ours_log="$out/embox.log"
# The benchmarks both guests run (the Linux guest's init runs the same).
bench_cmds=("load_app bench null $CALLS" "load_app bench signal $SIGNALS" "load_app bench switch $TRIPS"
    "load_app bench pswitch $TRIPS" "load_app bench futex $TRIPS" "load_app bench fork $FORKS" "load_app bench exec $EXECS /bin/tiny"
    "load_app bench pipe $PIPE_TRIPS" "load_app bench pipethru $PIPE_MIB")
# load_app first: one cold run, then FIRST_RUNS more (the file cached).
cmds=(--cmd "load_app bench write $WRITE_MIB")
for c in "${bench_cmds[@]}"; do cmds+=(--cmd "$c"); done
for _ in $(seq 0 "$FIRST_RUNS"); do cmds+=(--cmd "load_app first"); done
"$embctl" --workspace "$ws" run --no-build --no-kvm --timeout 300 \
    --add "$out/bench:/bin/bench" --add "$out/first:/bin/first" --add "$out/tiny:/bin/tiny" \
    "${cmds[@]}" > "$ours_log" 2>&1
# figure NAME LOG: the ns figure of the line that starts with NAME.
figure() { sed -n "s/.*$1: .*: \([0-9.]*\) ns\/.*/\1/p" "$2" | tr -d '\r' | head -1; }
write=$(sed -n 's/.*write to \/tmp: \(.*\)/\1/p' "$ours_log" | tr -d '\r' | head -1)
firsts=$(sed -n 's/.*load_app to first instruction: \([0-9]*\) us.*/\1/p' "$ours_log" | tr -d '\r')

# side_by_side LINUX_LOG OURS_LOG WHAT HOW UNIT: one figure from both logs, and its ratio.
side_by_side() {
  local l o
  l=$(figure "$3" "$1"); o=$(figure "$3" "$2")
  echo "$3 ($4):"
  echo "  Linux 6.1 guest: ${l:-none} $5   our kernel: ${o:-none} $5"
  if [ -n "$l" ] && [ -n "$o" ]; then
    awk -v o="$o" -v l="$l" 'BEGIN { printf "  ratio ours/Linux: %.2f (goal: at most 0.50)\n", o / l }'
  fi
}
# mibs LOG: the MiB/s of the pipe throughput line.
mibs() { sed -n 's/.*pipe throughput: .*: \([0-9.]*\) MiB\/s.*/\1/p' "$1" | tr -d '\r' | head -1; }
# figures LINUX_LOG OURS_LOG UNIT: every figure of both guests side by side.
figures() {
  side_by_side "$1" "$2" "null syscall" "int 0x80 getpid, $CALLS calls" "$3"
  side_by_side "$1" "$2" "signal delivery" "kill to itself + handler + sigreturn, $SIGNALS signals" "$3"
  side_by_side "$1" "$2" "thread switch" "two threads of one process, $TRIPS" "$3"
  side_by_side "$1" "$2" "process switch" "two processes, $TRIPS sched_yield each" "$3"
  side_by_side "$1" "$2" "futex wake round trip" "two threads of one process, $TRIPS" "$3"
  side_by_side "$1" "$2" "fork+exit+wait" "$FORKS" "$3"
  side_by_side "$1" "$2" "fork+execve+wait" "$EXECS, a tiny static program" "$3"
  side_by_side "$1" "$2" "pipe round trip" "one byte between two processes, $PIPE_TRIPS" "$3"
  local l o
  l=$(mibs "$1"); o=$(mibs "$2")
  echo "pipe throughput ($PIPE_MIB MiB in 64 KiB writes):"
  echo "  Linux 6.1 guest: ${l:-none} MiB/s   our kernel: ${o:-none} MiB/s"
  if [ -n "$l" ] && [ -n "$o" ]; then
    awk -v o="$o" -v l="$l" 'BEGIN { printf "  ratio ours/Linux: %.2f (goal: at least 1.00)\n", o / l }'
  fi
}

echo
echo "== wall clock under TCG (Linux guest: bookworm's linux-image-686; moves with the machine's load)"
figures "$linux_log" "$ours_log" ns
echo "write() to /tmp, 64 KiB writes: $write"
cold=$(echo "$firsts" | head -1)
cached=$(echo "$firsts" | tail -n +2 | sort -n)
n=$(echo "$cached" | wc -l)
echo "load_app to first instruction (TSC clock): cold $cold us; cached, $n runs: min $(echo "$cached" | head -1) us, median $(echo "$cached" | sed -n "$(( (n + 1) / 2 ))p") us"

[ "${ICOUNT:-1}" = 0 ] && exit 0
echo
echo "== the same under -icount shift=0,sleep=off (guest instructions; deterministic)"
linux_icount_log="$out/linux-guest-icount.log"
linux_guest "$linux_icount_log" -icount shift=0,sleep=off
ours_icount_log="$out/embox-icount.log"
# Our kernel's initramfs plus the benchmark binaries, and the commands typed
# at its prompt by icount.sh (embctl run has no -icount).
# icount.sh boots with embctl's own QEMU line (qemu-prompt.sh replaces its kernel and initramfs).
qemu_line=$("$embctl" --workspace "$ws" run --print-qemu --no-build --no-kvm)
"$embctl" --workspace "$ws" shell -- env QEMU_LINE="$qemu_line" sh -c '
set -e
out=/ws/build/bench
r=$(mktemp -d) && cd "$r" && cpio -idm --quiet < /ws/build/base/rootfs.cpio
mkdir -p bin && cp "$out/bench" "$out/tiny" bin/
find . | cpio -o -H newc --quiet > "$out/embox-icount.cpio"
cd / && rm -rf "$r"
sh /ws/scripts/bench-syscall/icount.sh /ws/build/base/bin/embox "$out/embox-icount.cpio" /ws/build/bench/embox-icount.log "$@"
' icount "${bench_cmds[@]}"
figures "$linux_icount_log" "$ours_icount_log" instructions
