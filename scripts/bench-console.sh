#!/usr/bin/env bash
# Console throughput benchmark (figures, not a test): a Linux program in the
# guest (`load_app linux_cat`) prints a file of SIZE_MB megabytes (default 2.4)
# and we time it from its first line to its last as they reach embctl's
# stdout, RUNS times (default 3). Also the built-in `cat` of the embox> shell.
# Goal (issue 11): at least 1 MB/s from a guest write() to the user's terminal.
#
#   scripts/bench-console.sh [RUNS] [LINES]     (EMBCTL=path/to/embctl to pick the binary)
#
# The whole path is measured: guest write → virtio-serial port → QEMU's stdout
# in its container → Docker's attach stream → embctl → this script's pipe.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
runs=${1:-3}
lines=${2:-40000}
source "$here/scripts/lib/embctl.sh"

ec -q build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/big.txt" "$lines" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write("line %06d abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\n" % i)
PY
bytes=$(stat -c %s "$tmp/big.txt")
echo "console throughput: $bytes bytes ($lines lines), $runs runs each, TCG; load average $(cut -d' ' -f1-3 /proc/loadavg)"

measure() {  # measure LABEL GUEST-COMMAND
  local label=$1 cmd=$2
  python3 - "$label" "$runs" "$lines" -- "$embctl" --workspace "$here" run --no-build --no-kvm --timeout 600 \
    --add "$tmp/big.txt:/big.txt" --cmd "$cmd" <<'PY'
import statistics, subprocess, sys, time
label, runs, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
argv = sys.argv[sys.argv.index("--") + 1:]
first, last = b"line 000000", b"line %06d" % (lines - 1)
rates = []
for _ in range(runs):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    start = end = None
    seen = 0
    tail = b""
    while True:
        chunk = p.stdout.read1(65536)
        if not chunk:
            break
        window = tail + chunk
        if start is None and first in window:
            start = time.monotonic()
            seen = len(window) - window.index(first)
        elif start is not None:
            seen += len(chunk)
        tail = window[-64:]
        if end is None and start is not None and last in window:
            end = time.monotonic()
    if p.wait() != 0 or start is None or end is None:
        sys.exit(f"{label}: the run failed or its output was incomplete (embctl exit {p.returncode})")
    rates.append(seen / (end - start) / 1e6)
print(f"{label:<34} min {min(rates):5.2f} MB/s  median {statistics.median(rates):5.2f} MB/s  max {max(rates):5.2f} MB/s")
PY
}

measure "load_app linux_cat (512 B writes)" "load_app linux_cat /big.txt"
measure "embox> cat (512 B chunks)" "cat /big.txt"
