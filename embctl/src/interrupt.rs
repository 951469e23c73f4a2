//! What embctl undoes when SIGINT, SIGTERM or SIGHUP ends it: one signal task,
//! installed on first use, that restores the terminal, runs the registered
//! async hooks (the engine's: remove this process's containers), deletes the
//! registered temporary trees (killing the process filling each and unmounting
//! what is mounted below it), then exits with 128+signal.
//!
//! Nothing here talks to the Docker engine: `engine::cleanup` registers its
//! container removal as a hook.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// An async clean-up run by the signal task before it exits.
pub type Hook = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());
static HANDLERS: Once = Once::new();
/// Set when a signal started the clean-up: the main flow then sees its
/// container die and must not exit with the container's status before the
/// signal task exits with 128+signal.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Temporary directories or files (with the process filling them) to delete on a signal.
static TREES: Mutex<Vec<(PathBuf, Option<u32>)>> = Mutex::new(Vec::new());

/// Runs `hook` when a signal ends the process (once per distinct hook).
/// Must be called inside the tokio runtime (it installs the signal task).
pub fn on_interrupt(hook: Hook) {
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    if !hooks.iter().any(|h| std::ptr::fn_addr_eq(*h, hook)) {
        hooks.push(hook);
    }
    drop(hooks);
    install_signal_handlers();
}

/// Parks the caller forever when a signal is being handled (the signal task exits the process).
pub async fn park_if_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

/// Deletes `dir` (a directory or a file) if a signal ends the process while the
/// guard lives (after killing `child` and unmounting anything below `dir`).
/// Dropping the guard only forgets the directory: its owner removes it on the
/// normal path.
pub struct TreeGuard {
    dir: PathBuf,
}

/// See [`TreeGuard`]. Must be called inside the tokio runtime.
pub fn remove_tree_on_interrupt(dir: &Path, child: Option<u32>) -> TreeGuard {
    TREES.lock().unwrap_or_else(|e| e.into_inner()).push((dir.to_path_buf(), child));
    install_signal_handlers();
    TreeGuard { dir: dir.to_path_buf() }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        TREES.lock().unwrap_or_else(|e| e.into_inner()).retain(|(d, _)| d != &self.dir);
    }
}

/// Unmounts whatever is mounted at or below `dir` (e.g. debootstrap's /proc), deepest first.
pub use embctl_base_rootfs::unmount_below;

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

fn install_signal_handlers() {
    HANDLERS.call_once(|| {
        use tokio::signal::unix::{signal, SignalKind};
        // The streams are created here, synchronously, so the handlers are in place
        // before the caller goes on (not when the task is first polled).
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
        else {
            tracing::warn!("cannot install signal handlers; an interrupted run may leave a container or a temporary file behind");
            return;
        };
        tokio::spawn(async move {
            let signo = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
                _ = hup.recv() => libc::SIGHUP,
            };
            INTERRUPTED.store(true, Ordering::SeqCst);
            crate::ui::restore_terminal();
            let hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for hook in hooks {
                hook().await;
            }
            remove_trees();
            std::process::exit(128 + signo);
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_forgets_its_tree() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = rt.enter();
        let dir = tempfile::tempdir().unwrap();
        let listed = |d: &Path| TREES.lock().unwrap().iter().any(|(t, _)| t == d);
        let guard = remove_tree_on_interrupt(dir.path(), None);
        assert!(listed(dir.path()));
        drop(guard);
        assert!(!listed(dir.path()), "the owner removes it on the normal path");
        assert!(dir.path().exists(), "dropping the guard deletes nothing");
    }
}
