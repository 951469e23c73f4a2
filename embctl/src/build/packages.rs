//! The template's Debian i386 packages (`[rootfs] packages = [...]`) in the
//! initramfs: fetched with apt inside the build image (an i386 Debian),
//! with every package they depend on (`apt-cache depends --recurse`), and
//! unpacked under `build/base/packages/root`, which the initramfs adds.
//!
//! - `build/base/packages/apt/`: apt's lists and cache, ours (no root
//!   needed, the image's /var/lib/apt untouched);
//! - `build/base/packages/debs/`: the downloaded .deb files (the cache);
//! - `build/base/packages/packages.lock`: `name version` of every package
//!   unpacked (the lock file; `build/` is never committed);
//! - `build/base/packages/request`: the list the root was made for: the
//!   same list again is "up to date" and nothing is fetched;
//! - `build/base/packages/fetch.sh`: the script run in the image.
//!
//! Debian's merged /usr puts programs in /usr/bin and libraries in
//! /usr/lib/i386-linux-gnu; the unpacked tree gets /bin/NAME links to them
//! and /lib/ld-linux.so.2 (the interpreter dynamic programs name), so
//! `load_app bash` finds bash as it finds the seed programs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{container_path, run_step, Artefacts};
use crate::engine::Engine;
use crate::workspace::Workspace;

fn dir(ws: &Workspace) -> PathBuf {
    Artefacts::new(ws).base.join("packages")
}

/// The unpacked packages, added to the initramfs when present.
pub fn root(ws: &Workspace) -> PathBuf {
    dir(ws).join("root")
}

/// The lock file: `name version` per unpacked package.
pub fn lock_file(ws: &Workspace) -> PathBuf {
    dir(ws).join("packages.lock")
}

/// True for a Debian package name (policy 5.6.1: lower-case letters,
/// digits, `+`, `-`, `.`; at least two characters, starting alphanumeric).
/// Names go into a shell command line, so nothing else is let through.
pub fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A template without packages: the unpacked tree of an earlier build
/// leaves the initramfs (the debs and apt lists stay cached).
pub fn forget(ws: &Workspace) -> Result<()> {
    for path in [root(ws), dir(ws).join("request")] {
        let gone = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match gone {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The script run in the build image: `$@` are the package names.
const SCRIPT: &str = r#"set -e
out="$1"; shift
apt="-o Dir::State::Lists=$out/apt/lists -o Dir::Cache=$out/apt/cache -o Debug::NoLocking=1"
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/debs"
ls "$out"/apt/lists/*Packages* >/dev/null 2>&1 || apt-get $apt update -qq
# Every package they need, recursively (virtual packages, in <>, dropped).
pkgs=$(apt-cache $apt depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" | grep '^[a-z0-9]' | sort -u)
cd "$out/debs"
apt-get $apt download -qq $pkgs
rm -rf "$out/root.new" "$out/packages.lock.new"
mkdir "$out/root.new"
for p in $pkgs; do
  deb=$(ls -t "${p}"_*.deb | head -n 1)
  dpkg-deb -x "$deb" "$out/root.new"
  echo "$p $(dpkg-deb -f "$deb" Version)" >> "$out/packages.lock.new"
done
cd "$out/root.new"
rm -rf usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian
# Merged /usr: /bin/NAME and /lib/ld-linux.so.2 as links, not whole-directory
# links (the initramfs already has a /bin directory).
for d in bin sbin lib; do if [ -L "$d" ]; then rm "$d"; fi; done
mkdir -p bin lib
for f in usr/bin/* usr/sbin/* sbin/* ; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  n=${f##*/}
  [ -e "bin/$n" ] || [ -L "bin/$n" ] || ln -s "/$f" "bin/$n"
done
[ -e usr/lib/i386-linux-gnu/ld-linux.so.2 ] && ln -sf /usr/lib/i386-linux-gnu/ld-linux.so.2 lib/ld-linux.so.2
[ -e lib/i386-linux-gnu ] || ln -s /usr/lib/i386-linux-gnu lib/i386-linux-gnu
cd "$out"
rm -rf root
mv root.new root
mv packages.lock.new packages.lock
"#;

/// Fetches and unpacks `packages` (unless the root already holds exactly
/// them) and logs what the initramfs gains.
pub async fn fetch(ws: &Workspace, engine: &Engine, image: &str, packages: &[String]) -> Result<()> {
    let out = dir(ws);
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut wanted = packages.to_vec();
    wanted.sort();
    wanted.dedup();
    let request = wanted.join("\n") + "\n";
    let request_file = out.join("request");
    let up_to_date = root(ws).is_dir() && lock_file(ws).is_file() && fs::read_to_string(&request_file).ok().as_deref() == Some(request.as_str());
    if up_to_date {
        tracing::info!("Debian packages up to date ({})", wanted.join(" "));
    } else {
        // The script as a file, so the log shows one short command line.
        let script = out.join("fetch.sh");
        fs::write(&script, SCRIPT).with_context(|| format!("cannot write {}", script.display()))?;
        let mut argv: Vec<String> = vec!["sh".into(), container_path(ws, &script)?, container_path(ws, &out)?];
        argv.extend(wanted.iter().cloned());
        run_step(ws, engine, image, argv, Vec::new()).await.with_context(|| {
            format!("cannot fetch the Debian packages {} (is each name an i386 package of the build image's Debian release?)", wanted.join(" "))
        })?;
        fs::write(&request_file, &request).with_context(|| format!("cannot write {}", request_file.display()))?;
    }
    let lock = fs::read_to_string(lock_file(ws)).with_context(|| format!("cannot read {}", lock_file(ws).display()))?;
    let (files, bytes) = tree_size(&root(ws))?;
    tracing::info!(
        "Debian packages: {} requested, {} with dependencies, {files} files, {:.1} MiB unpacked in build/base/packages/root; versions in {}",
        wanted.len(),
        lock.lines().count(),
        bytes as f64 / (1 << 20) as f64,
        lock_file(ws).strip_prefix(&ws.root).unwrap_or(&lock_file(ws)).display()
    );
    Ok(())
}

/// Regular files and their bytes under `dir` (links not followed).
fn tree_size(dir: &Path) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let meta = fs::symlink_metadata(entry.path()).with_context(|| format!("cannot stat {}", entry.path().display()))?;
        if meta.is_dir() {
            let (f, b) = tree_size(&entry.path())?;
            files += f;
            bytes += b;
        } else if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_checked_before_reaching_a_shell() {
        for good in ["bash", "coreutils", "libc6", "g++", "busybox-static", "libstdc++6", "python3.11"] {
            assert!(is_package_name(good), "{good}");
        }
        for bad in ["", "a", "Bash", "-rf", "bash; rm -rf /", "$(id)", "a b", "../x", "bash:i386"] {
            assert!(!is_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn forget_removes_the_unpacked_tree_only() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace { root: d.path().to_path_buf() };
        fs::create_dir_all(root(&ws).join("usr/bin")).unwrap();
        fs::create_dir_all(dir(&ws).join("debs")).unwrap();
        fs::write(dir(&ws).join("request"), "bash\n").unwrap();
        forget(&ws).unwrap();
        assert!(!root(&ws).exists() && !dir(&ws).join("request").exists());
        assert!(dir(&ws).join("debs").is_dir(), "the download cache stays");
        forget(&ws).unwrap();
    }

    #[test]
    fn tree_size_counts_files_not_links() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/f"), b"12345").unwrap();
        fs::write(d.path().join("g"), b"67").unwrap();
        std::os::unix::fs::symlink("g", d.path().join("link")).unwrap();
        assert_eq!(tree_size(d.path()).unwrap(), (2, 7));
    }
}
