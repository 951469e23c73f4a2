#!/bin/sh
# Developer shortcut until `embctl build`/`embctl run` cover it: build the
# kernel in the build image, pack rootfs/ into a cpio, boot it in QEMU (TCG).
#   kernel/dev.sh build            # -> build/base/bin/embox
#   kernel/dev.sh run [qemu args]  # boots with build/base/rootfs.cpio
#   kernel/dev.sh sh CMD...        # any command in the image, at /ws
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
cache=${EMBOX_DEV_CARGO_CACHE:-$HOME/.cache/embctl-dev-cargo}
mkdir -p "$cache"
in_image() {
    docker run --rm -i -u "$(id -u):$(id -g)" -v "$ws:/ws" -w /ws \
        -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
        -v "$cache:/cargo" -e EMBOX_TEMPLATE_DIR=/ws/kernel/templates/${TEMPLATE:-x86/qemu} \
        -e CARGO_TARGET_DIR=/ws/build/base/cargo emdocker-lkl:dev "$@"
}
cmd=${1:-build}; [ $# -gt 0 ] && shift
case $cmd in
build)
    in_image sh -c 'cargo build --release --manifest-path kernel/Cargo.toml -p embox --target i686-unknown-linux-gnu &&
        mkdir -p build/base/bin && cp build/base/cargo/i686-unknown-linux-gnu/release/embox build/base/bin/embox &&
        mkdir -p build/base/rootfs-gen && rm -rf build/base/rootfs-stage && mkdir -p build/base/rootfs-stage &&
        cp -a rootfs/. build/base/rootfs-stage/ && cp -a build/base/rootfs-gen/. build/base/rootfs-stage/ &&
        (cd build/base/rootfs-stage && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > build/base/rootfs.cpio &&
        ls -l build/base/bin/embox build/base/rootfs.cpio && sha256sum build/base/bin/embox' ;;
run)
    in_image timeout ${TIMEOUT:-30} qemu-system-i386 -kernel build/base/bin/embox -initrd build/base/rootfs.cpio \
        -m ${MEM:-128} -serial stdio -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 "$@" ;;
sh) in_image "$@" ;;
*) echo "usage: $0 build|run|sh" >&2; exit 2 ;;
esac
