//! The LKL source pin (`third-party/lkl/lkl.toml`): which upstream commit we
//! build, where its archive lives and the digests it must have.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Contents of `lkl.toml`. `sha256` is empty until `embctl lkl pin` has
/// downloaded the archive on a machine with internet and recorded it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub commit: String,
    pub url: String,
    pub md5: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(skip)]
    pub file: PathBuf,
}

impl Pin {
    pub fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the LKL pin {}; it belongs to the checkout (git restore it)", file.display()))?;
        let mut pin: Pin = toml::from_str(&text).with_context(|| format!("{} is not a valid LKL pin", file.display()))?;
        pin.file = file.to_path_buf();
        pin.validate()?;
        Ok(pin)
    }

    fn validate(&self) -> Result<()> {
        let hex_of = |value: &str, len: usize| value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit());
        let where_ = self.file.display();
        if !hex_of(&self.commit, 40) {
            bail!("{where_}: commit {:?} is not a 40-digit hex commit id", self.commit);
        }
        if !hex_of(&self.md5, 32) {
            bail!("{where_}: md5 {:?} is not 32 hex digits", self.md5);
        }
        if !self.sha256.is_empty() && !hex_of(&self.sha256, 64) {
            bail!("{where_}: sha256 {:?} is not 64 hex digits (leave it empty until `embctl lkl pin` writes it)", self.sha256);
        }
        if !self.url.starts_with("http://") && !self.url.starts_with("https://") {
            bail!("{where_}: url {:?} is not an http(s) URL", self.url);
        }
        Ok(())
    }

    /// `linux-<commit>`: GitHub's top directory inside the archive, and our tree's name.
    pub fn tree_name(&self) -> String {
        format!("linux-{}", self.commit)
    }

    pub fn archive_name(&self) -> String {
        format!("{}.zip", self.tree_name())
    }

    pub fn is_sha256_pinned(&self) -> bool {
        !self.sha256.is_empty()
    }

    /// Records `sha256` in the pin file, keeping its comments and layout.
    pub fn write_sha256(&mut self, sha256: &str) -> Result<()> {
        let text = std::fs::read_to_string(&self.file).with_context(|| format!("cannot read {}", self.file.display()))?;
        let mut found = false;
        let mut out = String::with_capacity(text.len() + 80);
        for line in text.lines() {
            if !found && line.trim_start().starts_with("sha256") && line.contains('=') {
                out.push_str(&format!("sha256 = \"{sha256}\""));
                found = true;
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        if !found {
            out.push_str(&format!("sha256 = \"{sha256}\"\n"));
        }
        let tmp = self.file.with_extension("toml.tmp");
        std::fs::write(&tmp, out).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.file).with_context(|| format!("cannot replace {}", self.file.display()))?;
        self.sha256 = sha256.to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "# comment kept\ncommit = \"7750a5aa74f5867336949371f0e18353704d432f\"\n\
        url = \"https://github.com/lkl/linux/archive/7750a5aa74f5867336949371f0e18353704d432f.zip\"\n\
        md5 = \"401776073f33d2f179f0ef1a206b9d9f\"\nsha256 = \"\" # written by embctl lkl pin\n";

    #[test]
    fn write_sha256_keeps_comments_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lkl.toml");
        std::fs::write(&file, PIN).unwrap();
        let mut pin = Pin::load(&file).unwrap();
        assert!(!pin.is_sha256_pinned());
        let digest = "ab".repeat(32);
        pin.write_sha256(&digest).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# comment kept\n"));
        assert_eq!(Pin::load(&file).unwrap().sha256, digest);
    }

    #[test]
    fn rejects_malformed_digests() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lkl.toml");
        std::fs::write(&file, PIN.replace("401776073f33d2f179f0ef1a206b9d9f", "xyz")).unwrap();
        let err = format!("{:#}", Pin::load(&file).unwrap_err());
        assert!(err.contains("md5"), "{err}");
    }
}
