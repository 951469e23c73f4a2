//! Removal of this process's containers (and temporary trees) on every way out:
//! a registry of live containers, removed by the explicit path, by a drop guard,
//! or — on SIGINT, SIGTERM or SIGHUP — by a signal task that then exits with
//! 128+signal. The signal task is installed when the engine is connected, so an
//! interrupt is never swallowed, whatever the command is doing.

use std::collections::BTreeMap;
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;

use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;

/// Names of containers being created or created, and not yet removed. The flag
/// is false while the create request is in flight.
static LIVE: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());
/// The engine client the signal task removes containers with.
static CLIENT: OnceLock<Docker> = OnceLock::new();
static HANDLERS: Once = Once::new();
/// Set when a signal started the removal: the main flow then sees its container
/// die and must not exit with the container's status before the handler exits
/// with 128+signal.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Parks the caller forever when a signal is being handled (the handler exits the process).
pub(super) async fn park_if_interrupted() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

/// Temporary directories or files (with the process filling them) to delete on a signal.
static TREES: Mutex<Vec<(std::path::PathBuf, Option<u32>)>> = Mutex::new(Vec::new());

/// Deletes `dir` (a directory or a file) if a signal ends the process while the
/// guard lives (after killing `child` and unmounting anything below `dir`). Dropping the guard
/// only forgets the directory: its owner removes it on the normal path.
pub struct TreeGuard {
    dir: std::path::PathBuf,
}

pub fn remove_tree_on_interrupt(dir: &std::path::Path, child: Option<u32>) -> TreeGuard {
    TREES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((dir.to_path_buf(), child));
    TreeGuard { dir: dir.to_path_buf() }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        TREES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(d, _)| d != &self.dir);
    }
}

/// Unmounts whatever is mounted at or below `dir` (e.g. debootstrap's /proc), deepest first.
pub fn unmount_below(dir: &std::path::Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = std::process::Command::new("umount").arg("-l").arg(p).status();
    }
}

fn remove_trees() {
    let trees = std::mem::take(&mut *TREES.lock().unwrap_or_else(|e| e.into_inner()));
    for (dir, child) in trees {
        if let Some(pid) = child {
            // SAFETY: kill(2) with a pid we spawned; at worst it fails with ESRCH.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            std::thread::sleep(Duration::from_millis(200));
        }
        if dir.is_dir() {
            unmount_below(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_file(&dir);
        }
        crate::ui::note_line(format_args!("embctl: removed the unfinished {}", dir.display()));
    }
}

/// Makes `docker` the client the signal task uses and installs the task.
pub(super) fn install(docker: &Docker) {
    let _ = CLIENT.set(docker.clone());
    install_signal_handlers();
}

/// Records `name` as live *before* it is created, so a signal that arrives while
/// the create request is in flight still removes it.
pub(super) fn register(docker: &Docker, name: &str) {
    install(docker);
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), false);
}

/// The create request for `name` has returned (either way).
pub(super) fn create_returned(name: &str) {
    if let Some(done) = LIVE.lock().unwrap_or_else(|e| e.into_inner()).get_mut(name) {
        *done = true;
    }
}

pub(super) fn unregister(name: &str) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
}

/// Force-removes `name` (also its anonymous volumes); a missing container is fine.
pub(super) async fn remove(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let opts = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    let res = match docker.remove_container(name, Some(opts)).await {
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        // 409: removal already in progress (e.g. the signal task got there first).
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("in progress") => Ok(()),
        other => other,
    };
    if res.is_ok() {
        unregister(name);
        tracing::trace!("removed container {name}");
    }
    res
}

/// Removal from a synchronous context (a `Drop`): a short-lived thread with its
/// own runtime and connection, because the caller's runtime may be shutting down.
pub(super) fn remove_blocking(name: &str, api_version: &str) {
    let name = name.to_string();
    let api_version = api_version.to_string();
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let docker = Docker::connect_with_host(&super::docker_host()).ok()?;
            let docker = if api_version.is_empty() {
                docker
            } else {
                docker.negotiate_version().await.ok()?
            };
            tokio::time::timeout(Duration::from_secs(20), remove(&docker, &name))
                .await
                .ok()?
                .ok()
        })
    });
    if worker.join().ok().flatten().is_none() {
        tracing::warn!("could not remove a container on the way out; remove leftovers with `docker rm -f $(docker ps -aq --filter label={})`", super::MANAGED_LABEL);
    }
}

fn install_signal_handlers() {
    HANDLERS.call_once(|| {
        use tokio::signal::unix::{signal, SignalKind};
        // The streams are created here, synchronously, so the handlers are in place
        // before the first container is created (not when the task is first polled).
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot install signal handlers; an interrupted container may be left behind");
            return;
        };
        tokio::spawn(async move {
            let signo = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
                _ = hup.recv() => libc::SIGHUP,
            };
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            crate::ui::restore_terminal();
            remove_all_live().await;
            remove_trees();
            std::process::exit(128 + signo);
        });
    });
}

async fn remove_all_live() {
    let Some(docker) = CLIENT.get() else { return };
    let live = || LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if live().is_empty() {
        return;
    }
    crate::ui::note_line(format_args!("embctl: interrupted; removing {} container(s)", live().len()));
    // A container whose create request is in flight cannot be removed reliably
    // yet (the engine may refuse, then finish creating it): let the requests land.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live().values().any(|done| !done) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for attempt in 0..5 {
        let names: Vec<String> = live().into_keys().collect();
        if names.is_empty() {
            return;
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let removals = names.iter().map(|n| remove(docker, n));
        let _ = tokio::time::timeout(Duration::from_secs(20), futures_util::future::join_all(removals)).await;
    }
    for name in live().keys() {
        crate::ui::note_line(format_args!("embctl: could not remove container {name}; remove it with `docker rm -f {name}`"));
    }
}
