# Sourced by the benchmark scripts: sets $embctl (EMBCTL, else a built
# target/release or target/debug binary, else builds one) and `ec`, embctl
# run against this checkout. Expects $here (the checkout) and the cwd there.
embctl=${EMBCTL:-}
if [[ -z $embctl ]]; then
  for candidate in target/release/embctl target/debug/embctl; do
    [[ -x $candidate ]] && { embctl=$candidate; break; }
  done
  [[ -n $embctl ]] || { cargo build -q --release -p embctl; embctl=target/release/embctl; }
fi
ec() { "$embctl" --workspace "$here" "$@"; }
