#!/bin/sh
# Figures for the first run and for `embctl shell` (a benchmark, not a test).
#   1. the cold first run (`bash scripts/demo.sh` on a fresh machine), split by
#      phase, each phase from nothing and on scratch copies:
#        a. embctl compiled from scratch (crates already downloaded), wall and CPU,
#           with the background job scripts/setup-host.sh starts meanwhile
#           (`embctl-base-rootfs prepare --image`: debootstrap, import, then
#           docker/Dockerfile built with no layer cache);
#        b. the rest of that background job, if it outlasted a (its own split,
#           debootstrap / import / Dockerfile, is printed from its log);
#        c. the kernel built in that image from a scratch copy of the checkout;
#        d. the boot to `Hello, World!` (embctl run --no-build).
#      apt (docker.io, debootstrap, gcc-multilib) is not re-run: it is printed
#      as "not measured" when the packages are already installed.
#   2. warm `embctl shell -- true` and warm demo (`bash scripts/demo.sh`,
#      everything built) wall time over N runs (goal: demo <= 2 s);
#   3. image size.
# Usage: scripts/bench-image.sh [--skip-cold] [N]   (as root: debootstrap needs it)
# The cold run uses its own base tag, target dir and workspace copy, and removes
# what it made; the project's images and build/ are not touched.
set -eu

cd "$(dirname "$0")/.."
skip_cold=no
if [ "${1:-}" = "--skip-cold" ]; then skip_cold=yes; shift; fi
runs=${1:-10}

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
total=0
phase() { printf "  %-58s %7.1f s\n" "$1" "$2"; total=$(echo "$total + $2" | bc); }

if [ "$skip_cold" = no ]; then
    scratch=$(mktemp -d)
    base="emdocker-lkl-base:bench-$$"
    trap 'rm -rf "$scratch"; docker rmi -f "$base" ${cold_tag:-} >/dev/null 2>&1 || true' EXIT
    echo "cold first run, by phase (scratch copies; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)):"
    if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then
        echo "  apt (docker.io, debootstrap, gcc-multilib)                 not measured: already installed"
    fi

    # a. embctl from scratch, in its own target dir (the crates are in ~/.cargo already),
    #    with the base and the build image made in the background (setup-host.sh's order).
    git archive --format=tar HEAD 2>/dev/null | tar -x -C "$scratch" 2>/dev/null || cp -r Cargo.toml Cargo.lock embctl base-rootfs docker kernel rootfs patches third-party "$scratch/"
    if [ -x /usr/bin/time ]; then timer="/usr/bin/time -f %U_%S"; else timer=""; fi
    t0=$(now)
    cargo build --release -q --locked -p embctl-base-rootfs --manifest-path "$scratch/Cargo.toml" --target-dir "$scratch/target"
    t_tool=$(now)
    export EMBCTL_BASE_ROOTFS_DIR="$scratch/base-rootfs-prepared" EMBCTL_BASE_TAG="$base"
    ( EMBCTL_PREPARE_LOG="$scratch/prepare.log" "$scratch/target/release/embctl-base-rootfs" prepare --image "$scratch/docker" >"$scratch/prepare.log" 2>&1; now >"$scratch/prepare.end" ) &
    prepare_pid=$!
    cpu=$( { $timer cargo build --release -q --locked -p embctl --manifest-path "$scratch/Cargo.toml" --target-dir "$scratch/target" ; } 2>&1 | tail -1 | tr _ " ")
    t1=$(now)
    phase "a. embctl compile (cold, $(echo "$cpu" | awk '{printf "%.0f s CPU", $1 + $2}'); image job alongside)" "$(elapsed "$t0" "$t1")"
    echo "     (of which embctl-base-rootfs, built first: $(elapsed "$t0" "$t_tool" | awk '{printf "%.1f s", $1}'))"
    embctl=$scratch/target/release/embctl

    # b. what embctl's image step waits for: the rest of the background job.
    cold_tag=$(EMBCTL_OFFLINE=1 "$embctl" -q --workspace "$scratch" image build)
    t2=$(now)
    wait "$prepare_pid" || true
    echo "     background job ($(elapsed "$t_tool" "$(cat "$scratch/prepare.end")" | awk '{printf "%.1f s", $1}') in all):"
    grep -E 'took|imported the base|built emdocker|error' "$scratch/prepare.log" | sed 's/^embctl-base-rootfs: /       /; s/ (sha256:[0-9a-f]*)//'
    phase "b. build image ready after a (rest of the background job)" "$(elapsed "$t1" "$t2")"
    unset EMBCTL_BASE_ROOTFS_DIR

    # c. the kernel in that image, from the scratch checkout.
    t0=$(now)
    "$embctl" -q --workspace "$scratch" build >/dev/null
    t1=$(now)
    phase "c. kernel build (x86/qemu, cold cargo cache in the image)" "$(elapsed "$t0" "$t1")"

    # d. boot to Hello, World!.
    t0=$(now)
    # grep reads to the end: an early exit (-q) would break embctl's pipe.
    "$embctl" -q --workspace "$scratch" run --no-build --cmd 'load_app linux_echo "Hello, World!"' | grep 'Hello, World!' >/dev/null
    t1=$(now)
    unset EMBCTL_BASE_TAG
    phase "d. boot and Hello, World! (run --no-build)" "$(elapsed "$t0" "$t1")"
    printf "  %-58s %7.1f s  (goal <= 240 s with apt)\n" "cold total, a to d (apt not counted)" "$total"
    echo "  [image $cold_tag]"
fi

cargo build --release -q -p embctl
embctl=$PWD/target/release/embctl

# median, min and max of whitespace-separated seconds
stats() {
    echo "$2" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk -v what="$1" '
        { v[NR] = $1 }
        END { printf "%s over %d runs: min %.3f s, median %.3f s, max %.3f s\n", what, NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
}

image=$("$embctl" -q image build)
"$embctl" -q build
shell_times=""
demo_times=""
i=0
while [ "$i" -lt "$runs" ]; do
    t0=$(now)
    "$embctl" -q shell -- true
    t1=$(now)
    # The README's command, setup-host.sh included.
    bash scripts/demo.sh >/dev/null 2>&1
    t2=$(now)
    shell_times="$shell_times $(elapsed "$t0" "$t1")"
    demo_times="$demo_times $(elapsed "$t1" "$t2")"
    i=$((i + 1))
done
stats "warm embctl shell -- true" "$shell_times"
stats "warm demo (bash scripts/demo.sh, goal <= 2 s)" "$demo_times"

size=$(docker image inspect -f '{{.Size}}' "$image")
echo "image size: $(echo "scale=1; $size / 1000000" | bc) MB  [$image]"
