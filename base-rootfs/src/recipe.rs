//! The one definition of embctl's build image, shared by embctl (which builds it
//! through the Engine API) and `embctl-base-rootfs prepare --image` (which
//! scripts/setup-host.sh runs in the background while embctl compiles, and
//! which builds it with the docker CLI): the tag is a hash of the `docker/`
//! context and the base image id, and the labels say what it was built from.
//! Whoever builds it, the other finds it by that tag and its hash label.

use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::SUITE;

/// Every container and image embctl creates carries `MANAGED_LABEL=true`.
pub const MANAGED_LABEL: &str = "org.embctl.managed";
/// Repository of the build image; tags are the first 16 hex digits of the content hash.
pub const IMAGE_REPO: &str = "emdocker-lkl";
/// Local repository of the base image.
pub const BASE_REPO: &str = "emdocker-lkl-base";
/// Which of this tool's images an image is (`emdocker-lkl` or `emdocker-lkl-base`).
pub const LABEL_IMAGE: &str = "org.embctl.image";
/// Full content hash (docker/ files + base image id) the image was built from.
pub const LABEL_HASH: &str = "org.embctl.context-hash";
pub const LABEL_BASE: &str = "org.embctl.base";
pub const LABEL_BASE_ID: &str = "org.embctl.base-id";
/// The `docker/` directory an image was built from: prune only touches images of
/// this checkout (other checkouts on the machine keep theirs).
pub const LABEL_CONTEXT: &str = "org.embctl.context-dir";
/// How the base was made: "pull" or "debootstrap".
pub const LABEL_BASE_SOURCE: &str = "org.embctl.base-source";
/// Where the Dockerfile writes `dpkg-query` output inside the image.
pub const PACKAGES_IN_IMAGE: &str = "/usr/share/emdocker-lkl/packages.lock";
/// Files of the context that are outputs, not inputs.
const EXCLUDED: &[&str] = &["packages.lock"];

/// The local tag of the base: `EMBCTL_BASE_TAG` (tests force a fresh base with it)
/// or `emdocker-lkl-base:trixie`.
pub fn base_tag() -> String {
    std::env::var("EMBCTL_BASE_TAG")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{BASE_REPO}:{SUITE}"))
}

/// The build image's tag for a content hash.
pub fn tag_for(hash: &str) -> String {
    format!("{IMAGE_REPO}:{}", &hash[..16])
}

/// One file of the build context.
pub struct ContextFile {
    /// Relative to `docker/`.
    pub path: String,
    pub executable: bool,
    pub data: Vec<u8>,
}

/// The files under `docker/` that make the image (not `packages.lock`, an output), sorted by path.
pub struct ContextFiles {
    pub files: Vec<ContextFile>,
}

impl ContextFiles {
    pub fn read(dir: &Path) -> io::Result<ContextFiles> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(ContextFiles { files })
    }

    /// sha256 over every file's path, mode and contents, and the base image id.
    pub fn hash(&self, base_id: &str) -> String {
        let mut h = Sha256::new();
        for f in &self.files {
            h.update(f.path.as_bytes());
            h.update([0, u8::from(f.executable)]);
            h.update((f.data.len() as u64).to_le_bytes());
            h.update(&f.data);
        }
        h.update(b"base\0");
        h.update(base_id.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<ContextFile>) -> io::Result<()> {
    let annotate = |what: &str, p: &Path, e: io::Error| io::Error::new(e.kind(), format!("cannot {what} {}: {e}", p.display()));
    for entry in fs::read_dir(dir).map_err(|e| annotate("read the build context", dir, e))? {
        let path = entry.map_err(|e| annotate("read the build context", dir, e))?.path();
        let meta = fs::metadata(&path).map_err(|e| annotate("stat", &path, e))?;
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        if EXCLUDED.contains(&rel.as_str()) {
            continue;
        }
        if meta.is_dir() {
            collect(root, &path, out)?;
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let data = fs::read(&path).map_err(|e| annotate("read", &path, e))?;
            out.push(ContextFile { path: rel, executable: meta.permissions().mode() & 0o111 != 0, data });
        }
    }
    Ok(())
}

/// The base image one build starts `FROM`.
pub struct BaseRef<'a> {
    /// Its local tag.
    pub reference: &'a str,
    pub id: &'a str,
    /// "pull", "debootstrap" (how it was made), as recorded on the base.
    pub source: &'a str,
}

/// The build arguments of the Dockerfile: `FROM` the base's id, not its tag, so
/// the hash covers exactly this base.
pub fn build_args(base: &BaseRef) -> Vec<(String, String)> {
    vec![("BASE".to_string(), base.id.to_string())]
}

/// The labels of the build image built from `hash` on `base` out of `context_dir`.
pub fn image_labels(hash: &str, base: &BaseRef, context_dir: &Path) -> Vec<(String, String)> {
    [
        (MANAGED_LABEL, "true".to_string()),
        (LABEL_IMAGE, IMAGE_REPO.to_string()),
        (LABEL_HASH, hash.to_string()),
        (LABEL_BASE, base.reference.to_string()),
        (LABEL_BASE_ID, base.id.to_string()),
        (LABEL_BASE_SOURCE, base.source.to_string()),
        (LABEL_CONTEXT, context_dir.display().to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec()
}

/// The image changes of a base imported from a debootstrap tree fetched from `mirror`.
pub fn base_import_changes(mirror: &str) -> Vec<String> {
    vec![
        format!("LABEL {MANAGED_LABEL}=true"),
        format!("LABEL {LABEL_IMAGE}={BASE_REPO}"),
        format!("LABEL {LABEL_BASE_SOURCE}=debootstrap"),
        format!("LABEL org.embctl.debian-mirror={mirror}"),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "CMD [\"/bin/bash\"]".to_string(),
    ]
}

/// What [`record_packages`] did to `docker/packages.lock`.
pub enum PackagesRecord {
    Unchanged,
    /// Written: the number of packages and, when there was an older lock, the
    /// drift (`name: old -> new` lines).
    Written { packages: usize, drift: Option<Vec<String>> },
}

/// Writes `packages` (the image's `dpkg-query` list) to `docker_dir/packages.lock`
/// when it differs, owned by whoever owns `docker_dir` (no root-owned files in
/// the checkout).
pub fn record_packages(docker_dir: &Path, packages: &str) -> io::Result<PackagesRecord> {
    let path = docker_dir.join("packages.lock");
    let old = fs::read_to_string(&path).unwrap_or_default();
    if old == packages {
        return Ok(PackagesRecord::Unchanged);
    }
    fs::write(&path, packages).map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    if let Ok(meta) = fs::metadata(docker_dir) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(&path, Some(meta.uid()), Some(meta.gid()));
    }
    let drift = (!old.is_empty()).then(|| drift(&old, packages));
    Ok(PackagesRecord::Written { packages: packages.lines().count(), drift })
}

/// `name: old -> new` lines for every package that changed, appeared or vanished.
fn drift(old: &str, new: &str) -> Vec<String> {
    use std::collections::BTreeMap;
    let parse = |t: &str| -> BTreeMap<String, String> {
        t.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let (old, new) = (parse(old), parse(new));
    let mut out = Vec::new();
    for (name, v) in &new {
        match old.get(name) {
            Some(o) if o != v => out.push(format!("{name}: {o} -> {v}")),
            None => out.push(format!("{name}: (new) {v}")),
            _ => {}
        }
    }
    for (name, o) in &old {
        if !new.contains_key(name) {
            out.push(format!("{name}: {o} -> (removed)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_lists_changed_new_and_removed_packages() {
        let d = drift("a=1\nb=2\nc=3\n", "a=1\nb=2.1\nd=4\n");
        assert_eq!(d, vec!["b: 2 -> 2.1", "d: (new) 4", "c: 3 -> (removed)"]);
    }

    #[test]
    fn the_hash_covers_files_modes_and_the_base_but_not_packages_lock() {
        let dir = std::env::temp_dir().join(format!("embctl-recipe-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("Dockerfile"), "FROM x\n").unwrap();
        fs::write(dir.join("sub/a.sh"), "true\n").unwrap();
        let h = ContextFiles::read(&dir).unwrap().hash("sha256:1");
        assert_eq!(h.len(), 64);
        assert_ne!(h, ContextFiles::read(&dir).unwrap().hash("sha256:2"), "the base id counts");
        fs::write(dir.join("packages.lock"), "a=1\n").unwrap();
        assert_eq!(h, ContextFiles::read(&dir).unwrap().hash("sha256:1"), "packages.lock is an output");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.join("sub/a.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(h, ContextFiles::read(&dir).unwrap().hash("sha256:1"), "the mode counts");
        assert_eq!(tag_for(&h).len(), IMAGE_REPO.len() + 1 + 16);
        fs::remove_dir_all(&dir).unwrap();
    }
}
