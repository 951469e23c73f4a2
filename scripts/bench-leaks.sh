#!/usr/bin/env bash
# Issue 11 part 12 figures (printed, not checked):
#   - heap and frames in use before and after RUNS (default 1000) `load_app`
#     runs of a small program (the shell's `free`);
#   - the syscall fuzzer's calls per second under TCG, and the number of
#     calls CI makes (FUZZ_CALLS in embctl/tests/linux_compat.rs; set
#     EMBOX_FUZZ_CALLS for another total, e.g. the long mode 10000000).
# Both come from the linux_compat tests that check them (no growth, the
# kernel alive); this script runs just those two and prints their figures.
# Usage: scripts/bench-leaks.sh   (from anywhere; needs Docker and the build image)
set -eu
ws=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-1000}
log="$ws/build/bench/leaks.log"
mkdir -p "$ws/build/bench"
echo "== load_app x$RUNS and the syscall fuzzer (TCG), via the linux_compat tests"
(cd "$ws" && EMBOX_LOAD_APP_RUNS=$RUNS cargo test --release -q -p embctl --test linux_compat -- \
    --nocapture --test-threads=1 load_app_leaves_no_heap_or_frames_behind syscall_fuzzer_leaves_the_kernel_alive) > "$log" 2>&1 \
    || { echo "the tests failed; their output: $log"; tail -30 "$log"; exit 1; }
calls=$(sed -n 's/^const FUZZ_CALLS: u64 = \([0-9_]*\);.*/\1/p' "$ws/embctl/tests/linux_compat.rs" | tr -d _)
echo
grep -E "^load_app x[0-9]+: heap used" "$log" | sed 's/^/  /'
grep -E "^fuzz: " "$log" | awk '!seen[$0]++' | sed 's/^/  /'
echo "  calls per CI run: ${EMBOX_FUZZ_CALLS:-$calls} (FUZZ_CALLS; EMBOX_FUZZ_CALLS overrides)"
