//! A user's own LKL tree (`--lkl-tree DIR` / `EMBCTL_LKL_TREE`): checked to be
//! an LKL tree, named by a stable id for its output directory, and never
//! written to.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// A local LKL source tree.
#[derive(Debug, Clone)]
pub struct LocalTree {
    /// Canonical path.
    pub dir: PathBuf,
    /// `tree-<name>-<12 hex of the path's sha256>`: the output directory under `out/`.
    pub id: String,
}

impl LocalTree {
    pub fn open(dir: &Path) -> Result<Self> {
        let canonical = dir.canonicalize().with_context(|| {
            format!("--lkl-tree {}: no such directory (EMBCTL_LKL_TREE names it too, when set)", dir.display())
        })?;
        if !canonical.is_dir() {
            bail!("--lkl-tree {}: not a directory", dir.display());
        }
        for needed in ["arch/lkl/Kconfig", "tools/lkl/Makefile", "Makefile"] {
            if !canonical.join(needed).is_file() {
                bail!(
                    "--lkl-tree {}: not an LKL source tree ({} is missing). Point it at the top of an LKL checkout \
                     (the directory holding arch/lkl and tools/lkl)",
                    canonical.display(),
                    needed
                );
            }
        }
        check_not_built_in_tree(&canonical)?;
        Ok(Self { id: tree_id(&canonical), dir: canonical })
    }
}

/// The output directory name for a tree at `canonical`: readable and unique per path.
pub fn tree_id(canonical: &Path) -> String {
    let digest = hex::encode(Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .take(40)
        .collect();
    format!("tree-{name}-{}", &digest[..12])
}

/// Kbuild refuses `O=` when the source tree holds an in-tree configuration;
/// say so in the user's terms before starting a container.
pub fn check_not_built_in_tree(tree: &Path) -> Result<()> {
    for leftover in [".config", "include/config"] {
        if tree.join(leftover).exists() {
            bail!(
                "the LKL tree {} was built in place ({} exists), and Kbuild refuses to build out of tree from it. \
                 embctl builds out of tree and never writes into the tree: clean it yourself with \
                 `make -C {} ARCH=lkl mrproper` (this removes the in-tree build outputs, not your edits)",
                tree.display(),
                tree.join(leftover).display(),
                tree.display()
            );
        }
    }
    Ok(())
}

/// `embctl lkl-diff --lkl-tree DIR`: the tree's changes against its git HEAD,
/// untracked files included (as new files), build artefacts excluded. Git works
/// on a copy of the index with optional locks off, so the tree (and its .git)
/// is only read.
pub fn git_diff(tree: &LocalTree, excludes: &super::diff::Excludes, stat: bool) -> Result<Vec<u8>> {
    let git = |args: &[&str]| -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C").arg(&tree.dir).args(["-c", "core.quotepath=off"]).args(args).env("GIT_OPTIONAL_LOCKS", "0");
        cmd
    };
    let output = |mut cmd: std::process::Command, what: &str| -> Result<Vec<u8>> {
        let out = cmd.output().with_context(|| format!("cannot run git ({what}); lkl-diff --lkl-tree needs git on PATH"))?;
        if !out.status.success() {
            bail!("git {what} in {} failed: {}", tree.dir.display(), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(out.stdout)
    };
    let index = output(git(&["rev-parse", "--path-format=absolute", "--git-path", "index"]), "rev-parse").with_context(|| {
        format!(
            "lkl-diff --lkl-tree shows a tree's changes against its git HEAD, and {} is not a git work tree. \
             `git init && git add -A && git commit` there records its current state as the base",
            tree.dir.display()
        )
    })?;
    let index = PathBuf::from(String::from_utf8_lossy(&index).trim());
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let temp_index = scratch.path().join("index");
    if index.is_file() {
        std::fs::copy(&index, &temp_index).with_context(|| format!("cannot copy {}", index.display()))?;
    }
    let pathspecs = excludes.git_pathspecs();
    let mut add = git(&["add", "--intent-to-add", "--all", "--", "."]);
    add.args(&pathspecs).env("GIT_INDEX_FILE", &temp_index);
    output(add, "add --intent-to-add (on a temporary index)")?;
    let mut diff = git(&["diff", "--no-color", "--no-ext-diff", "--binary"]);
    if stat {
        diff.arg("--stat");
    }
    diff.args(["HEAD", "--", "."]).args(&pathspecs).env("GIT_INDEX_FILE", &temp_index);
    output(diff, "diff HEAD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_readable_and_differ_per_path() {
        let a = tree_id(Path::new("/work/lkl-src"));
        assert!(a.starts_with("tree-lkl-src-") && a.len() == "tree-lkl-src-".len() + 12, "{a}");
        assert_ne!(a, tree_id(Path::new("/home/u/lkl-src")));
        assert!(tree_id(Path::new("/x/we ird")).starts_with("tree-we_ird-"));
    }

    #[test]
    fn rejects_a_directory_that_is_not_lkl_and_an_in_tree_build() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", LocalTree::open(dir.path()).unwrap_err());
        assert!(err.contains("not an LKL source tree") && err.contains("arch/lkl/Kconfig"), "{err}");
        for f in ["arch/lkl/Kconfig", "tools/lkl/Makefile", "Makefile"] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert!(LocalTree::open(dir.path()).is_ok());
        std::fs::write(dir.path().join(".config"), "").unwrap();
        let err = format!("{:#}", LocalTree::open(dir.path()).unwrap_err());
        assert!(err.contains("mrproper"), "{err}");
    }
}
