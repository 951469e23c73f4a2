#!/bin/sh
# Figures for the build image and `embctl shell` (a benchmark, not a test):
#   1. cold image build on the offline path: a fresh base made by debootstrap,
#      imported, and docker/Dockerfile built on it with no layer cache;
#   2. warm `embctl shell -- true` wall time (image present), over N runs;
#   3. image size.
# Usage: scripts/bench-image.sh [--skip-cold] [N]   (as root: debootstrap needs it)
# The cold run uses its own base tag and a scratch copy of docker/, and removes
# what it made; the project's images are not touched.
set -eu

cd "$(dirname "$0")/.."
skip_cold=no
if [ "${1:-}" = "--skip-cold" ]; then skip_cold=yes; shift; fi
runs=${1:-10}

cargo build --release -q -p embctl
embctl=$PWD/target/release/embctl

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

if [ "$skip_cold" = no ]; then
    scratch=$(mktemp -d)
    base="emdocker-lkl-base:bench-$$"
    trap 'rm -rf "$scratch"; docker rmi -f "$base" ${cold_tag:-} >/dev/null 2>&1 || true' EXIT
    mkdir -p "$scratch/kernel"
    cp -r docker "$scratch/docker"
    t0=$(now)
    cold_tag=$(EMBCTL_BASE_TAG="$base" EMBCTL_OFFLINE=1 "$embctl" -q --workspace "$scratch" image build)
    t1=$(now)
    printf "cold image build (offline path: debootstrap + import + Dockerfile): %.1f s  [%s]\n" "$(elapsed "$t0" "$t1")" "$cold_tag"
fi

image=$("$embctl" -q image build)
times=""
i=0
while [ "$i" -lt "$runs" ]; do
    t0=$(now)
    "$embctl" -q shell -- true
    t1=$(now)
    times="$times $(elapsed "$t0" "$t1")"
    i=$((i + 1))
done
echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk -v n="$runs" '
    { v[NR] = $1 }
    END { printf "warm embctl shell -- true over %d runs: min %.3f s, median %.3f s, max %.3f s\n", n, v[1], v[int((NR + 1) / 2)], v[NR] }'

size=$(docker image inspect -f '{{.Size}}' "$image")
echo "image size: $(echo "scale=1; $size / 1000000" | bc) MB  [$image]"
