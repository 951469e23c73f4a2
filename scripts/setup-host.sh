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

# --- what is missing --------------------------------------------------------
# In three groups, so that the long ones overlap embctl's compile:
#   compile: what compiling embctl needs before anything else (a C compiler and
#            linker; curl and the CA bundle for rustup and embctl's downloads);
#   engine:  the Docker engine and debootstrap (and setpriv), for the build image;
#   tests:   gcc-multilib (the tests build i386 programs on the host with gcc -m32).
missing_compile=() missing_engine=() missing_tests=()
command -v gcc >/dev/null || missing_compile+=(gcc)
command -v curl >/dev/null || missing_compile+=(curl)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing_compile+=(ca-certificates)
command -v dockerd >/dev/null || missing_engine+=(docker.io)
command -v debootstrap >/dev/null || missing_engine+=(debootstrap)
command -v setpriv >/dev/null || missing_engine+=(util-linux)
[[ -e /usr/lib/gcc/x86_64-linux-gnu/$(gcc -dumpversion 2>/dev/null || echo none)/32/libgcc.a ]] || missing_tests+=(gcc-multilib)
if [[ ${1:-} == --print-packages ]]; then
  # For scripts/bench-image.sh --apt (what a bare host gets, by group).
  printf 'compile %s\nengine %s\ntests %s\n' "${missing_compile[*]}" "${missing_engine[*]}" "${missing_tests[*]}"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "run this as root (it installs packages and may start dockerd): sudo $0"

export DEBIAN_FRONTEND=noninteractive
apt_updated=no
apt_install() {
  [[ $apt_updated == yes ]] || apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# embctl's compile, started in the background, ends with this script if it
# fails (apt-get is never interrupted: dpkg would be left half-done).
compile_pid=
trap '[[ -z $compile_pid ]] || kill "$compile_pid" 2>/dev/null || true' EXIT

if ((${#missing_compile[@]})); then
  log "installing: ${missing_compile[*]}"
  apt_install "${missing_compile[@]}"
  apt_updated=yes
fi

# --- Rust toolchain for embctl (the kernel builds with Debian's rustc inside the image) ---
if ! command -v cargo >/dev/null; then
  [[ -x $HOME/.cargo/bin/cargo ]] || {
    log "no cargo found; installing Rust with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  }
  export PATH=$HOME/.cargo/bin:$PATH
fi

# --- the engine's packages, while the small image tool compiles ---------------
base_tag=${EMBCTL_BASE_TAG:-emdocker-lkl-base:trixie}
# One `docker version` call answers "does an engine answer" and names it (a
# warm run makes no other engine call here).
engine=
engine_ready() {
  [[ -n $engine ]] || engine=$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null) || engine=
  [[ -n $engine ]]
}
base_missing() { [[ -z ${EMBCTL_BASE_TAG:-} ]] && ! docker image inspect "$base_tag" >/dev/null 2>&1; }
apt_pid=
if ((${#missing_engine[@]})); then
  log "installing: ${missing_engine[*]} (while embctl compiles)"
  apt_install "${missing_engine[@]}" &
  apt_pid=$!
fi
# embctl-base-rootfs (std and sha2 only, built in seconds) makes the base and
# the build image in the background while embctl compiles. It is needed when
# the base image is missing, which is unknown until an engine answers.
need_image_tool=no
if [[ -z ${EMBCTL_BASE_TAG:-} ]] && { ! engine_ready || base_missing; }; then
  need_image_tool=yes
  cargo build --release --locked -p embctl-base-rootfs --manifest-path "$here/Cargo.toml" -q
fi

# A warm run does not start cargo (half a second even with nothing to do) when
# the binary is newer than every file it is built from and names the commit
# checked out (`--version` does; a commit that touched only kernel/ must still
# refresh it).
embctl_bin=$here/target/release/embctl
embctl_is_current() {
  [[ -x $embctl_bin ]] || return 1
  [[ -z $(find "$here/Cargo.toml" "$here/Cargo.lock" "$here/embctl" "$here/base-rootfs" -newer "$embctl_bin" -print -quit 2>/dev/null) ]] || return 1
  local head
  head=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null) || return 0
  [[ $("$embctl_bin" --version 2>/dev/null) == *"commit $head"* ]]
}
if embctl_is_current; then
  compile_pid=
else
  log "building embctl"
  cargo build --release --locked -p embctl --manifest-path "$here/Cargo.toml" -q &
  compile_pid=$!
fi
if [[ -n $apt_pid ]]; then
  wait "$apt_pid" || die "installing ${missing_engine[*]} failed (apt-get's messages are above)"
  apt_updated=yes
fi

# --- Docker engine ---------------------------------------------------------
if ! engine_ready; then
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    log "starting docker.service"
    systemctl start docker || true
  fi
fi
if ! engine_ready; then
  log "no Docker engine answers; starting dockerd (log: /var/log/embctl-dockerd.log)"
  nohup dockerd >/var/log/embctl-dockerd.log 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do engine_ready && break; sleep 0.5; done
  engine_ready || die "dockerd did not come up; see /var/log/embctl-dockerd.log"
fi
log "docker engine: $engine"

# --- the base image and the build image, while embctl compiles ---------------
# Neither needs embctl's compiled code. When the base image is missing, start
# them now in the background: embctl-base-rootfs debootstraps the base, imports
# it and builds docker/Dockerfile with the docker CLI, under the same tag,
# labels and host locks embctl uses (one definition: base-rootfs/src/recipe.rs).
# embctl's image step then finds the image, waiting for it when it is still
# being built; whatever the background job could not do, embctl does itself.
if [[ $need_image_tool == yes ]] && base_missing; then
  prepare_log=/var/log/embctl-base-rootfs.log
  log "base image $base_tag missing: debootstrap and the build image run in the background while embctl compiles (log: $prepare_log)"
  EMBCTL_PREPARE_LOG=$prepare_log nohup "$here/target/release/embctl-base-rootfs" prepare --image "$here/docker" >"$prepare_log" 2>&1 </dev/null &
fi

if ((${#missing_tests[@]})); then
  log "installing: ${missing_tests[*]} (while embctl compiles)"
  apt_install "${missing_tests[@]}"
fi

if [[ -n $compile_pid ]]; then
  wait "$compile_pid" || { compile_pid=; die "embctl did not compile (cargo's messages are above)"; }
  compile_pid=
fi
log "ready: $here/target/release/embctl"
