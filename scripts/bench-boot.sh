#!/usr/bin/env bash
# Boot benchmark (figures, not a test): kernel image size, and over RUNS boots
# (default 10) the time from QEMU start to the `embox>` prompt (wall clock) and
# from kernel entry to the prompt (kernel log), under TCG, under TCG with
# -icount (guest instructions), and under KVM when embctl's KVM probe says
# it works. Goals: < 0.2 s, < 20 ms, < 512 KiB.
#
#   scripts/bench-boot.sh [RUNS]          (EMBCTL=path/to/embctl to pick the binary)
#
# Before/after: BEFORE_KERNEL=FILE boots that kernel too, in turn with this
# checkout's (so the host's load hits both alike), with BEFORE_QEMU_LINE
# (the QEMU line it was booted with, e.g. an older `embctl run --print-qemu`;
# default: this checkout's line); its -kernel is replaced by FILE.
#
# QEMU runs inside the build image (the container's start-up is not counted)
# with exactly the command line `embctl run` uses, taken from its log.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
runs=${1:-10}
source "$here/scripts/lib/embctl.sh"

ec -q build
kernel=build/base/bin/embox
bytes=$(stat -c %s "$kernel")
echo "kernel image: $kernel $bytes bytes ($(( (bytes + 1023) / 1024 )) KiB; goal < 512 KiB), sha256 $(sha256sum "$kernel" | cut -d' ' -f1)"
echo "initramfs:    build/base/rootfs.cpio $(stat -c %s build/base/rootfs.cpio) bytes"

image=$(ec image ls 2>/dev/null | awk '$1 ~ /^emdocker-lkl:/ && $NF == "current" { print $1; exit }')
[[ -n $image ]] || { echo "error: no current build image; run: $embctl image build" >&2; exit 1; }

# The exact QEMU argv of a scripted `embctl run`.
qemu_line() {
  ec run --no-build --print-qemu "$@"
}

tcg=$(qemu_line --no-kvm)
[[ -n $tcg ]] || { echo "error: could not get the QEMU command line from embctl run" >&2; exit 1; }
before_line=
if [[ -n ${BEFORE_KERNEL:-} ]]; then
  mkdir -p build/bench-boot
  cp "$BEFORE_KERNEL" build/bench-boot/embox-before
  echo "before:       $BEFORE_KERNEL $(stat -c %s "$BEFORE_KERNEL") bytes, sha256 $(sha256sum "$BEFORE_KERNEL" | cut -d' ' -f1)"
  read -r -a words <<< "${BEFORE_QEMU_LINE:-$tcg}"
  for i in "${!words[@]}"; do
    [[ ${words[i]} == -kernel ]] && words[i + 1]=/ws/build/bench-boot/embox-before
  done
  before_line=${words[*]}
fi

bench() {  # bench LABEL EXTRA-QEMU-ARGS QEMU-LINE [docker args…]: this line, and the before line
  local label=$1 extra=$2 line=$3; shift 3
  local boots=()
  [[ -n $before_line ]] && boots=(--boot "before: $label" "$before_line $extra")
  # shellcheck disable=SC2086  # the line is plain words (embctl quotes only when needed)
  docker run --rm --network none -v "$here:/ws:ro" -w /ws "$@" "$image" \
    python3 /ws/scripts/bench_boot.py --runs "$runs" "${boots[@]}" --label "${before_line:+after: }$label" -- $line $extra
}

bench "TCG" "" "$tcg"
# The same boot under -icount: the guest clock advances 1 ns per guest
# instruction (and skips idle time), so "kernel entry -> prompt" reads the
# boot path's length in instructions, which the host's load cannot move.
# The kernel's `boot phases` line (dmesg) splits it up.
bench "TCG -icount shift=0 (kernel figures: 1 ms = 10^6 guest instructions)" "-icount shift=0,sleep=off" "$tcg"

auto=$(qemu_line)
if [[ $auto == *"-accel kvm"* ]]; then
  before_line=
  bench "KVM" "" "$auto" --device /dev/kvm
else
  echo "KVM: not measured — $(ec doctor 2>/dev/null | sed -n 's/^[a-z]* *kvm *//p')"
fi
