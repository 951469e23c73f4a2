#!/usr/bin/env bash
# The main job: set the host up, build the image and the kernel, boot it in
# QEMU and run a Linux i386 binary that prints "Hello, World!".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/setup-host.sh"
export PATH=$HOME/.cargo/bin:$PATH
exec "$here/target/release/embctl" --workspace "$here" run --cmd 'load_app linux_echo "Hello, World!"'
