#!/usr/bin/env bash
# LKL figures (not a test), under TCG: the kernel image size with LKL linked
# in (next to the default template's), and over RUNS boots (default 5) the
# time LKL takes to boot inside our kernel (`lkl_start_kernel`, read from the
# kernel log; goal <= 250 ms) and the time to copy the initramfs into LKL's
# root file system.
#
#   EMBCTL_LKL_TREE=/path/to/lkl scripts/bench-lkl-boot.sh [RUNS]
#   EMBOX_LKL_PREBUILT=1 scripts/bench-lkl-boot.sh [RUNS]   (use the kernel already in build/)
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
  lkl_args=(-t x86/lkl-qemu --lkl-tree "$tree")
else
  lkl_args=(-t x86/lkl-qemu)
fi
size_line "kernel (x86/lkl-qemu):" "$kernel"

boot=() copy=()
for ((i = 1; i <= runs; i++)); do
  log=$(ec run "${lkl_args[@]}" --no-build --no-kvm --timeout 120 --cmd true 2>&1) || {
    echo "error: boot $i failed:" >&2; echo "$log" | tail -20 >&2; exit 1; }
  b=$(sed -n 's/.*lkl: booted in \([0-9.]*\) ms.*/\1/p' <<<"$log" | head -1)
  c=$(sed -n 's/.*lkl: root file system: .* copied in \([0-9.]*\) ms.*/\1/p' <<<"$log" | head -1)
  [[ -n $b ]] || { echo "error: boot $i: no 'lkl: booted in' line:" >&2; echo "$log" | tail -20 >&2; exit 1; }
  boot+=("$b") copy+=("${c:-nan}")
done
stats() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { printf "median %.1f ms (min %.1f, max %.1f, %d runs)", v[int((NR + 1) / 2)], v[1], v[NR], NR }'; }
echo "LKL boot inside the kernel (TCG):       $(echo "${boot[*]}" | stats); goal <= 250 ms"
echo "initramfs copied into LKL's root (TCG): $(echo "${copy[*]}" | stats)"
