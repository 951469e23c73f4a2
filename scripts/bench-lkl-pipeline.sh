#!/bin/sh
# Figures for the LKL pipeline (a benchmark, not a test), on a real LKL tree
# that is a git checkout:
#   1. fetch + verify + extract + patch time for a real-sized archive: the
#      tree's HEAD as a zip (`git archive`, made in /tmp, never committed),
#      pinned by a scratch lkl.toml in a scratch workspace;
#   2. `lkl-diff --stat` time on that tree after a one-line edit (what it
#      prints must be that one file). Builds are out of tree, so a built tree
#      holds exactly what a fresh one does;
#   3. `lkl build --lkl-tree TREE` in this checkout's build/ (incremental: a
#      no-op when nothing changed since the last build);
#   4. with --clean: `lkl build --lkl-tree TREE` from scratch in the scratch
#      workspace (5-30 min on 2 cores), and whether its lkl.o is byte-identical
#      to this checkout's (the container paths are the same in every workspace).
# Usage: scripts/bench-lkl-pipeline.sh [--clean] TREE     (e.g. /work/lkl-src)
set -eu

cd "$(dirname "$0")/.."
clean=no
if [ "${1:-}" = "--clean" ]; then clean=yes; shift; fi
tree=${1:?usage: scripts/bench-lkl-pipeline.sh [--clean] TREE}
tree=$(cd "$tree" && pwd)

cargo build --release -q -p embctl
embctl=$PWD/target/release/embctl

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
commit=$(git -C "$tree" rev-parse HEAD)
zip="$scratch/linux-$commit.zip"
t0=$(now)
git -C "$tree" archive --format=zip --prefix="linux-$commit/" -o "$zip" HEAD
t1=$(now)
entries=$(unzip -Z1 "$zip" | wc -l)
printf "archive: %s (%s bytes, %s entries), made by git archive in %.1f s\n" "$zip" "$(stat -c %s "$zip")" "$entries" "$(elapsed "$t0" "$t1")"

# A scratch workspace pinning that archive; the project's patches and excludes.
ws="$scratch/ws"
mkdir -p "$ws/kernel" "$ws/third-party/lkl" "$ws/patches"
cp -r docker "$ws/docker"
cp -r kernel/templates "$ws/kernel/templates"
cp -r patches/lkl "$ws/patches/lkl"
cp third-party/lkl/lkl-diff-excludes.txt "$ws/third-party/lkl/"
cat > "$ws/third-party/lkl/lkl.toml" <<EOF
commit = "$commit"
url = "http://127.0.0.1:9/unused.zip"
md5 = "$(md5sum "$zip" | cut -d' ' -f1)"
sha256 = "$(sha256sum "$zip" | cut -d' ' -f1)"
EOF
export XDG_CACHE_HOME="$scratch/cache"

t0=$(now)
"$embctl" -q --workspace "$ws" lkl fetch --lkl-zip "$zip" >/dev/null
t1=$(now)
files=$(find "$ws/build/extbld/third_party/lkl/lib/linux-$commit" -type f | wc -l)
printf "lkl fetch --lkl-zip (verify MD5+SHA-256, cache copy, extract %s files, apply the series): %.1f s\n" "$files" "$(elapsed "$t0" "$t1")"

setup="$ws/build/extbld/third_party/lkl/lib/linux-$commit/arch/lkl/kernel/setup.c"
echo "/* bench-lkl: one local line */" >> "$setup"
t0=$(now)
stat_out=$("$embctl" -q --workspace "$ws" lkl-diff --stat)
t1=$(now)
printf "lkl-diff --stat after a one-line edit (%s files compared): %.1f s\n" "$files" "$(elapsed "$t0" "$t1")"
echo "$stat_out" | sed 's/^/    /'

t0=$(now)
"$embctl" -q lkl build --lkl-tree "$tree" >/dev/null
t1=$(now)
printf "lkl build --lkl-tree %s in this checkout (incremental; a no-op when nothing changed): %.1f s\n" "$tree" "$(elapsed "$t0" "$t1")"

if [ "$clean" = yes ]; then
    t0=$(now)
    "$embctl" -q --workspace "$ws" lkl build --lkl-tree "$tree" >/dev/null
    t1=$(now)
    printf "lkl build --lkl-tree %s from scratch: %.1f s on %s cores\n" "$tree" "$(elapsed "$t0" "$t1")" "$(nproc)"
    fresh=$(ls -d "$ws"/build/extbld/third_party/lkl/out/tree-*/install/lib/lkl.o)
    ours=build/extbld/third_party/lkl/out/$(basename "$(dirname "$(dirname "$(dirname "$fresh")")")")/install/lib/lkl.o
    printf "lkl.o: %s bytes, %s bytes stripped of debug info\n" "$(stat -c %s "$fresh")" "$(stat -c %s "$(dirname "$(dirname "$(dirname "$fresh")")")/lkl-stripped.o")"
    if cmp -s "$fresh" "$ours"; then
        echo "reproducible: the clean build's lkl.o is byte-identical to $ours (sha256 $(sha256sum "$fresh" | cut -c1-16)...)"
    else
        echo "NOT reproducible: the clean build's lkl.o differs from $ours"
    fi
fi
