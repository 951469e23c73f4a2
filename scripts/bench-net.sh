#!/bin/sh
# Network figures (printed, not checked) of the kernel's own TCP/IP next to
# a Linux guest's (Debian bookworm's linux-image-686 with its virtio_net
# module), both under `embctl run --net` in the same QEMU (TCG), with the
# same virtio-net NIC on the same TAP setup in the QEMU container, in one run
# of this script (ratios from one run; absolute times move with the load):
#   - ping round-trip time, container -> guest (raw ICMP, 20 requests) and
#     guest -> container (our kernel's `ping`, busybox `ping` in Linux);
#   - TCP throughput container -> guest (static glibc `netprog sink` in the
#     guest) and guest -> container (`netprog source` in the guest);
#   - TCP throughput over 127.0.0.1 inside the guest (`netprog loop`: the
#     stack, socket layer and scheduling without the NIC);
#   - per MiB over the NIC: frames, interrupts (and our tx kicks and net
#     thread rounds), from our `ifconfig` and Linux's /proc/interrupts and
#     eth0 statistics: figures the machine's load moves far less than times;
#   - guest instructions and memory accesses per MiB of each of the three
#     transfers, over the same TAP with the same offloads: QEMU counts them
#     (the TCG plugin scripts/lib/insn-marks.c, between the marks netprog
#     sets; the accesses weigh copies, which are one `rep movs` each), kernel,
#     interrupts and program together; the machine's load hardly moves
#     them (only through how frames batch). They come from a second run
#     of each guest with the plugin, whose cost would slow the timed runs
#     (BENCH_NET_INSNS=0 skips them). They count the guest's work, not
#     QEMU's device model or the host's side, nor time spent waiting;
#   - the same three TCP figures in guest time under `-icount` on QEMU's
#     user-mode NIC (scripts/lib/net-icount.sh): per guest instruction, so
#     the machine's load does not move them (no offloads there; guest time
#     includes the idle jumps to timer deadlines).
# The container is the host side of the TAP (10.0.2.10), so these are the
# guests' figures without Docker's port publishing in the way.
# With EMBCTL_LKL_TREE=DIR, a third guest: x86/lkl-qemu built with that
# LKL tree, where 10.0.2.16 is LKL's own stack on its virtio-mmio card
# bridged to the same NIC (kernel/os/src/lkl/netdev.rs).
# With BENCH_NET_BASELINE=FILE, another kernel file (e.g. main's
# build/base/bin/embox) is measured first in the same run, as `baseline`.
# BENCH_NET_ICOUNT=0 skips the -icount figures (the Linux guest boots in
# about a minute under -icount).
# BENCH_NET_ROUNDS=N times both guests N times, alternating which goes
# first, and prints each timed figure's ratio per round and the median: one
# pair of runs on a loaded machine can come out either way (at load 6, one
# pair gave container -> guest 1.10 and the next 3.31). With
# BENCH_NET_BASELINE too, the baseline kernel runs in every round, and
# ours/baseline is given by round as well.
# Usage: [EMBCTL_LKL_TREE=DIR] [BENCH_NET_BASELINE=FILE] [BENCH_NET_ROUNDS=N] scripts/bench-net.sh [MIB]   (needs Docker, the build image, gcc-multilib)
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
embctl=${EMBCTL:-$ws/target/release/embctl}
if [ -z "${EMBCTL:-}" ]; then (cd "$ws" && cargo build --release -q -p embctl); fi
MIB=${1:-16}
out="$ws/build/bench"
mkdir -p "$out"
gcc -m32 -static -O2 -o "$out/netprog" "$ws/embctl/tests/net/netprog.c"
"$embctl" --workspace "$ws" build -q

# The Linux guest: its kernel and modules, busybox-static, and an init that
# loads the virtio-net modules, sets eth0 up as 10.0.2.16/24 and runs what
# `--cmd` runs in ours.
"$embctl" --workspace "$ws" shell -- sh -c '
set -e
MIB=$1
out=/ws/build/bench
gcc -shared -fPIC -O2 -fvisibility=hidden -Wall -o "$out/insn-marks.so" /ws/scripts/lib/insn-marks.c
sh /ws/scripts/lib/debian-kernel.sh "$out"
if [ ! -x "$out/busybox" ]; then
  mkdir -p "$out/bb/lists/partial" "$out/bb/cache/archives/partial"
  A="-o Dir::State::Lists=$out/bb/lists -o Dir::Cache=$out/bb/cache -o Debug::NoLocking=1"
  apt-get $A update -qq
  cd "$out/bb" && apt-get $A download busybox-static >/dev/null
  dpkg-deb -x busybox-static_*.deb x && cp x/usr/bin/busybox "$out/busybox"
fi
r=$out/net-initramfs && rm -rf "$r" && mkdir -p "$r/bin" "$r/lib" "$r/proc" "$r/sys" "$r/dev"
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  find "$out"/deb/x/lib/modules -name "$m.ko" -exec cp {} "$r/lib/" \;
  [ -f "$r/lib/$m.ko" ] || { echo "module $m.ko is not in the Linux guest kernel package" >&2; exit 1; }
done
cp "$out/busybox" "$out/netprog" "$r/bin/"
cat > "$r/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/\$m.ko || echo "insmod \$m failed"
done
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.16 netmask 255.255.255.0 up
netprog loop 5003 $MIB
netprog sink 5001
netprog source 10.0.2.10 5002 $MIB
ping -c 10 10.0.2.10
grep virtio /proc/interrupts | { n=0; while read irq count rest; do n=\$((n + count)); done
  echo counters: rx \$(cat /sys/class/net/eth0/statistics/rx_packets) tx \$(cat /sys/class/net/eth0/statistics/tx_packets) interrupts \$n; }
poweroff -f
INIT
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet) > "$out/linux-net-initramfs.cpio"
' sh "$MIB"

# measure LABEL LOG PID: once LOG (of the run PID) shows the guest's sink,
# the figures from the container side, on stdout as `LABEL: ...` lines.
measure() {
  i=0
  until grep -q "listening on port 5001" "$2"; do
    i=$((i + 1)); [ $i -lt 1200 ] || { echo "the $1 guest did not start:" >&2; tail -20 "$2" >&2; kill "$3"; exit 1; }
    sleep 0.5
  done
  container=$(docker ps --filter label=org.embctl.role=qemu --filter "name=embctl-$3-" --format '{{.Names}}')
  docker exec "$container" python3 -c '
import socket, struct, time, sys
label, mib = sys.argv[1], int(sys.argv[2])
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
print("%s: ping container -> guest: min %.3f / median %.3f / max %.3f ms (20 requests)" % (label, rtts[0], rtts[10], rtts[-1]))
s = socket.create_connection(("10.0.2.16", 5001)); block = b"x" * 65536
t0 = time.perf_counter()
for _ in range(mib * 16): s.sendall(block)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
dt = time.perf_counter() - t0
print("%s: TCP container -> guest: %d MiB in %.2f s = %.2f MiB/s (sender side, until the guest closed)" % (label, mib, dt, mib / dt))
c, _ = sink.accept(); n = 0; t0 = time.perf_counter()
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
dt = time.perf_counter() - t0
print("%s: TCP guest -> container: %.1f MiB in %.2f s = %.2f MiB/s (receiver side)" % (label, n / 1048576, dt, n / 1048576 / dt))
' "$1" "$MIB"
  wait "$3" || { echo "the $1 guest run failed:" >&2; tail -20 "$2" >&2; exit 1; }
}

# ping_median LOG LABEL: the median of the guest's ping replies (the average
# follows the one or two replies a loaded host delays by milliseconds).
ping_median() {
  tr -d '\r' <"$1" | sed -n 's/^64 bytes from 10\.0\.2\.10: .*time=\([0-9.]*\) ms.*/\1/p' | sort -n |
    awk -v l="$2" '{ t[NR] = $1 } END { if (NR) printf "%s: ping guest -> container: median %.3f ms (%d replies)\n", l, t[int((NR + 1) / 2)], NR }'
}

# loopback LOG LABEL: the guest's `netprog loop` figure as a `LABEL: ...` line.
loopback() {
  sed -n "s/.*loopback: .* in \([0-9.]*\) s: \([0-9.]*\) MiB\/s.*/$2: TCP over 127.0.0.1 in the guest: $MIB MiB in \1 s = \2 MiB\/s/p" "$1" | tr -d '\r'
}

figures="$out/bench-net.figures"
: > "$figures"
# The counting runs' extra QEMU arguments (empty: the timed runs, which
# the plugin's own cost would slow).
plugin=

# insns LOG LABEL: guest instructions and memory accesses per MiB between
# netprog's marks (in the order both guests run it: loop, sink, source), as
# `LABEL: ...` lines.
insns() {
  [ -n "$plugin" ] || return 0
  tr -d '\r' <"$1" | sed -n 's/.*insn-marks: mark \([0-9]*\): \([0-9]*\) instructions \([0-9]*\) memory accesses.*/\1 \2 \3/p' |
    awk -v l="$2" -v mib="$MIB" '{ i[$1] = $2; m[$1] = $3; n = $1 }
      function per_mib(what, a, b) {
        printf "%s: guest instructions per MiB, %s = %.0f\n", l, what, (i[b] - i[a]) / mib
        printf "%s: guest memory accesses per MiB, %s = %.0f\n", l, what, (m[b] - m[a]) / mib
      }
      END {
        if (n != 6) { printf "%s: %d instruction marks instead of 6: no instructions per MiB\n", l, n; exit }
        per_mib("TCP container -> guest", 3, 4); per_mib("TCP guest -> container", 5, 6); per_mib("TCP over 127.0.0.1 in the guest", 1, 2) }'
}
run=
trap '[ -z "$run" ] || kill $run 2>/dev/null || true' EXIT INT TERM

# guest_figures LABEL LOG PID: the figures of guest run PID (console in
# LOG) as `LABEL: ...` lines in $figures: the container's side while it
# runs, then the guest's own (ours prints `rtt`, busybox `round-trip`).
guest_figures() {
  measure "$1" "$2" "$3" >>"$figures"
  loopback "$2" "$1" >>"$figures"
  sed -n "s/.*\(rtt\|round-trip\) min\/avg\/max = \([0-9.]*\)\/\([0-9.]*\)\/\([0-9.]*\).*/$1: ping guest -> container: min \2 \/ avg \3 \/ max \4 ms (10 requests)/p" "$2" | tr -d '\r' >>"$figures"
  ping_median "$2" "$1" >>"$figures"
  insns "$2" "$1" >>"$figures"
  grep "^$1" "$figures"
}

# run_ours LABEL: our kernel under build/ measured, its figures as `LABEL: ...`.
run_ours() {
  log="$out/bench-net-$1.log"
  # Emptied here, not by the background job's redirection, which may come
  # after `measure` already found the previous run's "listening" line in it.
  : >"$log"
  # shellcheck disable=SC2086 # $plugin: two words or none
  "$embctl" --workspace "$ws" run --no-build --no-kvm --net --add "$out/netprog" --timeout 300 $plugin \
    --cmd "load_app netprog loop 5003 $MIB" \
    --cmd 'load_app netprog sink 5001' \
    --cmd "load_app netprog source 10.0.2.10 5002 $MIB" \
    --cmd 'ping -c 10 10.0.2.10' --cmd ifconfig >"$log" 2>&1 &
  run=$!
  guest_figures "$1" "$log" $run
  # The NIC's counters after the run (interrupts, frames, kicks).
  sed -n '/^eth0/,/^lo /p' "$log" | tr -d '\r' | grep -v '^lo '
  tr -d '\r' <"$log" | awk -v mib=$((2 * MIB)) -v label="$1" '
    /interrupts [0-9]+ +net thread rounds/ { irq = $4; rounds = $8 }
    /^ *RX packets/ { rx = $3 }
    /^ *TX packets/ { tx = $3; kicks = $NF }
    END { if (rx) printf "%s: per MiB over the NIC: %.1f rx frames, %.1f tx frames, %.1f interrupts, %.1f tx kicks, %.1f net thread rounds (rounds count the 127.0.0.1 run too)\n", label, rx / mib, tx / mib, irq / mib, kicks / mib, rounds / mib }' | tee -a "$figures"
}

kernel="$ws/build/base/bin/embox"
# run_baseline LABEL: run_ours with BENCH_NET_BASELINE's kernel in build/.
run_baseline() {
  echo "== baseline kernel $BENCH_NET_BASELINE (TCG, virtio-net, TAP)${plugin:+, counted}"
  cp "$kernel" "$out/embox.ours"
  trap 'cp "$out/embox.ours" "$kernel"; [ -z "$run" ] || kill $run 2>/dev/null || true' EXIT INT TERM
  cp "$BENCH_NET_BASELINE" "$kernel"
  run_ours "$1"
  cp "$out/embox.ours" "$kernel"
  trap '[ -z "$run" ] || kill $run 2>/dev/null || true' EXIT INT TERM
}

# run_linux LABEL: the Linux guest measured, its figures as `LABEL: ...`.
run_linux() {
  echo "== Linux guest (bookworm linux-image-686, TCG, virtio-net, TAP)${plugin:+, counted}"
  log="$out/bench-net-$1.log"
  : >"$log"
  # shellcheck disable=SC2086 # $plugin: two words or none
  "$embctl" --workspace "$ws" run --no-kvm --net --linux-guest "$out/vmlinuz:$out/linux-net-initramfs.cpio" $plugin \
    </dev/null >"$log" 2>&1 &
  run=$!
  guest_figures "$1" "$log" $run
  tr -d '\r' <"$log" | awk -v mib=$((2 * MIB)) -v label="$1" '/^counters: rx/ {
    printf "%s: per MiB over the NIC: %.1f rx frames, %.1f tx frames, %.1f interrupts\n", label, $3 / mib, $5 / mib, $7 / mib }' | tee -a "$figures"
}

[ -z "${BENCH_NET_BASELINE:-}" ] || run_baseline base
echo "== our kernel (TCG, virtio-net, TAP)"
run_ours ours
run_linux linux
rounds=${BENCH_NET_ROUNDS:-1}
round=1
while [ "$round" -lt "$rounds" ]; do
  round=$((round + 1))
  echo "== round $round of $rounds"
  if [ $((round % 2)) = 0 ]; then
    run_linux "linux-$round"
    run_ours "ours-$round"
    [ -z "${BENCH_NET_BASELINE:-}" ] || run_baseline "base-$round"
  else
    [ -z "${BENCH_NET_BASELINE:-}" ] || run_baseline "base-$round"
    run_ours "ours-$round"
    run_linux "linux-$round"
  fi
done
if [ -n "${EMBCTL_LKL_TREE:-}" ]; then
  echo "== our kernel with LKL's stack (x86/lkl-qemu: LKL's eth0 on its virtio-mmio card, bridged to the NIC)"
  "$embctl" --workspace "$ws" build -q -t x86/lkl-qemu --lkl-tree "$EMBCTL_LKL_TREE"
  log="$out/bench-net-lkl.log"
  : >"$log"
  "$embctl" --workspace "$ws" run -t x86/lkl-qemu --no-build --no-kvm --net --add "$out/netprog" --timeout 300 \
    --cmd 'load_app netprog sink 5001' \
    --cmd "load_app netprog source 10.0.2.10 5002 $MIB" >"$log" 2>&1 &
  run=$!
  measure lkl "$log" $run >>"$figures"
  grep "^lkl" "$figures"
fi
# The counting runs: both guests again with the plugin.
if [ "${BENCH_NET_INSNS:-1}" != 0 ]; then
  plugin="--qemu-arg=-plugin --qemu-arg=/ws/build/bench/insn-marks.so"
  [ -z "${BENCH_NET_BASELINE:-}" ] || run_baseline base-counted
  echo "== our kernel (TCG, virtio-net, TAP), counted"
  run_ours ours-counted
  run_linux linux-counted
  plugin=
fi
run=
trap - EXIT INT TERM

# side_by_side WHAT FIELD GOAL: one figure of both guests and the ratio ours/Linux.
side_by_side() {
  o=$(grep "^ours: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
  l=$(grep "^linux: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
  echo "$1 ($2):"
  k=$(grep "^lkl: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
  b=$(grep "^base: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
  echo "  Linux guest: ${l:-none}   our kernel: ${o:-none}${k:+   our kernel with LKL's stack: $k}${b:+   baseline kernel: $b}"
  if [ -n "$l" ] && [ -n "$o" ]; then
    awk -v o="$o" -v l="$l" -v g="$3" 'BEGIN { printf "  ratio ours/Linux: %.2f (goal: %s)\n", o / l, g }'
  fi
}
echo
echo "side by side, one run ($MIB MiB per TCP direction):"
side_by_side "ping container -> guest" median "at most 1.00"
side_by_side "ping guest -> container" median "at most 1.00"
side_by_side "TCP container -> guest" = "at least 1.00"
side_by_side "TCP guest -> container" = "at least 1.00"
side_by_side "TCP over 127.0.0.1 in the guest" = "at least 1.00"
# by_round WHAT FIELD [LABEL NAME]: the figure's ratio ours/Linux (or ours/LABEL,
# shown as NAME) in each round, and the median.
by_round() {
  ratios=
  i=1
  while [ "$i" -le "$rounds" ]; do
    suffix=; [ "$i" = 1 ] || suffix="-$i"
    o=$(grep "^ours$suffix: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
    l=$(grep "^${3:-linux}$suffix: $1" "$figures" | sed -n "s/.*$2 \([0-9.]*\).*/\1/p")
    [ -z "$o" ] || [ -z "$l" ] || ratios="$ratios $(awk -v o="$o" -v l="$l" 'BEGIN { printf "%.2f", o / l }')"
    i=$((i + 1))
  done
  echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk -v w="$1" -v b="${4:-Linux}" '{ r[NR] = $1; all = all " " $1 }
    END { if (NR) printf "%s, ours/%s by round (sorted):%s; median %.2f\n", w, b, all, NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}
if [ "$rounds" -gt 1 ]; then
  echo
  echo "$rounds rounds:"
  by_round "ping container -> guest" median
  by_round "ping guest -> container" median
  by_round "TCP container -> guest" =
  by_round "TCP guest -> container" =
  by_round "TCP over 127.0.0.1 in the guest" =
  if [ -n "${BENCH_NET_BASELINE:-}" ]; then
    by_round "TCP container -> guest" = base baseline
    by_round "TCP guest -> container" = base baseline
    by_round "TCP over 127.0.0.1 in the guest" = base baseline
  fi
fi
for count in instructions "memory accesses"; do
  for what in "TCP container -> guest" "TCP guest -> container" "TCP over 127.0.0.1 in the guest"; do
    o=$(grep "^ours-counted: guest $count per MiB, $what =" "$figures" | sed -n 's/.*= \([0-9]*\).*/\1/p')
    l=$(grep "^linux-counted: guest $count per MiB, $what =" "$figures" | sed -n 's/.*= \([0-9]*\).*/\1/p')
    b=$(grep "^base-counted: guest $count per MiB, $what =" "$figures" | sed -n 's/.*= \([0-9]*\).*/\1/p')
    if [ -n "$o" ] && [ -n "$l" ]; then
      echo "guest $count per MiB, $what:"
      echo "  Linux guest: $l   our kernel: $o${b:+   baseline kernel: $b}"
      awk -v o="$o" -v l="$l" 'BEGIN { printf "  ratio Linux/ours: %.2f (goal: at least 1.00; counted by QEMU, the load hardly moves it)\n", l / o }'
    fi
  done
done

# icount_figures LABEL LOG: a net-icount.sh run's netprog figures.
icount_figures() {
  tr -d '\r' <"$2" | sed -n \
    -e "s/.*received [0-9]* bytes in \([0-9.]*\) s: \([0-9.]*\) MiB\/s.*/$1: TCP container -> guest = \2 MiB\/s (\1 s of guest time)/p" \
    -e "s/.*sent [0-9]* bytes in \([0-9.]*\) s: \([0-9.]*\) MiB\/s.*/$1: TCP guest -> container = \2 MiB\/s (\1 s of guest time)/p" \
    -e "s/.*loopback: [0-9]* bytes in \([0-9.]*\) s: \([0-9.]*\) MiB\/s.*/$1: TCP over 127.0.0.1 in the guest = \2 MiB\/s (\1 s of guest time)/p"
}
if [ "${BENCH_NET_ICOUNT:-1}" != 0 ]; then
  echo
  echo "under -icount shift=0,sleep=off on QEMU's user-mode NIC (guest time = guest instructions; plain frames), $MIB MiB:"
  icount="$out/bench-net-icount.figures"
  : >"$icount"
  # Ours boots with embctl's own QEMU line (qemu-prompt.sh), the NIC added.
  qemu_line=$("$embctl" --workspace "$ws" run --print-qemu --no-build --no-kvm)
  icount_ours() {
    "$embctl" --workspace "$ws" shell -- env QEMU_LINE="$qemu_line" sh /ws/scripts/lib/net-icount.sh ours "/ws/build/bench/$2" /ws/build/base/rootfs.cpio \
      /ws/build/bench/netprog "$MIB" "/ws/build/bench/icount-$1.log"
    icount_figures "$1" "$out/icount-$1.log" >>"$icount"
  }
  if [ -n "${BENCH_NET_BASELINE:-}" ]; then
    cp "$BENCH_NET_BASELINE" "$out/embox.baseline"
    icount_ours base embox.baseline
  fi
  cp "$kernel" "$out/embox.icount"
  icount_ours ours embox.icount
  "$embctl" --workspace "$ws" shell -- sh /ws/scripts/lib/net-icount.sh linux /ws/build/bench/vmlinuz \
    /ws/build/bench/linux-net-initramfs.cpio "$MIB" /ws/build/bench/icount-linux.log
  icount_figures linux "$out/icount-linux.log" >>"$icount"
  cat "$icount"
  for what in "TCP container -> guest" "TCP guest -> container" "TCP over 127.0.0.1 in the guest"; do
    o=$(grep "^ours: $what" "$icount" | sed -n 's/.*= \([0-9.]*\).*/\1/p')
    l=$(grep "^linux: $what" "$icount" | sed -n 's/.*= \([0-9.]*\).*/\1/p')
    if [ -n "$o" ] && [ -n "$l" ]; then
      awk -v o="$o" -v l="$l" -v w="$what" 'BEGIN { printf "  %s: ratio ours/Linux %.2f (goal: at least 1.00)\n", w, o / l }'
    fi
  done
fi
