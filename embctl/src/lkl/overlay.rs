//! Patches for a user's own LKL tree (`patches/lkl-tree/series`), applied
//! without writing to the tree: the patched files go into the out-of-tree
//! Kbuild directory (`out/<tree id>/kernel/`), where Kbuild finds them first
//! (an `O=` build of a 6.0-era kernel searches the output directory before
//! the source tree, through `VPATH`), and Kconfig files (scripts/kconfig
//! opens a relative Kconfig path in its working directory, the output
//! directory, before `$srctree`). So only `.c` files that Kbuild compiles and
//! `Kconfig` files can be patched this way; headers and tools/ cannot.
//!
//! A series that does not apply to the tree (another LKL version) is left
//! out with a warning, and the build goes on with the tree as it is; the
//! kernel then falls back to what an unpatched LKL offers. A patch that is
//! not a valid diff at all stops the build: that is the series' own fault,
//! and building on without the whole series would hide it behind a warning.
//!
//! `.embctl-overlay` in the Kbuild directory lists the files written; a file
//! the series no longer makes is removed with its object, so Kbuild compiles
//! the tree's own file again. An unchanged file keeps its mtime: nothing is
//! recompiled.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tracing::{info, warn};

use super::patch::{self, DirTree};
use crate::workspace::Workspace;

/// The manifest of the files written, one relative path a line.
const MANIFEST: &str = ".embctl-overlay";

/// The series directory for local trees.
pub fn series_dir(ws: &Workspace) -> PathBuf {
    ws.patches_dir().join("lkl-tree")
}

/// Applies the local-tree series to `source` into `kernel_out` (Kbuild's
/// `O=`). Returns the names of the patches applied.
pub fn apply(series: &Path, source: &Path, kernel_out: &Path) -> Result<Vec<String>> {
    let patches = patch::read_series(series)?;
    patch::check_parses(&patches)?;
    let names: Vec<String> = patches.iter().map(|p| p.name.clone()).collect();
    let changes = match patch::patch_in_memory(&DirTree(source), &patches, source) {
        Ok(changes) => changes,
        Err(err) => {
            warn!(
                "the patches in {} do not apply to the LKL tree {} ({err:#}); building it without them, so what they \
                 add is missing (see {})",
                series.display(),
                source.display(),
                series.join("series").display()
            );
            Default::default()
        }
    };
    let mut files = Vec::new();
    for (rel, data) in &changes {
        let shadowed = (rel.extension().is_some_and(|e| e == "c") || is_kconfig(rel)) && !rel.starts_with("tools");
        let Some(data) = data.as_ref().filter(|_| shadowed) else {
            bail!(
                "{}: {} cannot be patched out of tree (only .c files Kbuild compiles and Kconfig files can; not \
                 headers, deletions or tools/). Change the patch, or patch a copy of the tree",
                series.display(),
                rel.display()
            );
        };
        files.push((rel.clone(), &data.bytes));
    }
    let previous = read_manifest(kernel_out)?;
    for rel in previous.iter().filter(|rel| !files.iter().any(|(r, _)| r == *rel)) {
        for stale in [kernel_out.join(rel), kernel_out.join(rel.with_extension("o"))] {
            match fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", stale.display())),
            }
        }
    }
    for (rel, bytes) in &files {
        let path = kernel_out.join(rel);
        if fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        fs::create_dir_all(path.parent().expect("a tree file has a parent"))
            .with_context(|| format!("cannot create the directory of {}", path.display()))?;
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let manifest: String = files.iter().map(|(rel, _)| format!("{}\n", rel.display())).collect();
    fs::create_dir_all(kernel_out).with_context(|| format!("cannot create {}", kernel_out.display()))?;
    fs::write(kernel_out.join(MANIFEST), manifest).with_context(|| format!("cannot write {}", kernel_out.join(MANIFEST).display()))?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = files.iter().map(|(rel, _)| rel.display().to_string()).collect();
    info!("patched out of tree, in {}: {} ({})", kernel_out.display(), names.join(", "), list.join(", "));
    Ok(names)
}

/// `Kconfig`, `Kconfig.debug` and the like: read by scripts/kconfig from the
/// output directory first.
fn is_kconfig(rel: &Path) -> bool {
    rel.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "Kconfig" || n.starts_with("Kconfig."))
}

fn read_manifest(kernel_out: &Path) -> Result<Vec<PathBuf>> {
    let path = kernel_out.join(MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().filter(|l| !l.is_empty()).map(PathBuf::from).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "int a;\nint b;\nint c;\n";

    fn patch_text(path: &str) -> String {
        format!("--- a/{path}\n+++ b/{path}\n@@ -1,3 +1,3 @@\n int a;\n-int b;\n+int b2;\n int c;\n")
    }

    fn setup(patch: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (series, source, out) = (dir.path().join("series-dir"), dir.path().join("src"), dir.path().join("out"));
        fs::create_dir_all(source.join("arch/lkl/kernel")).unwrap();
        fs::write(source.join("arch/lkl/kernel/x.c"), ORIGINAL).unwrap();
        fs::create_dir_all(&series).unwrap();
        fs::write(series.join("series"), "x.patch\n").unwrap();
        fs::write(series.join("x.patch"), patch).unwrap();
        (dir, series, source, out)
    }

    #[test]
    fn patched_file_goes_to_the_build_directory_and_leaves_with_the_patch() {
        let (_dir, series, source, out) = setup(&patch_text("arch/lkl/kernel/x.c"));
        assert_eq!(apply(&series, &source, &out).unwrap(), ["x.patch"]);
        assert_eq!(fs::read_to_string(out.join("arch/lkl/kernel/x.c")).unwrap(), "int a;\nint b2;\nint c;\n");
        assert_eq!(fs::read_to_string(source.join("arch/lkl/kernel/x.c")).unwrap(), ORIGINAL, "the tree is never written");
        // Unchanged: not rewritten (same mtime).
        let before = fs::metadata(out.join("arch/lkl/kernel/x.c")).unwrap().modified().unwrap();
        apply(&series, &source, &out).unwrap();
        assert_eq!(fs::metadata(out.join("arch/lkl/kernel/x.c")).unwrap().modified().unwrap(), before);
        // The patch leaves the series: its file and object go.
        fs::write(out.join("arch/lkl/kernel/x.o"), "obj").unwrap();
        fs::write(series.join("series"), "").unwrap();
        assert!(apply(&series, &source, &out).unwrap().is_empty());
        assert!(!out.join("arch/lkl/kernel/x.c").exists() && !out.join("arch/lkl/kernel/x.o").exists());
    }

    #[test]
    fn a_series_for_another_tree_is_left_out_and_a_header_is_refused() {
        let (_dir, series, source, out) = setup(&patch_text("arch/lkl/kernel/x.c"));
        fs::write(source.join("arch/lkl/kernel/x.c"), "int other;\n").unwrap();
        assert!(apply(&series, &source, &out).unwrap().is_empty());
        assert!(!out.join("arch/lkl/kernel/x.c").exists());

        let (_dir, series, source, out) = setup(&patch_text("arch/lkl/kernel/x.h"));
        fs::write(source.join("arch/lkl/kernel/x.h"), ORIGINAL).unwrap();
        let err = apply(&series, &source, &out).unwrap_err();
        assert!(format!("{err:#}").contains("cannot be patched out of tree"), "{err:#}");
    }

    #[test]
    fn a_patch_that_is_not_a_diff_stops_the_build() {
        // A hunk header whose counts the body does not match.
        let (_dir, series, source, out) = setup("--- a/arch/lkl/kernel/x.c\n+++ b/arch/lkl/kernel/x.c\n@@ -1,3 +1,3 @@\n int a;\n");
        let err = apply(&series, &source, &out).unwrap_err();
        assert!(format!("{err:#}").contains("x.patch") && format!("{err:#}").contains("not a valid unified diff"), "{err:#}");
        assert!(!out.join("arch/lkl/kernel/x.c").exists());
    }

    #[test]
    fn the_shipped_series_parses() {
        let series = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches/lkl-tree");
        let patches = patch::read_series(&series).unwrap();
        assert!(patches.len() >= 10, "{} patches", patches.len());
        patch::check_parses(&patches).unwrap();
    }

    #[test]
    fn a_kconfig_file_is_patched_out_of_tree() {
        let (_dir, series, source, out) = setup(&patch_text("arch/lkl/Kconfig"));
        fs::write(source.join("arch/lkl/Kconfig"), ORIGINAL).unwrap();
        assert_eq!(apply(&series, &source, &out).unwrap(), ["x.patch"]);
        assert_eq!(fs::read_to_string(out.join("arch/lkl/Kconfig")).unwrap(), "int a;\nint b2;\nint c;\n");
        assert_eq!(fs::read_to_string(source.join("arch/lkl/Kconfig")).unwrap(), ORIGINAL);
    }
}
