#!/usr/bin/env bash
# Sets the host up and runs every test: embctl's unit and integration tests
# (real Docker engine, real QEMU, loopback HTTP) and the kernel's host tests.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/setup-host.sh"
export PATH=$HOME/.cargo/bin:$PATH
cd "$here"
embctl=target/release/embctl

echo "== build image and kernel (shared by the integration tests)"
$embctl image build
$embctl build

echo "== kernel: host unit tests (and the fuzz targets: each replays its seed corpus in"
echo "   src/__fuzz__/ and runs random inputs for BOLERO_RANDOM_TEST_TIME_MS)"
export BOLERO_RANDOM_TEST_TIME_MS=${BOLERO_RANDOM_TEST_TIME_MS:-3000}
cargo test --manifest-path kernel/Cargo.toml --target x86_64-unknown-linux-gnu --workspace --exclude embox --exclude embox-hal --exclude embox-os

echo "== embctl: unit and integration tests"
# One test at a time: QEMU under TCG keeps both cores busy anyway (kernel_boot took 110 s serially and
# 116 s in parallel), and serial runs keep each failure's console output readable. (The stalls once
# seen in parallel runs were a kernel bug, a lost console wake-up, fixed in hal/src/cpu.rs.)
cargo test --release -p embctl -p embctl-base-rootfs -- --test-threads=1

if [[ -z ${EMBCTL_LKL_TREE:-} ]]; then
  echo "== SKIPPED, not passed: the tests that need a real LKL tree (lkl_pipeline real_lkl_tree_* (build, archive --save round trip), kernel_lkl lkl_boots_*, lkl_net lkl_network_*,"
  echo "   linux_compat lkl_*, lkl-abi *_the_tree) were reported as 'ignored' above because EMBCTL_LKL_TREE is not set."
  echo "   Run them with: EMBCTL_LKL_TREE=/path/to/lkl bash scripts/test-all.sh"
fi
