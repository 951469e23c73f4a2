//! `docker/packages.lock`: the Debian package versions the last build installed,
//! read from the image, so drift between two builds shows up in `git diff` and
//! in the log.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::engine::{ContainerSpec, Engine};
use crate::workspace::Workspace;

/// Where the Dockerfile writes `dpkg-query` output inside the image.
const IN_IMAGE: &str = "/usr/share/emdocker-lkl/packages.lock";

pub async fn record(engine: &Engine, ws: &Workspace, image: &str) -> Result<()> {
    let spec = ContainerSpec {
        image: image.to_string(),
        cmd: vec!["cat".into(), IN_IMAGE.into()],
        network_mode: Some("none".into()),
        ..Default::default()
    };
    let out = engine.run_capture(&spec).await?;
    if out.exit_code != 0 {
        tracing::warn!(
            "{image} has no {IN_IMAGE} ({}); package versions not recorded",
            out.stderr_str().trim()
        );
        return Ok(());
    }
    let path = ws.docker_dir().join("packages.lock");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = out.stdout_str();
    if old == new {
        tracing::info!("package versions unchanged ({})", path.display());
        return Ok(());
    }
    let changes = drift(&old, &new);
    if !old.is_empty() {
        tracing::warn!(
            "package versions drifted since the last build ({} change(s)):",
            changes.len()
        );
        for c in changes.iter().take(20) {
            tracing::warn!("  {c}");
        }
    }
    std::fs::write(&path, &new).with_context(|| format!("cannot write {}", path.display()))?;
    give_to_workspace_owner(ws, &path);
    tracing::info!(
        "recorded {} package versions in {}",
        new.lines().count(),
        path.display()
    );
    Ok(())
}

/// `name: old -> new` lines for every package that changed, appeared or vanished.
fn drift(old: &str, new: &str) -> Vec<String> {
    let parse = |t: &str| -> BTreeMap<String, String> {
        t.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (old, new) = (parse(old), parse(new));
    let mut out = Vec::new();
    for (name, v) in &new {
        match old.get(name) {
            Some(o) if o != v => out.push(format!("{name}: {o} -> {v}")),
            None => out.push(format!("{name}: (new) {v}")),
            _ => {}
        }
    }
    for (name, o) in &old {
        if !new.contains_key(name) {
            out.push(format!("{name}: {o} -> (removed)"));
        }
    }
    out
}

/// A file embctl writes into the workspace belongs to whoever owns the workspace,
/// even when embctl runs as root (no root-owned files left behind).
fn give_to_workspace_owner(ws: &Workspace, path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata(ws.docker_dir()) {
        let _ = std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drift_lists_changed_new_and_removed_packages() {
        let d = super::drift("a=1\nb=2\nc=3\n", "a=1\nb=2.1\nd=4\n");
        assert_eq!(d, vec!["b: 2 -> 2.1", "d: (new) 4", "c: 3 -> (removed)"]);
    }
}
