//! Archive verification: MD5 (Embox's published digest), SHA-256 (our pin)
//! and the commit id GitHub writes into the zip comment.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::source::Pin;

/// Both digests of one archive, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha256: String,
}

/// Streams the bytes into both hashers at once (downloads feed it chunk by chunk).
#[derive(Default)]
pub struct Hasher {
    md5: Md5,
    sha256: Sha256,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha256.update(bytes);
    }

    pub fn finish(self) -> Digests {
        Digests { md5: hex::encode(self.md5.finalize()), sha256: hex::encode(self.sha256.finalize()) }
    }
}

pub fn digest_file(path: &Path) -> Result<Digests> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// What a verified archive proved: whether the SHA-256 was checked against the pin
/// or only computed (the pin has none yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    Md5AndSha256,
    Md5Only,
}

/// Refuses an archive whose digests differ from the pin, printing both sides.
pub fn check_digests(pin: &Pin, got: &Digests, origin: &str) -> Result<Strength> {
    let md5_ok = got.md5.eq_ignore_ascii_case(&pin.md5);
    let sha_ok = !pin.is_sha256_pinned() || got.sha256.eq_ignore_ascii_case(&pin.sha256);
    if md5_ok && sha_ok {
        return Ok(if pin.is_sha256_pinned() { Strength::Md5AndSha256 } else { Strength::Md5Only });
    }
    let expected_sha = if pin.is_sha256_pinned() { pin.sha256.as_str() } else { "(not pinned yet)" };
    bail!(
        "checksum mismatch for the LKL archive from {origin}\n  \
         expected md5    {}\n  got      md5    {}\n  \
         expected sha256 {expected_sha}\n  got      sha256 {}\n\
         The archive was refused and nothing was extracted. It is not the pinned commit {} \
         (corrupt download, wrong mirror or wrong --lkl-zip); fetch it again, or check {}",
        pin.md5,
        got.md5,
        got.sha256,
        pin.commit,
        pin.file.display()
    )
}

/// GitHub writes the commit id as the archive's zip comment: a cheap second
/// proof that a mirror or a local file holds the pinned commit.
pub fn check_zip_comment(pin: &Pin, archive: &Path) -> Result<()> {
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a readable zip archive; delete it and fetch again", archive.display()))?;
    let comment = String::from_utf8_lossy(zip.comment()).trim().to_string();
    if comment != pin.commit {
        bail!(
            "the zip comment of {} is {:?}, but the pin says commit {}: this is not GitHub's archive of the \
             pinned commit; the archive was refused and nothing was extracted",
            archive.display(),
            comment,
            pin.commit
        );
    }
    Ok(())
}
