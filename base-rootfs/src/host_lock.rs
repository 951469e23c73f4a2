//! A host-wide lock (flock on a file in the temp dir), one per image tag, so two
//! processes (two embctl runs, or embctl and the background build that
//! scripts/setup-host.sh starts) never debootstrap the same base or build the
//! same image at once: the second waits, then finds the result and reuses it.
//!
//! The holder writes what it is doing into the file, so a waiter can say what it
//! waits for. The file is removed when the lock is released (no lock files pile
//! up in /tmp); a waiter that then holds the lock of a removed file sees that the
//! path no longer names its file and starts again.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Held while the lock is; released (and its file removed) on drop.
#[derive(Debug)]
pub struct HostLock {
    file: File,
    path: PathBuf,
}

/// The lock file for `name`: `$TMPDIR/embctl-NAME.lock`, NAME made file-safe.
pub fn path_for(name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("embctl-{safe}.lock"))
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl HostLock {
    /// Takes the lock named `name`, blocking as long as it takes. When another
    /// process holds it, `waiting` is called once with what the holder wrote
    /// (its `doing`). `doing` says what this holder does, for later waiters.
    pub fn acquire(name: &str, doing: &str, waiting: impl FnOnce(&str)) -> io::Result<HostLock> {
        let path = path_for(name);
        let mut waiting = Some(waiting);
        loop {
            let mut file = File::options().create(true).truncate(false).read(true).write(true).open(&path)?;
            // Any user may build; let them share the lock file.
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o666));
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    if let Some(waiting) = waiting.take() {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        waiting(holder.trim());
                    }
                    file.lock()?;
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
            // The previous holder removes the file on release: a lock on a
            // removed file protects nothing, so take the new one.
            if !same_file(&file, &path) {
                continue;
            }
            let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(doing.as_bytes()));
            return Ok(HostLock { file, path });
        }
    }
}

/// Removes the lock files nobody holds (left by embctl versions that kept
/// them, or by a process killed between taking and releasing). Returns them.
pub fn remove_stale() -> Vec<PathBuf> {
    remove_stale_in(&std::env::temp_dir())
}

fn remove_stale_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !(name.starts_with("embctl-") && name.ends_with(".lock")) {
            continue;
        }
        let Ok(file) = File::options().read(true).write(true).open(&path) else { continue };
        // Held: in use. Taken: ours to remove, by the protocol above (a process
        // that opened it meanwhile sees it removed and starts again).
        if file.try_lock().is_ok() && same_file(&file, &path) && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock (waiters then retry on a
        // fresh file); the lock itself goes when `file` closes.
        if same_file(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_sees_the_holders_note_and_no_lock_file_is_left() {
        let name = format!("host-lock-test-{}", std::process::id());
        let held = HostLock::acquire(&name, "building X (log: /x.log)", |_| panic!("free")).unwrap();
        assert!(path_for(&name).is_file());
        let (tx, rx) = std::sync::mpsc::channel();
        let n = name.clone();
        let waiter = std::thread::spawn(move || {
            HostLock::acquire(&n, "second", move |holder| tx.send(holder.to_string()).unwrap()).unwrap()
        });
        assert_eq!(rx.recv().unwrap(), "building X (log: /x.log)");
        drop(held);
        let second = waiter.join().unwrap();
        assert_eq!(fs::read_to_string(path_for(&name)).unwrap(), "second");
        drop(second);
        assert!(!path_for(&name).exists(), "the lock file is removed on release");
    }

    #[test]
    fn only_unheld_lock_files_are_stale() {
        let dir = std::env::temp_dir().join(format!("host-lock-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for name in ["embctl-a.lock", "embctl-b.lock", "other.lock"] {
            fs::write(dir.join(name), "").unwrap();
        }
        let held = File::options().write(true).open(dir.join("embctl-b.lock")).unwrap();
        held.lock().unwrap();
        assert_eq!(remove_stale_in(&dir), vec![dir.join("embctl-a.lock")]);
        assert!(dir.join("embctl-b.lock").is_file() && dir.join("other.lock").is_file());
        drop(held);
        fs::remove_dir_all(&dir).unwrap();
    }
}
