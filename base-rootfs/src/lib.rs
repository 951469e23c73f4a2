//! The root filesystem of embctl's offline base image: `debootstrap
//! --variant=minbase --arch=i386 trixie` from the host's Debian mirror.
//!
//! embctl runs debootstrap itself when the base image is missing and no
//! registry answers. On a fresh machine `scripts/setup-host.sh` starts it
//! earlier, as `embctl-base-rootfs prepare` in the background (this crate has
//! no dependencies, so it builds in seconds), which overlaps debootstrap with
//! embctl's own compile; embctl's image step then imports the prepared tree
//! (waiting for it when it is still being made) instead of running debootstrap.
//!
//! A prepared tree is a directory ([`Prepared::location`]) holding:
//! - `lock`: locked (flock) by whoever works on the directory: the preparing
//!   process for as long as it runs, embctl while it imports;
//! - `rootfs/`: the tree debootstrap fills;
//! - `log`: debootstrap's output;
//! - `done`: written last and atomically; its one line is the mirror. Without
//!   it the tree is unfinished (a failed or interrupted attempt), and is never
//!   imported.

pub mod host_lock;
pub mod prebuild;
pub mod recipe;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

pub const SUITE: &str = "trixie";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// Where `prepare` works unless `EMBCTL_BASE_ROOTFS_DIR` says otherwise (root's:
/// debootstrap runs as root, and the tree holds root-only files).
const DEFAULT_DIR: &str = "/var/cache/embctl/base-rootfs-trixie-i386";

/// debootstrap's arguments for the base: `--variant=minbase --arch=i386 trixie TARGET MIRROR`.
pub fn debootstrap_args(target: &Path, mirror: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--variant=minbase", "--arch=i386", SUITE].map(OsString::from).to_vec();
    args.push(target.into());
    args.push(mirror.into());
    args
}

/// The command in words, for messages.
pub fn describe(mirror: &str) -> String {
    format!("debootstrap --variant=minbase --arch=i386 {SUITE} from {mirror}")
}

/// debootstrap on PATH (or in /usr/sbin, /sbin, where Debian puts it).
pub fn debootstrap_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .map(|d| d.join("debootstrap"))
        .find(|p| p.is_file())
}

/// Unmounts whatever is mounted at or below `dir` (debootstrap's /proc and /sys
/// of a failed or interrupted run), deepest first.
pub fn unmount_below(dir: &Path) {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = std::process::Command::new("umount").arg("-l").arg(p).status();
    }
}

/// The Debian mirror the host's apt uses (first non-security `deb` source), so
/// debootstrap goes where apt already goes (proxies, internal mirrors).
/// `EMBCTL_DEBIAN_MIRROR` overrides.
pub fn host_mirror() -> String {
    if let Ok(m) = std::env::var("EMBCTL_DEBIAN_MIRROR") {
        if !m.is_empty() {
            return m;
        }
    }
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                if let Ok(t) = fs::read_to_string(&p) {
                    texts.push((ext == "sources", t));
                }
            }
        }
    }
    texts
        .iter()
        .flat_map(|(deb822, t)| if *deb822 { mirrors_deb822(t) } else { mirrors_one_line(t) })
        .find(|m| !m.contains("security"))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

fn usable(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// `deb [options] URL suite components` lines.
fn mirrors_one_line(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb ") || l.starts_with("deb\t"))
        .filter_map(|l| {
            let rest = l[3..].trim_start();
            let rest = if rest.starts_with('[') { rest.split_once(']').map(|(_, r)| r.trim_start())? } else { rest };
            rest.split_whitespace().next().map(str::to_string)
        })
        .filter(|u| usable(u))
        .collect()
}

/// deb822 stanzas: `Types: deb` with `URIs:`; disabled stanzas (`Enabled: no`) skipped.
fn mirrors_deb822(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        if is_deb && enabled {
            if let Some(uris) = field("URIs") {
                out.extend(uris.split_whitespace().filter(|u| usable(u)).map(str::to_string));
            }
        }
    }
    out
}

/// The directory of a prepared tree (see the crate's documentation).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dir: PathBuf,
}

/// A finished tree, locked for the holder until dropped.
#[derive(Debug)]
pub struct Ready {
    pub rootfs: PathBuf,
    pub mirror: String,
    dir: PathBuf,
    _lock: File,
}

impl Ready {
    /// The prepared-tree directory (`rootfs/`'s parent).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Deletes the tree (after it was imported); the lock goes with it.
    pub fn remove(self) -> io::Result<()> {
        fs::remove_dir_all(&self.dir)
    }
}

/// What a look at the prepared-tree directory found.
#[derive(Debug)]
pub enum Found {
    /// No tree was prepared (or an unfinished one was just removed: `stale` says why).
    Nothing { stale: Option<String> },
    Ready(Ready),
}

impl Prepared {
    /// `EMBCTL_BASE_ROOTFS_DIR`, else `/var/cache/embctl/base-rootfs-trixie-i386`.
    pub fn location() -> Prepared {
        let dir = std::env::var_os("EMBCTL_BASE_ROOTFS_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
        Prepared { dir: dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)) }
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log")
    }
    fn done(&self) -> PathBuf {
        self.dir.join("done")
    }
    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Opens and locks the directory's lock file, creating both. When another
    /// process holds it, `waiting` is called once, then this blocks until the
    /// holder is done.
    pub fn lock(&self, waiting: impl FnOnce()) -> io::Result<File> {
        fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(self.lock_path())?;
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => waiting(),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        file.lock()?;
        Ok(file)
    }

    /// Whether a tree was prepared or is being prepared here (finished or not).
    pub fn exists(&self) -> bool {
        self.lock_path().is_file()
    }

    /// Whether some process is preparing or importing the tree right now.
    pub fn is_busy(&self) -> bool {
        let Ok(file) = File::open(self.lock_path()) else { return false };
        matches!(file.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
    }

    /// Takes the finished tree, waiting (after calling `waiting`) while one is
    /// being prepared. An unfinished tree is removed and reported as stale.
    pub fn take(&self, waiting: impl FnOnce()) -> io::Result<Found> {
        if !self.lock_path().is_file() {
            return Ok(Found::Nothing { stale: None });
        }
        let lock = self.lock(waiting)?;
        match fs::read_to_string(self.done()) {
            Ok(text) if !text.trim().is_empty() && self.rootfs().is_dir() => Ok(Found::Ready(Ready {
                rootfs: self.rootfs(),
                mirror: text.trim().to_string(),
                dir: self.dir.clone(),
                _lock: lock,
            })),
            _ => {
                let stale = format!("{} holds no finished tree (see its log {})", self.dir.display(), self.log().display());
                self.clear()?;
                Ok(Found::Nothing { stale: Some(stale) })
            }
        }
    }

    /// Removes the whole directory unless some process works on it right now
    /// (for a tree that will never be imported: the base image exists). Returns
    /// whether there was one to remove.
    pub fn remove_unused(&self) -> io::Result<bool> {
        if !self.exists() {
            return Ok(false);
        }
        let file = OpenOptions::new().write(true).open(self.lock_path())?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(false),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        unmount_below(&self.dir);
        fs::remove_dir_all(&self.dir)?;
        Ok(true)
    }

    /// Removes an unfinished attempt (unmounting what it left mounted). Call with the lock held.
    fn clear(&self) -> io::Result<()> {
        let _ = fs::remove_file(self.done());
        let rootfs = self.rootfs();
        if rootfs.exists() {
            unmount_below(&rootfs);
            fs::remove_dir_all(&rootfs)?;
        }
        Ok(())
    }

    /// Runs debootstrap into `rootfs/` (output to `log`) unless a finished tree
    /// is there already, and marks it done. Holds the lock throughout. Needs root.
    pub fn prepare(&self) -> Result<String, String> {
        let debootstrap = debootstrap_path().ok_or("debootstrap is not installed; install it with `apt-get install debootstrap`")?;
        let _lock = self.lock(|| eprintln!("embctl-base-rootfs: waiting for the process that holds {}", self.lock_path().display()))
            .map_err(|e| format!("cannot lock {}: {e}", self.lock_path().display()))?;
        if let Ok(mirror) = fs::read_to_string(self.done()) {
            if self.rootfs().is_dir() {
                return Ok(format!("{} is already prepared (from {})", self.rootfs().display(), mirror.trim()));
            }
        }
        self.clear().map_err(|e| format!("cannot remove the unfinished tree {}: {e}", self.rootfs().display()))?;
        let mirror = host_mirror();
        let log = File::create(self.log()).map_err(|e| format!("cannot create {}: {e}", self.log().display()))?;
        let err = log.try_clone().map_err(|e| format!("cannot write {}: {e}", self.log().display()))?;
        let status = std::process::Command::new(&debootstrap)
            .args(debootstrap_args(&self.rootfs(), &mirror))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .map_err(|e| format!("cannot start {}: {e}", debootstrap.display()))?;
        if !status.success() {
            unmount_below(&self.rootfs());
            return Err(format!("{} failed ({status}); see {}", describe(&mirror), self.log().display()));
        }
        unmount_below(&self.rootfs());
        let tmp = self.dir.join("done.tmp");
        fs::write(&tmp, format!("{mirror}\n"))
            .and_then(|()| fs::rename(&tmp, self.done()))
            .map_err(|e| format!("cannot write {}: {e}", self.done().display()))?;
        Ok(format!("prepared {} ({})", self.rootfs().display(), describe(&mirror)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_skip_options_and_cdrom() {
        let text = "# comment\ndeb cdrom:[Debian]/ trixie main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main\n";
        assert_eq!(mirrors_one_line(text), vec!["http://m.example/debian"]);
    }

    #[test]
    fn deb822_sources_take_uris_of_enabled_deb_stanzas() {
        let text = "Types: deb-src\nURIs: http://src.example/debian\n\nTypes: deb\nEnabled: no\nURIs: http://off.example/\n\n\
                    Types: deb\n# note\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(mirrors_deb822(text), vec!["http://deb.debian.org/debian"]);
    }

    fn scratch(name: &str) -> Prepared {
        let dir = std::env::temp_dir().join(format!("embctl-base-rootfs-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Prepared { dir }
    }

    #[test]
    fn nothing_prepared_is_nothing() {
        let p = scratch("none");
        assert!(matches!(p.take(|| panic!("nothing to wait for")).unwrap(), Found::Nothing { stale: None }));
        assert!(!p.dir.exists(), "looking creates nothing");
    }

    #[test]
    fn an_unfinished_tree_is_removed_never_taken() {
        let p = scratch("unfinished");
        drop(p.lock(|| {}).unwrap());
        fs::create_dir_all(p.rootfs().join("etc")).unwrap();
        match p.take(|| panic!("nobody holds the lock")).unwrap() {
            Found::Nothing { stale: Some(why) } => assert!(why.contains("no finished tree"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(!p.rootfs().exists());
        fs::remove_dir_all(&p.dir).unwrap();
    }

    #[test]
    fn a_finished_tree_is_taken_after_its_preparer_lets_go() {
        let p = scratch("finished");
        let preparer = p.lock(|| {}).unwrap();
        fs::create_dir_all(p.rootfs().join("etc")).unwrap();
        fs::write(p.done(), "http://m.example/debian\n").unwrap();
        assert!(p.is_busy());
        let (tx, rx) = std::sync::mpsc::channel();
        let q = p.clone();
        let taker = std::thread::spawn(move || q.take(move || tx.send(()).unwrap()).unwrap());
        rx.recv().unwrap(); // the taker saw the lock held and waits
        drop(preparer);
        let Found::Ready(ready) = taker.join().unwrap() else { panic!("a finished tree") };
        assert_eq!(ready.mirror, "http://m.example/debian");
        assert!(p.is_busy(), "the taker holds the lock while it imports");
        ready.remove().unwrap();
        assert!(!p.dir.exists());
    }

    #[test]
    fn an_unused_tree_is_removed_but_not_one_in_use() {
        let p = scratch("unused");
        assert!(!p.remove_unused().unwrap(), "nothing there");
        let held = p.lock(|| {}).unwrap();
        fs::create_dir_all(p.rootfs().join("etc")).unwrap();
        assert!(!p.remove_unused().unwrap(), "in use");
        assert!(p.rootfs().is_dir());
        drop(held);
        assert!(p.remove_unused().unwrap());
        assert!(!p.dir.exists());
    }

    #[test]
    fn debootstrap_args_are_the_pinned_suite_and_variant() {
        let args = debootstrap_args(Path::new("/t/rootfs"), "http://m/debian");
        assert_eq!(args, ["--variant=minbase", "--arch=i386", "trixie", "/t/rootfs", "http://m/debian"].map(OsString::from));
    }
}
