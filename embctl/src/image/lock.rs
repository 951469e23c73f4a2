//! `docker/packages.lock`: the Debian package versions the last build installed,
//! read from the image, so drift between two builds shows up in `git diff` and
//! in the log.

use anyhow::Result;
use embctl_base_rootfs::recipe::{record_packages, PackagesRecord, PACKAGES_IN_IMAGE as IN_IMAGE};

use crate::engine::{ContainerSpec, Engine};
use crate::workspace::Workspace;

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
    match record_packages(&ws.docker_dir(), &out.stdout_str())? {
        PackagesRecord::Unchanged => tracing::info!("package versions unchanged ({})", path.display()),
        PackagesRecord::Written { packages, drift } => {
            if let Some(changes) = drift {
                tracing::warn!("package versions drifted since the last build ({} change(s)):", changes.len());
                for c in changes.iter().take(20) {
                    tracing::warn!("  {c}");
                }
            }
            tracing::info!("recorded {packages} package versions in {}", path.display());
        }
    }
    Ok(())
}
