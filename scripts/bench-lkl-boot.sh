#!/usr/bin/env bash
# LKL figures (not a test), under TCG: the kernel image size with LKL linked
# in (next to the default template's), and the time LKL takes to boot inside
# our kernel (`lkl_start_kernel`, read from the kernel log; goal <= 250 ms):
# over RUNS boots (default 5) on the wall clock, which the machine's load
# moves, and once under `-icount shift=0,sleep=off`, where one guest "ns" is
# one guest instruction (plus any idle time, skipped to the next timer), so
# the figure counts the work of LKL's boot and no load can move it. Also the
# time to copy the initramfs into LKL's root file system.
#
#   EMBCTL_LKL_TREE=/path/to/lkl scripts/bench-lkl-boot.sh [RUNS]
#   EMBOX_LKL_PREBUILT=1 scripts/bench-lkl-boot.sh [RUNS]   (use the kernel already in build/)
#   BEFORE_KERNEL=old/embox scripts/bench-lkl-boot.sh [RUNS] (also boot an older
#       x86/lkl-qemu kernel file, in turn with the new one, for a before/after pair)
#
# Needs an LKL tree (EMBCTL_LKL_TREE); without one it says so and exits 0.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
runs=${1:-5}
source "$here/scripts/lib/embctl.sh"

kernel=build/base/bin/embox
size_line() {  # size_line LABEL FILE
  local bytes stripped
  bytes=$(stat -c %s "$2")
  local tmp; tmp=$(mktemp)
  strip -o "$tmp" "$2" && stripped=$(stat -c %s "$tmp"); rm -f "$tmp"
  printf '%-22s %9d bytes (%d KiB), stripped %d KiB; %s\n' "$1" "$bytes" $(( (bytes + 1023) / 1024 )) \
    $(( (stripped + 1023) / 1024 )) "$(size -A "$2" | awk '/^\.text|^\.rodata|^\.data|^\.bss/ { printf "%s %d KiB  ", $1, ($2 + 1023) / 1024 }')"
}

if [[ -z ${EMBOX_LKL_PREBUILT:-} ]]; then
  tree=${EMBCTL_LKL_TREE:-}
  if [[ -z $tree ]]; then
    echo "SKIPPED: the LKL figures need a real LKL tree (set EMBCTL_LKL_TREE=/path/to/lkl)"
    exit 0
  fi
  ec -q build
  size_line "kernel (x86/qemu):" "$kernel"
  ec -q build -t x86/lkl-qemu --lkl-tree "$tree"
fi
size_line "kernel (x86/lkl-qemu):" "$kernel"

# Kernels to boot, as LABEL=FILE under this checkout (the build image sees it at /ws).
kernels=("after=$kernel")
if [[ -n ${BEFORE_KERNEL:-} ]]; then
  mkdir -p build/bench-lkl
  cp "$BEFORE_KERNEL" build/bench-lkl/embox-before
  kernels=("before=build/bench-lkl/embox-before" "after=$kernel")
fi
# embctl's QEMU line; qemu-prompt.sh boots each kernel file with it.
qemu_line=$(ec run --print-qemu --no-build --no-kvm -t x86/lkl-qemu)
boot() {  # boot KERNEL LOG [QEMU_EXTRA]: one boot to the prompt, 256 MiB as the template asks
  ec shell -- env QEMU_LINE="$qemu_line" QEMU_MIB=256 QEMU_EXTRA="${3:-}" sh /ws/scripts/lib/qemu-prompt.sh "/ws/$1" /ws/build/base/rootfs.cpio "/ws/$2" \
    >/dev/null 2>&1 || { echo "error: booting $1 failed:" >&2; tail -20 "$2" >&2; exit 1; }
}
field() {  # field LOG: the "booted in" and "copied in" milliseconds
  local b c
  b=$(sed -n 's/.*lkl: booted in \([0-9.]*\) ms.*/\1/p' "$1" | head -1)
  c=$(sed -n 's/.*lkl: root file system: .* copied in \([0-9.]*\) ms.*/\1/p' "$1" | head -1)
  [[ -n $b ]] || { echo "error: no 'lkl: booted in' line in $1:" >&2; tail -20 "$1" >&2; exit 1; }
  echo "$b ${c:-nan}"
}
stats() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { printf "median %.1f ms (min %.1f, max %.1f, %d runs)", v[int((NR + 1) / 2)], v[1], v[NR], NR }'; }
mkdir -p build/bench-lkl
declare -A boot copy
for ((i = 1; i <= runs; i++)); do
  for entry in "${kernels[@]}"; do   # in turn, so that load changes hit both alike
    label=${entry%%=*}
    read -r b c < <(boot "${entry#*=}" build/bench-lkl/wall.log && field build/bench-lkl/wall.log)
    boot[$label]+="$b " copy[$label]+="$c "
  done
done
for entry in "${kernels[@]}"; do
  label=${entry%%=*}
  boot "${entry#*=}" build/bench-lkl/icount.log "-icount shift=0,sleep=off"
  read -r b _ < <(field build/bench-lkl/icount.log)
  prefix=""; [[ ${#kernels[@]} -gt 1 ]] && prefix="$label: "
  echo "${prefix}LKL boot inside the kernel (TCG):       $(echo ${boot[$label]} | stats); goal <= 250 ms"
  echo "${prefix}LKL boot under -icount (TCG):           $b ms, i.e. ~${b%.*}M guest instructions"
  echo "${prefix}initramfs copied into LKL's root (TCG): $(echo ${copy[$label]} | stats)"
done
