//! The project checkout embctl works on, and the paths of everything in it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// `explicit` (from --workspace / EMBCTL_WORKSPACE) or the nearest parent of the
    /// current directory that holds both `docker/Dockerfile` and `kernel/`.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
        if let Some(dir) = explicit {
            let root = dir
                .canonicalize()
                .with_context(|| format!("workspace {} does not exist", dir.display()))?;
            if !Self::is_root(&root) {
                bail!(
                    "{} is not an embctl workspace (no docker/Dockerfile and kernel/ there); \
                     pass the project checkout with --workspace",
                    root.display()
                );
            }
            return Ok(Self { root });
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        for dir in cwd.ancestors() {
            if Self::is_root(dir) {
                return Ok(Self { root: dir.to_path_buf() });
            }
        }
        bail!(
            "no embctl workspace in {} or its parents (looked for docker/Dockerfile and kernel/); \
             run embctl inside the project checkout or pass --workspace DIR",
            cwd.display()
        )
    }

    fn is_root(dir: &Path) -> bool {
        dir.join("docker/Dockerfile").is_file() && dir.join("kernel").is_dir()
    }

    pub fn docker_dir(&self) -> PathBuf {
        self.root.join("docker")
    }
    pub fn build_dir(&self) -> PathBuf {
        self.root.join("build")
    }
    pub fn kernel_dir(&self) -> PathBuf {
        self.root.join("kernel")
    }
    pub fn rootfs_dir(&self) -> PathBuf {
        self.root.join("rootfs")
    }
    pub fn third_party_dir(&self) -> PathBuf {
        self.root.join("third-party")
    }
    pub fn patches_dir(&self) -> PathBuf {
        self.root.join("patches")
    }
}
