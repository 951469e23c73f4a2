//! Containers whose embctl process is gone. A signal is handled (see
//! `cleanup`), but SIGKILL, a crash or a power loss of the client is not: the
//! QEMU container would run forever. Every container therefore records its
//! owner (host, pid, and the pid's start time, so a reused pid is not taken for
//! the owner); the next `run`, `doctor` or `image prune` removes containers of
//! a given role whose owner on this host no longer exists.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use bollard::query_parameters::ListContainersOptions;

use super::{engine_err, Engine, MANAGED_LABEL};

const OWNER_HOST: &str = "org.embctl.owner-host";
const OWNER_PID: &str = "org.embctl.owner-pid";
const OWNER_START: &str = "org.embctl.owner-start";
/// Label naming what a container is for (`qemu`, ...).
pub const ROLE_LABEL: &str = "org.embctl.role";

/// The labels that name this process as a container's owner.
pub(super) fn owner_labels() -> BTreeMap<String, String> {
    let pid = std::process::id();
    let mut labels = BTreeMap::from([(OWNER_HOST.to_string(), hostname()), (OWNER_PID.to_string(), pid.to_string())]);
    if let Some(start) = start_time(pid) {
        labels.insert(OWNER_START.to_string(), start);
    }
    labels
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the owner recorded in `labels` is gone. Containers of other hosts
/// (a shared engine) and containers with no owner labels are never judged.
fn owner_is_gone(labels: &HashMap<String, String>, this_host: &str) -> bool {
    let (Some(host), Some(pid)) = (labels.get(OWNER_HOST), labels.get(OWNER_PID).and_then(|p| p.parse::<u32>().ok())) else {
        return false;
    };
    if host != this_host || pid == std::process::id() {
        return false;
    }
    match (start_time(pid), labels.get(OWNER_START)) {
        (None, _) => true,
        (Some(now), Some(then)) => &now != then,
        (Some(_), None) => false,
    }
}

impl Engine {
    /// Removes the containers labelled `role` whose embctl process is gone;
    /// returns their names.
    pub async fn reap_orphans(&self, role: &str) -> Result<Vec<String>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{MANAGED_LABEL}=true"), format!("{ROLE_LABEL}={role}")],
        )]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let containers = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| engine_err("cannot list containers", e))?;
        let this_host = hostname();
        let mut reaped = Vec::new();
        for container in containers {
            let labels = container.labels.unwrap_or_default();
            let Some(name) = container.names.and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string())) else {
                continue;
            };
            if owner_is_gone(&labels, &this_host) {
                super::cleanup::remove(&self.docker, &name).await.map_err(|e| engine_err(format!("cannot remove the orphaned container {name}"), e))?;
                tracing::info!(
                    "removed container {name}: its embctl (pid {}) is gone",
                    labels.get(OWNER_PID).map(String::as_str).unwrap_or("?")
                );
                reaped.push(name);
            }
        }
        Ok(reaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(host: &str, pid: u32, start: Option<&str>) -> HashMap<String, String> {
        let mut l = HashMap::from([(OWNER_HOST.to_string(), host.to_string()), (OWNER_PID.to_string(), pid.to_string())]);
        if let Some(s) = start {
            l.insert(OWNER_START.to_string(), s.to_string());
        }
        l
    }

    #[test]
    fn owner_is_gone_only_for_a_dead_or_reused_pid_on_this_host() {
        let host = hostname();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid).unwrap();
        assert!(!owner_is_gone(&labels(&host, pid, Some(&start)), &host), "a live owner");
        assert!(owner_is_gone(&labels(&host, pid, Some("1")), &host), "the pid was reused by another process");
        assert!(!owner_is_gone(&labels("another-host", pid, Some("1")), &host), "another host's container");
        assert!(!owner_is_gone(&HashMap::new(), &host), "no owner labels");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(owner_is_gone(&labels(&host, pid, Some(&start)), &host), "a dead owner");
        assert!(!owner_is_gone(&labels(&host, std::process::id(), None), &host), "ourselves");
    }
}
