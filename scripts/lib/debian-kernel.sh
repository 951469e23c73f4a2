#!/bin/sh
# Runs inside the build image (`embctl shell -- sh /ws/scripts/lib/debian-kernel.sh OUT`):
# the Linux guest of the benchmarks, Debian bookworm's linux-image-686
# (trixie has no i386 kernel), fetched with our own package lists (no root
# needed) once into OUT: OUT/vmlinuz, and its modules under OUT/deb/x/lib/modules.
set -eu
out=$1
[ -f "$out/vmlinuz" ] && [ -d "$out/deb/x/lib/modules" ] && exit 0
d=$out/apt
mkdir -p $d/lists/partial $d/cache/archives/partial
echo "deb http://deb.debian.org/debian bookworm main" > $d/sources.list
A="-o Dir::Etc::SourceList=$d/sources.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$d/lists -o Dir::Cache=$d/cache -o Debug::NoLocking=1 -o APT::Architecture=i386"
apt-get $A update -qq
pkg=$(apt-cache $A depends linux-image-686 | sed -n "s/.*Depends: \(linux-image-[0-9].*-686\)$/\1/p" | head -1)
cd "$out" && rm -rf deb && mkdir deb && cd deb
apt-get $A download "$pkg" >/dev/null
dpkg-deb -x linux-image-*.deb x
cp x/boot/vmlinuz-* "$out/vmlinuz"
echo "Linux guest kernel: $pkg"
