//! The container every workspace command runs in: workspace at /ws, the invoking
//! user's uid:gid, host trust and proxy settings, a persistent cargo cache.

use std::path::{Path, PathBuf};

use crate::engine::ContainerSpec;
use crate::workspace::Workspace;

/// Where the workspace appears inside containers.
pub const CONTAINER_WS: &str = "/ws";
/// The host CA bundle (Debian layout); TLS here may go through a proxy with its own CA.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Proxy settings pass by allow-list; nothing else from the host environment does.
const FORWARDED_ENV: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// Runs `cmd` in `image` with the workspace bind-mounted at /ws (working directory),
/// as the invoking user's uid:gid, with the host CA bundle and proxy variables, and
/// a cargo home (`$XDG_CACHE_HOME/embctl/cargo`) that persists between runs.
pub fn workspace_spec(ws: &Workspace, image: &str, cmd: Vec<String>) -> ContainerSpec {
    // SAFETY: getuid/getgid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut binds = vec![format!("{}:{CONTAINER_WS}", ws.root.display())];
    let mut env = vec!["HOME=/tmp/home".to_string()];
    // The image's entrypoint gives a uid without a passwd entry one under this name.
    if let Some(name) = user_name(uid) {
        env.push(format!("EMBCTL_USER={name}"));
    }
    if Path::new(HOST_CA_BUNDLE).is_file() {
        binds.push(format!("{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"));
        env.push(format!("SSL_CERT_FILE={HOST_CA_BUNDLE}"));
        env.push(format!("CARGO_HTTP_CAINFO={HOST_CA_BUNDLE}"));
    }
    for name in FORWARDED_ENV {
        if let Ok(value) = std::env::var(name) {
            env.push(format!("{name}={value}"));
        }
    }
    match cargo_cache() {
        Some(dir) => {
            binds.push(format!("{}:/cargo", dir.display()));
            env.push("CARGO_HOME=/cargo".into());
        }
        None => tracing::debug!("no persistent cargo cache; crates are fetched per container"),
    }
    ContainerSpec {
        image: image.to_string(),
        cmd,
        workdir: Some(CONTAINER_WS.into()),
        env,
        binds,
        user: Some(format!("{uid}:{gid}")),
        init: true,
        // The image's /etc/passwd is writable (for the entry above): no setuid way to root.
        no_new_privileges: true,
        ..Default::default()
    }
}

/// The host's name for `uid` (its passwd entry, else `$USER`), when it is a
/// plain user name that can go into the container's /etc/passwd unchanged.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let name = passwd_name(uid).or_else(|| std::env::var("USER").ok())?;
    let plain = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    plain.then_some(name)
}

fn passwd_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter (plain C struct of pointers and ints).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into pwd and buf (whose length we pass) and sets result.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside buf, alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_string)
}

/// `$XDG_CACHE_HOME/embctl/cargo` (or `~/.cache/...`), created by us as the
/// invoking user so the container (same uid) can write it. None when it cannot be made.
fn cargo_cache() -> Option<PathBuf> {
    let dir = dirs::cache_dir()?.join("embctl").join("cargo");
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!(
                "cannot create the cargo cache {}: {e}; crates will be fetched every time",
                dir.display()
            );
            None
        }
    }
}
