//! Removal of this process's containers on every way out: a registry of live
//! containers, removed by the explicit path, by a drop guard, or — on SIGINT,
//! SIGTERM or SIGHUP — by a hook the signal task in `crate::interrupt` runs
//! before it exits with 128+signal. The hook is registered when the engine is
//! connected, so an interrupt is never swallowed, whatever the command is doing.
//! Temporary trees, unmounting and the terminal are `crate::interrupt`'s.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;

/// Names of containers being created or created, and not yet removed. The flag
/// is false while the create request is in flight.
static LIVE: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());
/// The engine client the signal hook removes containers with.
static CLIENT: OnceLock<Docker> = OnceLock::new();

/// Parks the caller forever when a signal is being handled (the handler exits the process).
pub(super) async fn park_if_interrupted() {
    crate::interrupt::park_if_interrupted().await
}

/// Makes `docker` the client the signal hook uses and registers the hook.
pub(super) fn install(docker: &Docker) {
    let _ = CLIENT.set(docker.clone());
    crate::interrupt::on_interrupt(|| Box::pin(remove_all_live()));
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
