//! A host-wide lock (flock on a file in the temp dir) so two embctl processes do
//! not debootstrap the same base or build the same image at once: the second
//! waits, then finds the result and reuses it.

use std::fs::File;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};

/// Held while the lock is; released on drop (the kernel drops flock on close).
pub struct HostLock {
    _file: File,
}

/// Takes the lock named `name` (one per image tag), waiting as long as it takes.
pub async fn lock(name: &str) -> Result<HostLock> {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let path = std::env::temp_dir().join(format!("embctl-{safe}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    // Any user may build; let them share the lock file.
    let _ = std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666));
    // SAFETY: flock on a file descriptor we own; LOCK_NB makes it return at once.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(HostLock { _file: file });
    }
    tracing::info!("another embctl is making {name}; waiting for it ({})", path.display());
    tokio::task::spawn_blocking(move || {
        // SAFETY: as above; this call blocks until the other holder closes its file.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            Ok(HostLock { _file: file })
        } else {
            Err(std::io::Error::last_os_error()).with_context(|| format!("cannot lock {}", path.display()))
        }
    })
    .await
    .context("the lock task failed")?
}
