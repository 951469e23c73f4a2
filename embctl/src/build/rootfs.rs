//! The initramfs contents: `rootfs/`, the programs the build compiled into
//! `build/base/rootfs-gen/` and the template's unpacked Debian packages
//! (`build/base/packages/root`; later trees win), plus, for one run, the extra
//! files of `embctl run --add HOSTPATH[:GUESTPATH]`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Artefacts;
use crate::cpio::{Archive, Source};
use crate::workspace::Workspace;

/// The archive `embctl build` writes to `build/base/rootfs.cpio`.
pub fn base_archive(ws: &Workspace) -> Result<Archive> {
    let mut archive = Archive::new();
    archive.add_tree(&ws.rootfs_dir())?;
    archive.add_tree(&Artefacts::new(ws).rootfs_gen())?;
    let packages = super::packages::root(ws);
    if packages.is_dir() {
        archive.add_tree(&packages)?;
    }
    Ok(archive)
}

/// One `--add` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub host: PathBuf,
    pub guest: String,
}

impl Extra {
    /// `HOSTPATH[:GUESTPATH]`. Without a guest path a file goes to
    /// `/bin/<basename>` and a directory to `/<basename>`.
    pub fn parse(spec: &str) -> Result<Extra> {
        let (host, guest) = match spec.rsplit_once(':') {
            Some((host, guest)) if guest.starts_with('/') && !host.is_empty() => (host, Some(guest.to_string())),
            Some((host, guest)) if !Path::new(spec).exists() => {
                bail!("--add {spec}: the guest path {guest:?} must be absolute, e.g. {host}:/bin/NAME")
            }
            _ => (spec, None),
        };
        let host = PathBuf::from(host);
        let meta = std::fs::metadata(&host).with_context(|| format!("--add {spec}: cannot read {}", host.display()))?;
        // A FIFO would block the archive writer forever and /dev/zero would fill memory.
        if !meta.is_file() && !meta.is_dir() {
            bail!(
                "--add {spec}: {} is a {}, not a regular file or directory; copy what you need into a file and add that",
                host.display(),
                file_kind(&meta)
            );
        }
        let base = host
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("--add {spec}: {} has no usable file name; give GUESTPATH", host.display()))?;
        let guest = guest.unwrap_or_else(|| if meta.is_dir() { format!("/{base}") } else { format!("/bin/{base}") });
        Ok(Extra { host, guest })
    }
}

/// What a non-regular file is, for the refusal message.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// The base archive plus `extras`.
pub fn run_archive(ws: &Workspace, extras: &[Extra]) -> Result<Archive> {
    let mut archive = base_archive(ws)?;
    for extra in extras {
        if !extra.host.is_dir() && archive.is_dir(&extra.guest) {
            bail!(
                "--add {}:{}: {} is a directory in the initramfs and a file cannot replace it; \
                 give a path inside it, e.g. {}:{}/{}",
                extra.host.display(),
                extra.guest,
                extra.guest,
                extra.host.display(),
                extra.guest.trim_end_matches('/'),
                extra.host.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "NAME".into())
            );
        }
        if extra.host.is_dir() {
            archive.add_tree_under(&extra.host, &extra.guest)?;
        } else {
            let executable = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&extra.host).with_context(|| format!("cannot read {}", extra.host.display()))?.permissions(),
            ) & 0o111
                != 0;
            archive.insert(&extra.guest, Source::File { path: extra.host.clone(), executable })?;
        }
    }
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_spec_defaults_and_explicit_guest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("busybox");
        std::fs::write(&file, b"x").unwrap();
        let e = Extra::parse(file.to_str().unwrap()).unwrap();
        assert_eq!(e.guest, "/bin/busybox");
        let e = Extra::parse(&format!("{}:/usr/bin/bb", file.display())).unwrap();
        assert_eq!((e.host, e.guest.as_str()), (file.clone(), "/usr/bin/bb"));
        let e = Extra::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(e.guest.starts_with('/') && !e.guest.starts_with("/bin/"));
        let err = format!("{:#}", Extra::parse("/no/such/file").unwrap_err());
        assert!(err.contains("/no/such/file"), "{err}");
        let err = format!("{:#}", Extra::parse(&format!("{}:bin/x", file.display())).unwrap_err());
        assert!(err.contains("must be absolute"), "{err}");
    }

    #[test]
    fn run_archive_adds_files_and_trees_over_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace { root: dir.path().join("ws") };
        std::fs::create_dir_all(ws.rootfs_dir().join("etc")).unwrap();
        std::fs::write(ws.rootfs_dir().join("etc/motd"), b"hi").unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, b"elf").unwrap();
        let tree = dir.path().join("data");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("a.txt"), b"a").unwrap();
        let extras = [Extra::parse(tool.to_str().unwrap()).unwrap(), Extra::parse(&format!("{}:/srv/data", tree.display())).unwrap()];
        let archive = run_archive(&ws, &extras).unwrap();
        let paths: Vec<_> = archive.paths().collect();
        assert_eq!(paths, ["bin", "bin/tool", "etc", "etc/motd", "srv", "srv/data", "srv/data/a.txt"]);
    }

    #[test]
    fn add_of_a_fifo_or_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path in our temporary directory.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = format!("{:#}", Extra::parse(fifo.to_str().unwrap()).unwrap_err());
        assert!(err.contains("is a FIFO, not a regular file or directory"), "{err}");
        let err = format!("{:#}", Extra::parse("/dev/zero:/bin/zero").unwrap_err());
        assert!(err.contains("is a character device"), "{err}");
    }

    #[test]
    fn add_of_a_file_over_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace { root: dir.path().join("ws") };
        std::fs::create_dir_all(ws.rootfs_dir().join("bin")).unwrap();
        std::fs::write(ws.rootfs_dir().join("bin/sh"), b"sh").unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, b"elf").unwrap();
        for guest in ["/bin", "/bin/", "/"] {
            let extra = Extra::parse(&format!("{}:{guest}", tool.display())).unwrap();
            let err = format!("{:#}", run_archive(&ws, &[extra]).unwrap_err());
            assert!(err.contains("is a directory in the initramfs and a file cannot replace it"), "{err}");
        }
        // Into the directory is fine.
        let extra = Extra::parse(&format!("{}:/bin/tool", tool.display())).unwrap();
        assert!(run_archive(&ws, &[extra]).unwrap().paths().any(|p| p == "bin/tool"));
    }
}
