//! The host-wide lock of an image tag (`embctl_base_rootfs::host_lock`, shared
//! with the background build scripts/setup-host.sh starts), taken without
//! blocking the async runtime.

use anyhow::{Context, Result};
use embctl_base_rootfs::host_lock::HostLock;

/// Takes the lock of `name` (an image tag), waiting as long as it takes and
/// saying whom it waits for.
pub async fn lock(name: &str) -> Result<HostLock> {
    let name = name.to_string();
    let doing = format!("embctl (pid {}) making {name}", std::process::id());
    tokio::task::spawn_blocking(move || {
        HostLock::acquire(&name, &doing, |holder| {
            let holder = if holder.is_empty() { "another embctl" } else { holder };
            tracing::info!("{name} is being made by {holder}; waiting for it");
        })
        .with_context(|| format!("cannot lock {}", embctl_base_rootfs::host_lock::path_for(&name).display()))
    })
    .await
    .context("the lock task failed")?
}
