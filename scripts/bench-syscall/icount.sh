#!/bin/sh
# Runs our kernel under `qemu-system-i386 -icount shift=0,sleep=off` (one
# guest "ns" per guest instruction, so the figures count instructions and the
# machine's load cannot move them) and types COMMANDS at its `embox>` prompt
# (scripts/lib/qemu-prompt.sh, with the caller's QEMU_LINE). Runs inside the build image
# (scripts/bench-syscall.sh calls it through `embctl shell`).
# Usage: icount.sh KERNEL INITRAMFS LOG COMMAND...
QEMU_EXTRA="-icount shift=0,sleep=off" exec sh "$(dirname "$0")/../lib/qemu-prompt.sh" "$@"
