//! The patch series (`patches/lkl/series`) and its application with diffy.
//!
//! Every patch of a run is applied to an in-memory overlay of the tree first;
//! files are written only when every hunk of every patch has applied, so a
//! failing hunk leaves the tree exactly as it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use diffy::patch_set::{FileMode, FileOperation, ParseOptions, PatchKind, PatchSet};
use sha2::{Digest, Sha256};

/// One patch named by the series file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    pub name: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl PatchFile {
    pub fn new(name: &str, path: PathBuf, bytes: Vec<u8>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Self { name: name.to_string(), path, bytes, sha256 }
    }
}

/// Reads `dir/series` (one patch file name per line, `#` comments) and the
/// patches it names. A missing series file is an empty series.
pub fn read_series(dir: &Path) -> Result<Vec<PatchFile>> {
    let series = dir.join("series");
    let text = match fs::read_to_string(&series) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", series.display())),
    };
    let mut patches = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        check_patch_name(name).with_context(|| format!("{}:{}", series.display(), number + 1))?;
        let path = dir.join(name);
        let bytes = fs::read(&path).with_context(|| {
            format!("{}:{} names {name}, which cannot be read; restore it or remove the line", series.display(), number + 1)
        })?;
        patches.push(PatchFile::new(name, path, bytes));
    }
    Ok(patches)
}

/// Series entries are plain file names in the patches directory.
pub fn check_patch_name(name: &str) -> Result<()> {
    let plain = Path::new(name).components().count() == 1
        && matches!(Path::new(name).components().next(), Some(Component::Normal(_)));
    if !plain || name == "series" {
        bail!("{name:?} is not a patch file name (a plain name like fix-foo.patch, no directories)");
    }
    Ok(())
}

/// A file's content and unix mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// A tree patches read from: a directory, or an archive read in place.
pub trait BaseTree {
    /// A regular file's content and mode; `None` when there is no such file.
    fn read_file(&self, rel: &Path) -> Result<Option<FileData>>;
}

/// A tree on disk.
pub struct DirTree<'a>(pub &'a Path);

impl BaseTree for DirTree<'_> {
    fn read_file(&self, rel: &Path) -> Result<Option<FileData>> {
        let path = self.0.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                Ok(Some(FileData { bytes, mode: meta.permissions().mode() & 0o777 }))
            }
            Ok(_) => bail!("{} is not a regular file; patches may only change regular files", path.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// Pending changes on top of a base tree: `None` is a deletion.
pub type Changes = BTreeMap<PathBuf, Option<FileData>>;

struct Overlay<'a> {
    base: &'a dyn BaseTree,
    changes: Changes,
}

impl Overlay<'_> {
    fn read(&self, rel: &Path) -> Result<Option<FileData>> {
        match self.changes.get(rel) {
            Some(change) => Ok(change.clone()),
            None => self.base.read_file(rel),
        }
    }

    fn exists(&self, rel: &Path) -> bool {
        matches!(self.read(rel), Ok(Some(_)))
    }
}

/// Writes `changes` into the tree at `root`: all new contents are first
/// written beside their files, then renamed over them, then deletions happen;
/// an interruption can only fall into the short rename phase.
fn commit(root: &Path, changes: Changes) -> Result<usize> {
    let count = changes.len();
    let mut staged = Vec::new();
    let mut deletions = Vec::new();
    for (rel, change) in changes {
        let path = root.join(&rel);
        match change {
            None => deletions.push(path),
            Some(data) => {
                let dir = path.parent().expect("tree file has a parent");
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let tmp = tempfile::Builder::new()
                    .prefix(".embctl-patch-")
                    .tempfile_in(dir)
                    .with_context(|| format!("cannot write in {}", dir.display()))?;
                fs::write(tmp.path(), &data.bytes).with_context(|| format!("cannot write {}", path.display()))?;
                fs::set_permissions(tmp.path(), fs::Permissions::from_mode(data.mode))
                    .with_context(|| format!("cannot set the mode of {}", path.display()))?;
                staged.push((tmp, path));
            }
        }
    }
    for (tmp, path) in staged {
        tmp.persist(&path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    for path in deletions {
        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(count)
}

/// Applies `patches` in order on top of `base`, in memory; `what` names the
/// tree in errors. Returns the resulting changes.
pub fn patch_in_memory(base: &dyn BaseTree, patches: &[PatchFile], what: &Path) -> Result<Changes> {
    let mut overlay = Overlay { base, changes: Changes::new() };
    for patch in patches {
        apply_patch(&mut overlay, patch).map_err(|err| {
            err.context(format!(
                "patch {} does not apply to {}; nothing was changed in the tree. Fix or remove the patch \
                 (patches/lkl/series), or run `embctl clean-lkl --all` and `embctl lkl fetch` for a fresh tree",
                patch.path.display(),
                what.display()
            ))
        })?;
    }
    Ok(overlay.changes)
}

/// Applies `patches` in order to the tree at `root`: all in memory first,
/// then written. Returns the number of files changed.
pub fn apply_series(root: &Path, patches: &[PatchFile]) -> Result<usize> {
    let changes = patch_in_memory(&DirTree(root), patches, root)?;
    commit(root, changes)
}

/// Checks that every patch of `patches` parses as a text unified diff,
/// without applying anything: a patch that does not parse is a fault of the
/// series itself, whatever tree it is meant for.
pub fn check_parses(patches: &[PatchFile]) -> Result<()> {
    for patch in patches {
        for file_patch in PatchSet::parse_bytes(&patch.bytes, parse_options(&patch.bytes)) {
            match file_patch {
                Ok(file_patch) if matches!(file_patch.patch(), PatchKind::Text(_)) => {}
                Ok(_) => bail!("{} ({}) holds a binary patch, which embctl cannot apply", patch.name, patch.path.display()),
                Err(e) => bail!(
                    "{} ({}) is not a valid unified diff: {e}. Fix the patch (`git diff` or `diff -u` output), or \
                     take it out of the series file",
                    patch.name,
                    patch.path.display()
                ),
            }
        }
    }
    Ok(())
}

fn parse_options(bytes: &[u8]) -> ParseOptions {
    let git = bytes.starts_with(b"diff --git ") || bytes.windows(12).any(|w| w == b"\ndiff --git ");
    if git {
        ParseOptions::gitdiff()
    } else {
        ParseOptions::unidiff()
    }
}

fn apply_patch(overlay: &mut Overlay<'_>, patch: &PatchFile) -> Result<()> {
    let name = &patch.name;
    for file_patch in PatchSet::parse_bytes(&patch.bytes, parse_options(&patch.bytes)) {
        let file_patch = file_patch.map_err(|e| anyhow!("{name} is not a valid unified diff: {e}"))?;
        let text = match file_patch.patch() {
            PatchKind::Text(text) => text,
            PatchKind::Binary(_) => bail!("{name} holds a binary patch, which embctl cannot apply"),
        };
        let new_mode = file_patch.new_mode().map(|mode| match mode {
            FileMode::Executable => 0o755,
            _ => 0o644,
        });
        match file_patch.operation() {
            FileOperation::Create(path) => {
                let rel = new_file_path(&lossy(path))?;
                if overlay.exists(&rel) {
                    bail!("{name} creates {}, which already exists in the tree", rel.display());
                }
                let bytes = apply_hunks(name, &rel, &[], text)?;
                overlay.changes.insert(rel, Some(FileData { bytes, mode: new_mode.unwrap_or(0o644) }));
            }
            FileOperation::Delete(path) => {
                let rel = existing_file_path(overlay, name, &lossy(path))?;
                let old = overlay.read(&rel)?.expect("existing_file_path found it");
                let rest = apply_hunks(name, &rel, &old.bytes, text)?;
                if !rest.is_empty() {
                    bail!("{name} deletes {}, but the file has content the patch does not remove", rel.display());
                }
                overlay.changes.insert(rel, None);
            }
            FileOperation::Modify { modified, .. } => {
                let rel = existing_file_path(overlay, name, &lossy(modified))?;
                let old = overlay.read(&rel)?.expect("existing_file_path found it");
                let bytes = apply_hunks(name, &rel, &old.bytes, text)?;
                overlay.changes.insert(rel, Some(FileData { bytes, mode: new_mode.unwrap_or(old.mode) }));
            }
            FileOperation::Rename { from, to } | FileOperation::Copy { from, to } => {
                bail!("{name}: renames and copies ({} -> {}) are not supported; write them as a deletion and a creation", lossy(from), lossy(to))
            }
        }
    }
    Ok(())
}

/// A header path as text, without the timestamp `diff -u` appends after a tab.
fn lossy(path: &[u8]) -> String {
    let text = String::from_utf8_lossy(path);
    text.split('\t').next().unwrap_or("").trim_end_matches(['\r', ' ']).to_string()
}

fn apply_hunks(name: &str, rel: &Path, base: &[u8], patch: &diffy::Patch<'_, [u8]>) -> Result<Vec<u8>> {
    diffy::apply_bytes(base, patch).map_err(|err| {
        // diffy reports the failing hunk as "error applying hunk #N".
        let number: Option<usize> = err.to_string().rsplit('#').next().and_then(|n| n.trim().parse().ok());
        let header = number
            .and_then(|n| patch.hunks().get(n.wrapping_sub(1)))
            .map(|hunk| {
                let (old, new) = (hunk.old_range(), hunk.new_range());
                format!(" (@@ -{},{} +{},{} @@)", old.start(), old.len(), new.start(), new.len())
            })
            .unwrap_or_default();
        anyhow!(
            "{name}: hunk #{} of {} hunks{header} does not apply to {}: the context lines do not match the file",
            number.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            patch.hunks().len(),
            rel.display()
        )
    })
}

/// Only plain relative components: a patch may not reach outside the tree.
fn checked_relative(path: &str) -> Result<PathBuf> {
    let rel = PathBuf::from(path);
    if path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("path {path:?} in a patch is absolute or leaves the tree");
    }
    Ok(rel)
}

fn strip(path: &str, n: usize) -> Option<&str> {
    let mut rest = path;
    for _ in 0..n {
        rest = rest.split_once('/')?.1;
    }
    Some(rest)
}

fn has_side_prefix(path: &str) -> bool {
    path.starts_with("a/") || path.starts_with("b/")
}

/// For an existing file, the first strip level (`-p`) that names a file in the tree:
/// git style `a/`/`b/` prefixes first, then `-p0`, then deeper (`linux-orig/...`).
fn existing_file_path(overlay: &Overlay<'_>, name: &str, path: &str) -> Result<PathBuf> {
    let order: Vec<usize> = if has_side_prefix(path) { vec![1, 0, 2, 3] } else { vec![0, 1, 2, 3] };
    for n in order {
        if let Some(candidate) = strip(path, n) {
            if let Ok(rel) = checked_relative(candidate) {
                if overlay.exists(&rel) {
                    return Ok(rel);
                }
            }
        }
    }
    bail!("{name} changes {path}, which is not in the tree (tried it with and without leading directories)")
}

/// For a created file there is nothing to probe: strip git's `a/`/`b/` or a
/// leading `linux-*/` directory (Embox's `-p0` patches), else take it as is.
fn new_file_path(path: &str) -> Result<PathBuf> {
    let first = path.split('/').next().unwrap_or("");
    let stripped = if has_side_prefix(path) || (first.starts_with("linux") && path.contains('/')) {
        strip(path, 1).unwrap_or(path)
    } else {
        path
    };
    checked_relative(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tools/lkl")).unwrap();
        fs::write(dir.path().join("tools/lkl/Makefile"), "all:\n\techo one\n\techo two\n").unwrap();
        fs::write(dir.path().join("README"), "hello\n").unwrap();
        dir
    }

    fn patch(name: &str, text: &str) -> PatchFile {
        PatchFile::new(name, PathBuf::from(name), text.as_bytes().to_vec())
    }

    #[test]
    fn multi_file_patch_with_prefixes_and_creation() {
        let dir = tree();
        let p = patch(
            "p.patch",
            "--- a/tools/lkl/Makefile\n+++ b/tools/lkl/Makefile\n@@ -1,3 +1,3 @@\n all:\n-\techo one\n+\techo ONE\n \techo two\n\
             --- /dev/null\n+++ b/tools/lkl/new.h\n@@ -0,0 +1 @@\n+#define NEW 1\n",
        );
        assert_eq!(apply_series(dir.path(), &[p]).unwrap(), 2);
        assert!(fs::read_to_string(dir.path().join("tools/lkl/Makefile")).unwrap().contains("ONE"));
        assert_eq!(fs::read_to_string(dir.path().join("tools/lkl/new.h")).unwrap(), "#define NEW 1\n");
    }

    #[test]
    fn failing_hunk_names_patch_file_and_hunk_and_writes_nothing() {
        let dir = tree();
        let good = patch("good.patch", "--- README\n+++ README\n@@ -1 +1 @@\n-hello\n+bye\n");
        let bad = patch(
            "bad.patch",
            "--- a/tools/lkl/Makefile\n+++ b/tools/lkl/Makefile\n@@ -1,2 +1,2 @@\n all:\n-\techo three\n+\techo 3\n",
        );
        let err = format!("{:#}", apply_series(dir.path(), &[good, bad]).unwrap_err());
        assert!(err.contains("bad.patch") && err.contains("tools/lkl/Makefile") && err.contains("hunk #1"), "{err}");
        assert_eq!(fs::read_to_string(dir.path().join("README")).unwrap(), "hello\n");
    }

    #[test]
    fn embox_style_p0_patch_with_tree_prefix_and_timestamps() {
        let dir = tree();
        let p = patch(
            "embox.patch",
            "diff --git a/README b/README\nindex 1111111..2222222 100644\n\
             --- linux-0123/README\t2020-01-01 00:00:00.000000000 +0000\n\
             +++ linux-0123/README\t2020-01-02 00:00:00.000000000 +0000\n@@ -1 +1 @@\n-hello\n+hello, embox\n",
        );
        apply_series(dir.path(), &[p]).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("README")).unwrap(), "hello, embox\n");
    }

    #[test]
    fn paths_leaving_the_tree_are_refused() {
        let dir = tree();
        let p = patch("evil.patch", "--- /dev/null\n+++ b/../escape\n@@ -0,0 +1 @@\n+x\n");
        assert!(apply_series(dir.path(), &[p]).is_err());
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }
}
