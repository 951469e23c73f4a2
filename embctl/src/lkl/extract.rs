//! Safe extraction of the LKL archive: every entry name goes through
//! `enclosed_name`, symlinks may not point outside the tree, unix modes are
//! kept, and the tree appears at its final path only when complete (it is
//! built in a temporary directory next to it and renamed at the end).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::debug;

/// Prefix of the temporary directories; stale ones (after a kill) are removed
/// before the next extraction.
const TMP_PREFIX: &str = ".extract-";

/// Extracts `archive`, whose entries must all live under `top/`, to `dest`
/// (which must not exist yet; its parent is created).
pub fn extract_tree(archive: &Path, top: &str, dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("tree path has a parent");
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    remove_stale_temporaries(parent, TMP_PREFIX)?;
    if dest.exists() {
        bail!("{} already exists; remove it with `embctl clean-lkl --all` first", dest.display());
    }
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a temporary directory in {}", parent.display()))?;
    extract_into(archive, top, tmp.path())?;
    let built = tmp.path().join(top);
    if !built.is_dir() {
        bail!("{} has no {top}/ directory: it is not an archive of the pinned LKL commit", archive.display());
    }
    fs::rename(&built, dest).with_context(|| format!("cannot move the extracted tree to {}", dest.display()))?;
    debug!("extracted {}", dest.display());
    Ok(())
    // `tmp` is dropped here and removes whatever is left of it.
}

/// Removes the temporary directories named `prefix*` in `dir` that a killed
/// embctl left. Callers hold the tree lock, so none of them is in use.
pub fn remove_stale_temporaries(dir: &Path, prefix: &str) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            debug!("removing the leftover of an interrupted extraction: {}", entry.path().display());
            crate::remove_tree::remove_tree(&entry.path()).with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn extract_into(archive: &Path, top: &str, root: &Path) -> Result<()> {
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a readable zip archive", archive.display()))?;
    let refuse = |what: String| -> anyhow::Error {
        anyhow::anyhow!("{} refused: {what}; nothing was extracted", archive.display())
    };
    let progress = ProgressBar::new(zip.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{spinner} extracting [{bar:30}] {pos}/{len} entries") {
        progress.set_style(style.progress_chars("=> "));
    }
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    let mut symlinks: Vec<(PathBuf, PathBuf)> = Vec::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).with_context(|| format!("cannot read entry {index} of {}", archive.display()))?;
        let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = entry_path(&entry, top).map_err(refuse)?;
        let target = root.join(&name);
        let mode = entry.unix_mode().map(|m| m & 0o777);
        if entry.is_dir() {
            fs::create_dir_all(&target).with_context(|| format!("cannot create {}", target.display()))?;
            dir_modes.push((target, mode.unwrap_or(0o755)));
        } else if entry.is_symlink() {
            let mut link = String::new();
            io::Read::read_to_string(&mut entry, &mut link)
                .with_context(|| format!("cannot read the symlink entry {raw_name:?}"))?;
            let link = PathBuf::from(link);
            if !stays_inside(&name, &link) {
                return Err(refuse(format!("symlink {raw_name:?} points to {} outside {top}/", link.display())));
            }
            symlinks.push((target, link));
        } else {
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let mut out = File::create(&target).with_context(|| format!("cannot create {}", target.display()))?;
            io::copy(&mut entry, &mut out).with_context(|| format!("cannot extract {raw_name:?} (corrupt archive or disk full)"))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode.unwrap_or(0o644)))
                .with_context(|| format!("cannot set the mode of {}", target.display()))?;
        }
        progress.inc(1);
    }
    // Symlinks last, so no file is ever written through one.
    for (path, link) in symlinks {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // A link placed through another link would resolve its `..` elsewhere.
        if let Some(through) = symlinked_ancestor(root, &path) {
            return Err(refuse(format!("symlink {} is placed through the symlink {}", path.display(), through.display())));
        }
        std::os::unix::fs::symlink(&link, &path).with_context(|| format!("cannot create the symlink {}", path.display()))?;
    }
    // Directory modes last (deepest first), keeping them writable by their owner.
    dir_modes.sort_by_key(|(dir, _)| std::cmp::Reverse(dir.components().count()));
    for (dir, mode) in dir_modes {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    progress.finish_and_clear();
    Ok(())
}

/// An entry's path, checked with `enclosed_name` (no absolute path, no
/// escape) and required to lie under `top/`; the error says why not.
pub fn entry_path(entry: &zip::read::ZipFile<'_, File>, top: &str) -> Result<PathBuf, String> {
    let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
    let name = entry
        .enclosed_name()
        .ok_or_else(|| format!("entry {raw_name:?} is an absolute path or escapes the archive"))?;
    if name.components().next() != Some(Component::Normal(top.as_ref())) {
        return Err(format!("entry {raw_name:?} is outside {top}/"));
    }
    Ok(name)
}

fn symlinked_ancestor(root: &Path, path: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(root).ok()?;
    let mut current = root.to_path_buf();
    for component in relative.parent()?.components() {
        current.push(component);
        if fs::symlink_metadata(&current).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
            return Some(current);
        }
    }
    None
}

/// Whether the symlink at `entry` (a path inside the archive, first component
/// the tree's top directory) pointing to `link` resolves inside that top directory.
pub fn stays_inside(entry: &Path, link: &Path) -> bool {
    if link.is_absolute() {
        return false;
    }
    // Depth below the top directory of the link's parent directory.
    let mut depth: i64 = entry.components().count() as i64 - 2;
    let mut descended = false;
    for component in link.components() {
        match component {
            Component::Normal(_) => {
                depth += 1;
                descended = true;
            }
            Component::CurDir => {}
            // `..` after a name could climb out of a directory that is itself a symlink.
            Component::ParentDir if descended => return false,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::stays_inside;
    use std::path::Path;

    #[test]
    fn symlink_targets_are_judged_relative_to_the_link() {
        let entry = Path::new("linux-x/tools/lkl/link");
        assert!(stays_inside(entry, Path::new("../../Makefile")));
        assert!(stays_inside(entry, Path::new("include/x.h")));
        assert!(!stays_inside(entry, Path::new("../../../etc/passwd")));
        assert!(!stays_inside(entry, Path::new("/etc/passwd")));
        assert!(!stays_inside(Path::new("linux-x/link"), Path::new("..")));
        assert!(stays_inside(Path::new("linux-x/a/link"), Path::new("..")));
        assert!(!stays_inside(Path::new("linux-x/a/link"), Path::new("b/../x")));
    }
}
