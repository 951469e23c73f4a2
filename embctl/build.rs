//! Records the git commit embctl is built from, for `embctl --version`.
//! Outside a git checkout (a source tarball) the version says so instead of
//! naming a commit; EMBCTL_GIT_COMMIT overrides both (packagers).

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EMBCTL_GIT_COMMIT");
    // Tests that need a real LKL tree are `#[ignore]`d unless EMBCTL_LKL_TREE names
    // one when they are compiled, so cargo reports them as ignored, never as passed.
    println!("cargo:rustc-check-cfg=cfg(lkl_tree)");
    println!("cargo:rerun-if-env-changed=EMBCTL_LKL_TREE");
    if std::env::var_os("EMBCTL_LKL_TREE").is_some_and(|t| !t.is_empty()) {
        println!("cargo:rustc-cfg=lkl_tree");
    }

    let described = match std::env::var("EMBCTL_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => format!("commit {}", commit.trim()),
        _ => match git(&manifest_dir, &["rev-parse", "--short=12", "HEAD"]) {
            Some(commit) => {
                let date = git(&manifest_dir, &["show", "-s", "--format=%cs", "HEAD"]).unwrap_or_default();
                watch_head(&manifest_dir);
                format!("commit {commit} {date}").trim_end().to_string()
            }
            None => "commit unknown: built outside a git checkout".to_string(),
        },
    };
    println!("cargo:rustc-env=EMBCTL_VERSION={} ({described})", std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
}

/// Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch's
/// ref (a commit), loose or packed. In a worktree HEAD lives in the worktree's
/// git dir and the refs in the common dir.
fn watch_head(dir: &Path) {
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    let Some(git_dir) = git(dir, &["rev-parse", "--git-dir"]).map(abs) else { return };
    let common = git(dir, &["rev-parse", "--git-common-dir"]).map(abs).unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    // A missing file would make cargo rerun this script on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
