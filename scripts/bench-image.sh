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
#      apt is not re-run here (`--apt` measures it on its own, in a fresh chroot).
#      Each phase also prints its CPU seconds, which the machine's load moves
#      less than wall time (containers' CPU read from their cgroups).
#   2. warm `embctl shell -- true` and warm demo (`bash scripts/demo.sh`,
#      everything built) wall time over N runs (goal: demo <= 2 s);
#   3. image size.
# Usage: scripts/bench-image.sh [--skip-cold] [N]   (as root: debootstrap needs it)
#        scripts/bench-image.sh --apt   (only the apt figure: what setup-host.sh
#                                       installs on a bare host, in a fresh chroot)
# The cold run uses its own base tag, target dir and workspace copy, and removes
# what it made; the project's images and build/ are not touched.
set -eu

cd "$(dirname "$0")/.."

if [ "${1:-}" = "--apt" ]; then
    # 0. apt on a bare host: a fresh minbase chroot of this host's Debian release
    #    gets what scripts/setup-host.sh would install there, group by group as it
    #    installs them (the compile group before embctl's compile; the engine group
    #    while embctl-base-rootfs compiles; the tests group while embctl compiles).
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    root=$(mktemp -d /var/tmp/bench-apt.XXXXXX)
    trap 'rm -rf "$root" "$root.cpu" "$root.log"' EXIT
    echo "apt on a bare $codename host (a fresh minbase chroot; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)):"
    t0=$(date +%s.%N)
    debootstrap --variant=minbase "$codename" "$root" "$mirror" >/dev/null
    printf "  %-58s %7.1f s\n" "(the chroot's own debootstrap, not part of the demo)" "$(echo "$(date +%s.%N) - $t0" | bc)"
    cp scripts/setup-host.sh "$root/setup-host.sh"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # No service starts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
    timed() { # NAME COMMAND...: wall and CPU of COMMAND
        label=$1; shift
        t0=$(date +%s.%N)
        /usr/bin/time -o "$root.cpu" -f %U_%S "$@" >"$root.log" 2>&1 || { echo "  $label failed:"; tail -20 "$root.log"; exit 1; }
        cpu=$(tail -1 "$root.cpu")
        printf "  %-58s %7.1f s  (%s s CPU)\n" "$label" "$(echo "$(date +%s.%N) - $t0" | bc)" "$(echo "$cpu" | tr _ ' ' | awk '{printf "%.0f", $1 + $2}')"
    }
    timed "apt-get update" chroot "$root" apt-get update -q
    chroot "$root" bash /setup-host.sh --print-packages | while read -r group packages; do
        [ -n "$packages" ] || continue
        timed "apt, $group group: $packages" chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
    done
    exit 0
fi

skip_cold=no
if [ "${1:-}" = "--skip-cold" ]; then skip_cold=yes; shift; fi
runs=${1:-10}

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
total=0
phase() { printf "  %-58s %7.1f s\n" "$1" "$2"; total=$(echo "$total + $2" | bc); }

# CPU seconds (user + system) of the processes a command starts, as /usr/bin/time
# sees them: "U S" on the last line of stderr.
if [ -x /usr/bin/time ]; then timer="/usr/bin/time -f %U_%S"; else timer=""; fi
# CPU seconds of the containers a phase runs (dockerd starts them: /usr/bin/time
# does not see them). `container_cpu start FILTER` polls `docker ps --filter FILTER`
# every 0.5 s and keeps each container's last cgroup v1 cpuacct.usage (or
# cgroup v2 cpu.stat) reading; `container_cpu stop` prints their sum in seconds.
# A container that ends between two polls loses at most its last 0.5 s.
container_cpu() {
    case $1 in
    start)
        cpu_dir=$(mktemp -d)
        ( while [ -d "$cpu_dir" ]; do
              for id in $(docker ps -q --no-trunc --filter "$2" 2>/dev/null); do
                  v1=/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage
                  v2=/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat
                  if [ -r "$v1" ]; then ns=$(cat "$v1" 2>/dev/null)
                  elif [ -r "$v2" ]; then ns=$(awk '/^usage_usec/ {print $2 * 1000}' "$v2" 2>/dev/null)
                  else ns=""; fi
                  [ -n "$ns" ] && [ -d "$cpu_dir" ] && echo "$ns" >"$cpu_dir/$id" 2>/dev/null
              done
              sleep 0.5
          done ) &
        cpu_poller=$! ;;
    stop)
        sleep 0.6
        cat "$cpu_dir"/* 2>/dev/null | awk '{ s += $1 } END { printf "%.1f", s / 1e9 }'
        rm -rf "$cpu_dir"
        wait "$cpu_poller" 2>/dev/null || true ;;
    esac
}
cpu_of() { echo "$1" | tr _ ' ' | awk '{printf "%.0f", $1 + $2}'; }

if [ "$skip_cold" = no ]; then
    scratch=$(mktemp -d)
    base="emdocker-lkl-base:bench-$$"
    trap '[ -n "${cpu_dir:-}" ] && rm -rf "$cpu_dir"; rm -rf "$scratch"; docker rmi -f "$base" ${cold_tag:-} >/dev/null 2>&1 || true' EXIT
    echo "cold first run, by phase (scratch copies; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)):"
    if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then
        echo "  apt: not run here (installed already); \`scripts/bench-image.sh --apt\` measures it in a fresh chroot"
    fi

    # a. embctl from scratch, in its own target dir (the crates are in ~/.cargo already),
    #    with the base and the build image made in the background (setup-host.sh's order).
    git archive --format=tar HEAD 2>/dev/null | tar -x -C "$scratch" 2>/dev/null || cp -r Cargo.toml Cargo.lock embctl base-rootfs docker kernel rootfs patches third-party "$scratch/"
    t0=$(now)
    cargo build --release -q --locked -p embctl-base-rootfs --manifest-path "$scratch/Cargo.toml" --target-dir "$scratch/target"
    t_tool=$(now)
    export EMBCTL_BASE_ROOTFS_DIR="$scratch/base-rootfs-prepared" EMBCTL_BASE_TAG="$base"
    # The Dockerfile's RUN steps run in containers FROM the base: their CPU is polled.
    container_cpu start "ancestor=$base"
    ( EMBCTL_PREPARE_LOG="$scratch/prepare.log" $timer ${timer:+-o "$scratch/prepare.cpu"} "$scratch/target/release/embctl-base-rootfs" prepare --image "$scratch/docker" >"$scratch/prepare.log" 2>&1
      now >"$scratch/prepare.end" ) &
    prepare_pid=$!
    cpu=$( { $timer cargo build --release -q --locked -p embctl --timings --manifest-path "$scratch/Cargo.toml" --target-dir "$scratch/target" ; } 2>&1 | tail -1)
    t1=$(now)
    phase "a. embctl compile (cold, $(cpu_of "$cpu") s CPU; image job alongside)" "$(elapsed "$t0" "$t1")"
    echo "     (of which embctl-base-rootfs, built first: $(elapsed "$t0" "$t_tool" | awk '{printf "%.1f s", $1}'))"
    timings=/tmp/bench-image-cargo-timing-$$.html
    cp "$scratch"/target/cargo-timings/cargo-timing.html "$timings" 2>/dev/null && echo "     (cargo --timings report: $timings)"
    embctl=$scratch/target/release/embctl

    # b. what embctl's image step waits for: the rest of the background job.
    cold_tag=$(EMBCTL_OFFLINE=1 "$embctl" -q --workspace "$scratch" image build)
    t2=$(now)
    wait "$prepare_pid" || true
    image_cpu=$(container_cpu stop)
    echo "     background job ($(elapsed "$t_tool" "$(cat "$scratch/prepare.end")" | awk '{printf "%.1f s", $1}') in all;" \
        "$(cpu_of "$(tail -1 "$scratch/prepare.cpu" 2>/dev/null)") s CPU in debootstrap and the docker CLI, $image_cpu s in the Dockerfile's containers):"
    grep -E 'took|imported the base|built emdocker|error' "$scratch/prepare.log" | sed 's/^embctl-base-rootfs: /       /; s/ (sha256:[0-9a-f]*)//'
    phase "b. build image ready after a (rest of the background job)" "$(elapsed "$t1" "$t2")"
    unset EMBCTL_BASE_ROOTFS_DIR

    # c. the kernel in that image, from the scratch checkout.
    container_cpu start "ancestor=$cold_tag"
    t0=$(now)
    "$embctl" -q --workspace "$scratch" build >/dev/null
    t1=$(now)
    phase "c. kernel build (x86/qemu; $(container_cpu stop) s CPU in its containers)" "$(elapsed "$t0" "$t1")"

    # d. boot to Hello, World!.
    container_cpu start "ancestor=$cold_tag"
    t0=$(now)
    # grep reads to the end: an early exit (-q) would break embctl's pipe.
    "$embctl" -q --workspace "$scratch" run --no-build --cmd 'load_app linux_echo "Hello, World!"' | grep 'Hello, World!' >/dev/null
    t1=$(now)
    unset EMBCTL_BASE_TAG
    phase "d. boot and Hello, World! (run --no-build; $(container_cpu stop) s CPU in QEMU's container)" "$(elapsed "$t0" "$t1")"
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
