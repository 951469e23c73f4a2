#!/bin/sh
# Network figures the machine's load does not move: a guest under
# `qemu-system-i386 -icount shift=0,sleep=off` (one guest "ns" per guest
# instruction; idle time jumps to the next timer deadline) on QEMU's
# user-mode NIC, moving MIB MiB each way between the guest's `netprog` and a
# Python peer in this container, and over 127.0.0.1 inside the guest. The
# guest's own clock times netprog, so its MiB/s are per guest instruction,
# not per wall-clock second. User-mode networking offers no offloads: both
# guests get plain 1514-byte frames here (the TAP figures of bench-net.sh
# have them).
# Runs inside the build image (scripts/bench-net.sh calls it through
# `embctl shell`); the guest sees the peer at 10.0.2.10 (ports 5002 for the
# guest's `netprog source`, 5001 forwarded to the guest's `netprog sink`).
# `ours` boots through qemu-prompt.sh: QEMU_LINE must hold embctl's QEMU
# line (`embctl run --print-qemu --no-build --no-kvm`); the NIC is added.
# Usage: net-icount.sh ours KERNEL ROOTFS NETPROG MIB LOG
#        net-icount.sh linux VMLINUZ INITRAMFS MIB LOG   (bench-net.sh's Linux guest)
set -eu
netdev="-netdev user,id=n0,net=10.0.2.0/24,host=10.0.2.10,hostfwd=tcp:127.0.0.1:5001-10.0.2.16:5001 -device virtio-net-pci,netdev=n0"
icount="-icount shift=0,sleep=off"

# peer LOG MIB: drains what the guest sends to 5002; once LOG shows the
# guest's sink listening, sends it MIB MiB through 5001.
peer() {
  python3 - "$1" "$2" <<'PY'
import socket, sys, threading, time
log, mib = sys.argv[1], int(sys.argv[2])
sink = socket.socket(); sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sink.bind(("127.0.0.1", 5002)); sink.listen(1)
def drain():
    c, _ = sink.accept()
    while c.recv(1 << 20): pass
    c.close()
t = threading.Thread(target=drain, daemon=True); t.start()
deadline = time.time() + 900
while "listening on port 5001" not in open(log, errors="replace").read():
    if time.time() > deadline: sys.exit("the guest's sink never listened")
    time.sleep(0.2)
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", 5001)); block = b"x" * 65536
for _ in range(mib * 16): s.sendall(block)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
t.join(900)
PY
}

case "$1" in
ours)
  kernel=$2 rootfs=$3 netprog=$4 mib=$5 log=$6
  dir=$(mktemp -d)
  (cd "$dir" && cpio -idm --quiet <"$rootfs" && cp "$netprog" bin/netprog && find . | cpio -o -H newc --quiet >"$dir.cpio")
  rm -rf "$dir"
  : >"$log"
  peer "$log" "$mib" &
  QEMU_EXTRA="$icount $netdev" sh "$(dirname "$0")/qemu-prompt.sh" "$kernel" "$dir.cpio" "$log" \
    "load_app netprog loop 5003 $mib" "load_app netprog source 10.0.2.10 5002 $mib" "load_app netprog sink 5001" ifconfig >/dev/null
  rm -f "$dir.cpio"
  ;;
linux)
  vmlinuz=$2 initramfs=$3 mib=$4 log=$5
  : >"$log"
  peer "$log" "$mib" &
  # shellcheck disable=SC2086 # the option lists are word-split on purpose
  timeout 1800 qemu-system-i386 $icount -accel tcg -m 256 -kernel "$vmlinuz" -initrd "$initramfs" \
    -append 'console=ttyS0 quiet panic=-1' -serial stdio -display none -monitor none -no-reboot $netdev \
    </dev/null >"$log" 2>&1 || true
  ;;
*)
  echo "usage: net-icount.sh ours KERNEL ROOTFS NETPROG MIB LOG | linux VMLINUZ INITRAMFS MIB LOG" >&2
  exit 2
  ;;
esac
wait || true
