#!/bin/bash
# Boots our kernel file KERNEL with INITRAMFS in qemu-system-i386 and types
# COMMANDS at its `embox>` prompt, each once the previous prompt came back,
# then `poweroff`; the console goes to LOG. Any kernel file can be booted,
# not only build/'s (embctl run's). Runs inside the build image (the
# benchmark scripts call it through `embctl shell`).
#   QEMU_LINE    required: embctl's QEMU command line, as
#                `embctl run --print-qemu --no-build --no-kvm` prints it (on the
#                host: `embctl shell -- env QEMU_LINE="$(embctl run --print-qemu
#                --no-build --no-kvm)" sh …`). Its -kernel and -initrd (and -m,
#                given QEMU_MIB) are replaced; everything else is embctl's, so
#                the firmware, devices and console wiring never drift from
#                what `embctl run` boots.
#   QEMU_EXTRA   more QEMU arguments, word-split (e.g. `-icount shift=0,sleep=off`:
#                one guest "ns" per guest instruction, so figures count
#                instructions and the machine's load cannot move them)
#   QEMU_MIB     guest memory (default: the line's -m)
# Usage: qemu-prompt.sh KERNEL INITRAMFS LOG COMMAND...
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"  # callers run it with sh
set -eu
kernel=$1 initramfs=$2 log=$3
shift 3
if [[ -z ${QEMU_LINE:-} ]]; then
  echo "qemu-prompt.sh: QEMU_LINE is not set; pass embctl's line: QEMU_LINE=\"\$(embctl run --print-qemu --no-build --no-kvm)\"" >&2
  exit 2
fi
# embctl quotes no word of its own line (plain paths and options), so
# splitting on blanks gives its argv back.
read -r -a line <<< "$QEMU_LINE"
argv=() option=
for word in "${line[@]}"; do
  case $option in
    -kernel) word=$kernel ;;
    -initrd) word=$initramfs ;;
    -m) word=${QEMU_MIB:-$word} ;;
  esac
  argv+=("$word")
  option=$word
done
# shellcheck disable=SC2206 # QEMU_EXTRA is a list of arguments
argv+=(${QEMU_EXTRA:-})
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/in"
: > "$log"
timeout 1800 "${argv[@]}" < "$dir/in" > "$log" 2>&1 &
qemu=$!
exec 3> "$dir/in"
prompts() { grep -o 'embox> ' "$log" | wc -l; }
typed=0
for cmd in "$@" poweroff; do
  while [ "$(prompts)" -le "$typed" ]; do
    kill -0 "$qemu" 2>/dev/null || { echo "QEMU ended before \`$cmd\`; its console:"; tail -20 "$log"; exit 1; }
    sleep 0.2
  done
  printf '%s\r' "$cmd" >&3
  typed=$((typed + 1))
done
wait "$qemu" || true
