#!/bin/sh
# Network figures (printed, not checked) of the kernel's own TCP/IP under
# `embctl run --net` (TCG, virtio-net on a TAP in the QEMU container):
#   - ping round-trip time, container -> guest (raw ICMP, 20 requests) and
#     guest -> container (the kernel's `ping`);
#   - TCP throughput container -> guest (static glibc `netprog sink` in the
#     guest) and guest -> container (`netprog source` in the guest).
# The container is the host side of the TAP (10.0.2.10), so these are the
# guest's figures without Docker's port publishing in the way.
# Not done yet: the same figures for a Debian linux-image-686 guest.
# Usage: scripts/bench-net.sh [MIB]   (needs Docker, the build image, gcc-multilib)
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
embctl=${EMBCTL:-$ws/target/release/embctl}
if [ -z "${EMBCTL:-}" ]; then (cd "$ws" && cargo build --release -q -p embctl); fi
MIB=${1:-16}
out="$ws/build/bench"
mkdir -p "$out"
gcc -m32 -static -O2 -o "$out/netprog" "$ws/embctl/tests/net/netprog.c"
"$embctl" --workspace "$ws" build -q

log="$out/bench-net.log"
"$embctl" --workspace "$ws" run --no-build --no-kvm --net --add "$out/netprog" --timeout 300 \
  --cmd 'load_app netprog sink 5001' \
  --cmd "load_app netprog source 10.0.2.10 5002 $MIB" \
  --cmd 'ping -c 10 10.0.2.10' >"$log" 2>&1 &
run=$!
trap 'kill $run 2>/dev/null || true' EXIT INT TERM
i=0
until grep -q "listening on port 5001" "$log"; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "the guest did not start:"; tail -20 "$log"; exit 1; }
  sleep 0.5
done
container=$(docker ps --filter label=org.embctl.role=qemu --filter "name=embctl-$run-" --format '{{.Names}}')
docker exec "$container" python3 -c '
import socket, struct, time, sys
mib = int(sys.argv[1])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
sink = socket.socket(); sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sink.bind(("10.0.2.10", 5002)); sink.listen(1)
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); icmp.settimeout(2)
rtts = []
for seq in range(20):
    payload = bytes(56)
    pkt = struct.pack("!BBHHH", 8, 0, csum(struct.pack("!BBHHH", 8, 0, 0, 7, seq) + payload), 7, seq) + payload
    t0 = time.perf_counter(); icmp.sendto(pkt, ("10.0.2.16", 0))
    while True:
        data, _ = icmp.recvfrom(2048); r = data[(data[0] & 15) * 4:]
        if r[0] == 0 and struct.unpack("!HH", r[4:8]) == (7, seq):
            rtts.append((time.perf_counter() - t0) * 1000); break
    time.sleep(0.05)
rtts.sort()
print("ping container -> guest: min %.3f / median %.3f / max %.3f ms (20 requests)" % (rtts[0], rtts[10], rtts[-1]))
s = socket.create_connection(("10.0.2.16", 5001)); block = b"x" * 65536
t0 = time.perf_counter()
for _ in range(mib * 16): s.sendall(block)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
dt = time.perf_counter() - t0
print("TCP container -> guest: %d MiB in %.2f s = %.2f MiB/s (sender side, until the guest closed)" % (mib, dt, mib / dt))
c, _ = sink.accept(); n = 0; t0 = time.perf_counter()
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
dt = time.perf_counter() - t0
print("TCP guest -> container: %.1f MiB in %.2f s = %.2f MiB/s (receiver side)" % (n / 1048576, dt, n / 1048576 / dt))
' "$MIB"
wait $run || { echo "embctl run failed:"; tail -20 "$log"; exit 1; }
trap - EXIT INT TERM
echo "guest's own lines:"
grep -E "received [0-9]+ bytes|sent [0-9]+ bytes|rtt min|packet loss" "$log" | sed 's/^/  /'
