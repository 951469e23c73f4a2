#!/bin/sh
# Boots our kernel file KERNEL with INITRAMFS in qemu-system-i386 (TCG) and
# types COMMANDS at its `embox>` prompt, each once the previous prompt came
# back, then `poweroff`; the console goes to LOG. Any kernel file can be
# booted, not only build/'s (embctl run's). Runs inside the build image
# (the benchmark scripts call it through `embctl shell`).
#   QEMU_EXTRA   more QEMU arguments, word-split (e.g. `-icount shift=0,sleep=off`:
#                one guest "ns" per guest instruction, so figures count
#                instructions and the machine's load cannot move them)
#   QEMU_MIB     guest memory (default 128)
# Usage: qemu-prompt.sh KERNEL INITRAMFS LOG COMMAND...
set -eu
kernel=$1 initramfs=$2 log=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/in"
: > "$log"
# The console as embctl's QEMU line wires it (virtio-serial port out, COM1 in).
# shellcheck disable=SC2086 # QEMU_EXTRA is a list of arguments
timeout 1800 qemu-system-i386 ${QEMU_EXTRA:-} -accel tcg -m "${QEMU_MIB:-128}" \
    -kernel "$kernel" -initrd "$initramfs" -serial stdio -display none -monitor none \
    -device virtio-serial-pci,ioeventfd=off,max_ports=2 -chardev file,id=console,path=/proc/self/fd/1 \
    -device virtserialport,nr=1,chardev=console,name=embox.console -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 < "$dir/in" > "$log" 2>&1 &
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
