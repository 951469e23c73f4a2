//! The build context: the files under `docker/` and their content hash (both
//! defined in `embctl_base_rootfs::recipe`, shared with the background build),
//! and the in-memory tar the engine builds from.

use std::path::Path;

use anyhow::{Context, Result};
use embctl_base_rootfs::recipe::ContextFiles;

pub struct BuildContext {
    files: ContextFiles,
}

impl BuildContext {
    pub fn read(dir: &Path) -> Result<BuildContext> {
        Ok(BuildContext { files: ContextFiles::read(dir)? })
    }

    /// sha256 over every file's path, mode and contents, and the base image id.
    pub fn hash(&self, base_id: &str) -> String {
        self.files.hash(base_id)
    }

    /// The context as an uncompressed tar, built in memory.
    pub fn tar(&self) -> Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for f in &self.files.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(f.data.len() as u64);
            header.set_mode(if f.executable { 0o755 } else { 0o644 });
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, &f.path, f.data.as_slice())
                .with_context(|| format!("cannot add {} to the build context", f.path))?;
        }
        builder.into_inner().context("cannot finish the build context tar")
    }
}
