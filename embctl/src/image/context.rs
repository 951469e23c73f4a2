//! The build context: the files under `docker/`, their content hash, and the
//! in-memory tar the engine builds from. `packages.lock` is an output of the
//! build (the versions it installed), so it is neither hashed nor sent.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Files of the context that are outputs, not inputs.
const EXCLUDED: &[&str] = &["packages.lock"];

pub struct BuildContext {
    /// (path relative to docker/, executable?, contents), sorted by path.
    files: Vec<(String, bool, Vec<u8>)>,
}

impl BuildContext {
    pub fn read(dir: &Path) -> Result<BuildContext> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(BuildContext { files })
    }

    /// sha256 over every file's path, mode and contents, and the base image id.
    pub fn hash(&self, base_id: &str) -> String {
        let mut h = Sha256::new();
        for (path, exec, data) in &self.files {
            h.update(path.as_bytes());
            h.update([0, u8::from(*exec)]);
            h.update((data.len() as u64).to_le_bytes());
            h.update(data);
        }
        h.update(b"base\0");
        h.update(base_id.as_bytes());
        hex::encode(h.finalize())
    }

    /// The context as an uncompressed tar, built in memory.
    pub fn tar(&self) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, exec, data) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(if *exec { 0o755 } else { 0o644 });
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, path, data.as_slice())
                .with_context(|| format!("cannot add {path} to the build context"))?;
        }
        builder.into_inner().context("cannot finish the build context tar")
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, bool, Vec<u8>)>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read the build context {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read the build context {}", dir.display()))?;
        let path: PathBuf = entry.path();
        let meta = std::fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        if EXCLUDED.contains(&rel.as_str()) {
            continue;
        }
        if meta.is_dir() {
            collect(root, &path, out)?;
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.push((rel, meta.permissions().mode() & 0o111 != 0, data));
        }
    }
    Ok(())
}
