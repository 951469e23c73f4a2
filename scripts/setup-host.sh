#!/usr/bin/env bash
# Prepares a Debian host (as root) for embctl: installs what is missing,
# starts a Docker engine when none answers, and builds embctl.
#   scripts/setup-host.sh               set up (idempotent)
#   scripts/setup-host.sh --stop-started  stop the dockerd this script started, if any
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pidfile=/run/embctl-dockerd.pid
log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == --stop-started ]]; then
  if [[ -f $pidfile ]]; then
    pid=$(cat "$pidfile")
    log "stopping the dockerd this script started (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$pidfile"
  fi
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "run this as root (it installs packages and may start dockerd): sudo $0"

# --- Debian packages -------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v gcc >/dev/null || need+=(gcc)
[[ -e /usr/lib/gcc/x86_64-linux-gnu/$(gcc -dumpversion 2>/dev/null || echo none)/32/libgcc.a ]] || need+=(gcc-multilib)
command -v curl >/dev/null || need+=(curl)
command -v setpriv >/dev/null || need+=(util-linux)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || need+=(ca-certificates)
if ((${#need[@]})); then
  log "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# --- Docker engine ---------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    log "starting docker.service"
    systemctl start docker || true
  fi
fi
if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers; starting dockerd (log: /var/log/embctl-dockerd.log)"
  nohup dockerd >/var/log/embctl-dockerd.log 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || die "dockerd did not come up; see /var/log/embctl-dockerd.log"
fi
log "docker engine: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# --- Rust toolchain for embctl (the kernel builds with Debian's rustc inside the image) ---
if ! command -v cargo >/dev/null; then
  [[ -x $HOME/.cargo/bin/cargo ]] || {
    log "no cargo found; installing Rust with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  }
  export PATH=$HOME/.cargo/bin:$PATH
fi

# --- the base image and the build image, while embctl compiles ---------------
# Neither needs embctl's compiled code. When the base image is missing, start
# them now in the background: embctl-base-rootfs (std and sha2 only, built in
# seconds) debootstraps the base, imports it and builds docker/Dockerfile with
# the docker CLI, under the same tag, labels and host locks embctl uses (one
# definition: base-rootfs/src/recipe.rs). embctl's image step then finds the
# image, waiting for it when it is still being built; whatever the background
# job could not do, embctl does itself.
base_tag=${EMBCTL_BASE_TAG:-emdocker-lkl-base:trixie}
if [[ -z ${EMBCTL_BASE_TAG:-} ]] && ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  cargo build --release --locked -p embctl-base-rootfs --manifest-path "$here/Cargo.toml" -q
  prepare_log=/var/log/embctl-base-rootfs.log
  log "base image $base_tag missing: debootstrap and the build image run in the background while embctl compiles (log: $prepare_log)"
  EMBCTL_PREPARE_LOG=$prepare_log nohup "$here/target/release/embctl-base-rootfs" prepare --image "$here/docker" >"$prepare_log" 2>&1 </dev/null &
fi

log "building embctl"
cargo build --release --locked -p embctl --manifest-path "$here/Cargo.toml" -q
log "ready: $here/target/release/embctl"
