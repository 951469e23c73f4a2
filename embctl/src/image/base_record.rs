//! The base image id last seen behind the base tag on an engine, kept in the
//! user's cache (`$XDG_CACHE_HOME/embctl/base-ids/`). With it the warm path of
//! [`super::ensure`] computes the content hash without asking the engine for the
//! base, so reusing the build image costs one inspect call.
//!
//! Every lookup of the base tag on the engine ([`super::base::existing_base`]) and
//! every base embctl makes (debootstrap, pull) overwrites the record, so a base
//! re-made by embctl invalidates it at once. A base re-tagged behind embctl's back
//! (or re-made by another user, whose cache this is not) is seen by the next
//! `embctl image build`, which always inspects the base.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The recorded id of `base_tag` on the engine at `engine_address`, if any.
pub fn recorded(engine_address: &str, base_tag: &str) -> Option<String> {
    recorded_in(&cache_dir()?, engine_address, base_tag)
}

/// Records `id` as the current id of `base_tag`. Failing to is not an error: the
/// next warm path just asks the engine for the base again.
pub fn record(engine_address: &str, base_tag: &str, id: &str) {
    if let Some(dir) = cache_dir() {
        record_in(&dir, engine_address, base_tag, id);
    }
}

fn cache_dir() -> Option<PathBuf> {
    Some(dirs::cache_dir()?.join("embctl").join("base-ids"))
}

fn recorded_in(dir: &Path, engine_address: &str, base_tag: &str) -> Option<String> {
    let path = path(dir, engine_address, base_tag);
    let text = std::fs::read_to_string(&path).ok()?;
    let mut lines = text.lines();
    // The key is hashed into the file name; the file repeats it so a collision cannot mislead.
    if lines.next() != Some(engine_address) || lines.next() != Some(base_tag) {
        return None;
    }
    lines.next().filter(|id| !id.is_empty()).map(str::to_string)
}

fn record_in(dir: &Path, engine_address: &str, base_tag: &str, id: &str) {
    if recorded_in(dir, engine_address, base_tag).as_deref() == Some(id) {
        return;
    }
    let path = path(dir, engine_address, base_tag);
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        // Write then rename: a concurrent reader sees the old record or the new one.
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, format!("{engine_address}\n{base_tag}\n{id}\n").as_bytes())?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    })();
    match written {
        Ok(()) => tracing::debug!("recorded base {base_tag} = {id} in {}", path.display()),
        Err(e) => tracing::debug!("cannot record the base id in {}: {e}", path.display()),
    }
}

fn path(dir: &Path, engine_address: &str, base_tag: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(engine_address.as_bytes());
    h.update([0]);
    h.update(base_tag.as_bytes());
    let key = hex::encode(h.finalize());
    dir.join(&key[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_read_back_only_for_its_own_engine_and_tag() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("base-ids");
        assert_eq!(recorded_in(&dir, "unix:///a.sock", "base:x"), None);
        record_in(&dir, "unix:///a.sock", "base:x", "sha256:1111");
        assert_eq!(
            recorded_in(&dir, "unix:///a.sock", "base:x").as_deref(),
            Some("sha256:1111")
        );
        assert_eq!(recorded_in(&dir, "unix:///b.sock", "base:x"), None);
        assert_eq!(recorded_in(&dir, "unix:///a.sock", "base:y"), None);
        record_in(&dir, "unix:///a.sock", "base:x", "sha256:2222");
        assert_eq!(
            recorded_in(&dir, "unix:///a.sock", "base:x").as_deref(),
            Some("sha256:2222")
        );
    }
}
