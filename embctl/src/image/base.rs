//! The base image the build image starts `FROM`: a pinned `i386/debian:trixie-slim`
//! when a registry answers, otherwise (air-gapped) a debootstrap'ed trixie minbase
//! imported through the Engine API. Either way it is tagged locally
//! ([`base_tag`]) so it is made once. On a fresh machine scripts/setup-host.sh
//! debootstraps the tree ahead of time, while embctl compiles
//! (`embctl-base-rootfs prepare`); then that tree is imported, without trying
//! a registry first.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use embctl_base_rootfs::recipe::{base_import_changes, LABEL_BASE_SOURCE};
use embctl_base_rootfs::{Found, Prepared, SUITE};

use crate::engine::Engine;
use crate::ui::Progress;

pub use embctl_base_rootfs::recipe::base_tag;

/// The registry image used when one answers (Debian's official i386 build).
pub const PINNED_BASE: &str = "i386/debian:trixie-slim";
/// A registry either answers quickly or not at all here; do not wait for the engine's timeout.
const PULL_DEADLINE: Duration = Duration::from_secs(20);

/// The base image as resolved for one build.
pub struct Base {
    pub reference: String,
    pub id: String,
    /// "pull", "debootstrap" (how it was made), as recorded on the image.
    pub source: String,
}

/// The base when it exists locally (one inspect), without making it. Its id is
/// recorded for the warm path of `ensure` (see [`super::base_record`]).
pub async fn existing_base(engine: &Engine) -> Result<Option<Base>> {
    let tag = base_tag();
    let base = engine.inspect_image(&tag).await?.map(|info| Base {
        source: info.labels.get(LABEL_BASE_SOURCE).cloned().unwrap_or_else(|| "local".into()),
        id: info.id,
        reference: tag,
    });
    if let Some(base) = &base {
        super::base_record::record(engine.address(), &base.reference, &base.id);
    }
    Ok(base)
}

/// The base, made when missing: pull first, debootstrap when no registry answers.
pub async fn ensure_base(engine: &Engine) -> Result<Base> {
    if let Some(base) = existing_base(engine).await? {
        tracing::debug!(
            "base image {} ({}, made by {})",
            base.reference,
            short_id(&base.id),
            base.source
        );
        return Ok(base);
    }
    let tag = base_tag();
    let _lock = super::lock_file::lock(&tag).await?;
    if let Some(base) = existing_base(engine).await? {
        tracing::info!(
            "base image {} was made by another embctl meanwhile; using it",
            base.reference
        );
        return Ok(base);
    }
    if let Some(prepared) = prepared_tree().filter(Prepared::exists) {
        tracing::info!("base image {tag} missing; a debootstrap tree is (being) prepared in {}: using it", prepared.dir.display());
    } else if std::env::var_os("EMBCTL_OFFLINE").is_none() {
        tracing::info!("base image {tag} missing; trying to pull {PINNED_BASE}");
        match engine.pull_image(PINNED_BASE, PULL_DEADLINE).await {
            Ok(()) => {
                engine.tag_image(PINNED_BASE, &tag).await?;
                tracing::info!("base image: pulled {PINNED_BASE} (registry path)");
                let base = existing_base(engine).await?.context("the pulled base image vanished")?;
                return Ok(Base {
                    source: "pull".into(),
                    ..base
                });
            }
            Err(e) => tracing::info!("no registry: {e:#}; making the base with debootstrap (offline path)"),
        }
    }
    let id = debootstrap_base(engine, &tag).await?;
    // A re-made base invalidates the id recorded for the old one.
    super::base_record::record(engine.address(), &tag, &id);
    tracing::info!(
        "base image: {tag} ({}) made by debootstrap and imported (offline path)",
        short_id(&id)
    );
    Ok(Base {
        reference: tag,
        id,
        source: "debootstrap".into(),
    })
}

/// The base from debootstrap --variant=minbase --arch=i386 trixie: the tree
/// setup-host.sh prepared when there is one (waiting while it is being made),
/// else debootstrap into a temporary directory now. Either tree is streamed as
/// a tarball into the engine's import. Returns the image id.
async fn debootstrap_base(engine: &Engine, tag: &str) -> Result<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the base image {tag} does not exist, no registry answers, and debootstrap (which makes it offline) \
             must run as root; run `sudo embctl image build` once (the base is cached), or make a registry \
             reachable so {PINNED_BASE} can be pulled"
        );
    }
    let found = match prepared_tree() {
        None => Found::Nothing { stale: None },
        Some(prepared) => tokio::task::spawn_blocking(move || {
            let log = prepared.log();
            prepared
                .take(|| tracing::info!("waiting for the debootstrap that scripts/setup-host.sh started (progress: {})", log.display()))
                .map_err(|e| anyhow::anyhow!("cannot read the prepared debootstrap tree in {}: {e}", prepared.dir.display()))
        })
        .await
        .context("the wait for the prepared debootstrap tree failed")??,
    };
    match found {
        Found::Ready(ready) => {
            tracing::info!("importing the debootstrap tree prepared in {} (from {})", ready.rootfs.display(), ready.mirror);
            let id = import_tree(engine, tag, &ready.rootfs, &ready.mirror, None).await?;
            let dir = ready.dir().display().to_string();
            if let Err(e) = ready.remove() {
                tracing::warn!("cannot remove the imported tree {dir}: {e}; remove it with `rm -rf {dir}`");
            }
            return Ok(id);
        }
        Found::Nothing { stale: Some(why) } => tracing::warn!("{why}; running debootstrap now"),
        Found::Nothing { stale: None } => {}
    }

    let debootstrap = embctl_base_rootfs::debootstrap_path().context(
        "the base image must be made with debootstrap (no registry answers) but debootstrap is not installed; \
         install it with `apt-get install debootstrap`",
    )?;
    let mirror = embctl_base_rootfs::host_mirror();
    let root = tempfile::Builder::new()
        .prefix("embctl-debootstrap-")
        .tempdir_in(std::env::temp_dir())
        .context("cannot create a temporary directory for debootstrap")?;
    let target = root.path().join("rootfs");
    let progress = Progress::new(&format!("debootstrap {SUITE} (i386, minbase) from {mirror}"));
    let status = {
        let mut child = tokio::process::Command::new(&debootstrap)
            .args(embctl_base_rootfs::debootstrap_args(&target, &mirror))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", debootstrap.display()))?;
        let _on_interrupt = crate::interrupt::remove_tree_on_interrupt(root.path(), child.id());
        let mut tail = Vec::new();
        let out = BufReader::new(child.stdout.take().expect("piped")).lines();
        let err = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut merged = std::pin::pin!(futures_util::stream::select(tokio_lines(out), tokio_lines(err)));
        use futures_util::StreamExt;
        while let Some(line) = merged.next().await {
            progress.line(&line);
            tail.push(line);
            if tail.len() > 15 {
                tail.remove(0);
            }
        }
        let status = child.wait().await.context("debootstrap did not finish")?;
        if !status.success() {
            progress.fail();
            crate::interrupt::unmount_below(&target);
            bail!(
                "{} failed ({status}); last output:\n{}\n\
                 check the mirror (set EMBCTL_DEBIAN_MIRROR to override) and the network",
                embctl_base_rootfs::describe(&mirror),
                tail.join("\n")
            );
        }
        status
    };
    progress.finish(&format!("debootstrap done ({status})"));
    crate::interrupt::unmount_below(&target);
    import_tree(engine, tag, &target, &mirror, Some(root.path())).await
}

/// A prepared debootstrap tree that nobody will import (the base image exists)
/// and nobody works on: removed (about 200 MB), saying so.
pub fn remove_unused_prepared_tree() {
    let Some(prepared) = prepared_tree() else { return };
    match prepared.remove_unused() {
        Ok(true) => crate::ui::print_line(format_args!(
            "removed the debootstrap tree {} (the base image exists, so it was never going to be imported)",
            prepared.dir.display()
        )),
        Ok(false) => {}
        Err(e) => tracing::warn!("cannot remove the unused debootstrap tree {}: {e}; remove it with `sudo rm -rf {}`", prepared.dir.display(), prepared.dir.display()),
    }
}

/// The prepared tree, when one is there that nobody works on and the base
/// exists (for doctor).
pub fn unused_prepared_tree() -> Option<std::path::PathBuf> {
    prepared_tree().filter(|p| p.exists() && !p.is_busy()).map(|p| p.dir)
}

/// The tree setup-host.sh prepares is for the project's base: a scratch base
/// (`EMBCTL_BASE_TAG`, as the tests and the benchmark use) takes one only when
/// `EMBCTL_BASE_ROOTFS_DIR` names it explicitly, so a test that wants a fresh
/// debootstrap gets one.
fn prepared_tree() -> Option<Prepared> {
    let scratch_tag = std::env::var_os("EMBCTL_BASE_TAG").is_some_and(|t| !t.is_empty());
    let explicit = std::env::var_os("EMBCTL_BASE_ROOTFS_DIR").is_some_and(|d| !d.is_empty());
    (!scratch_tag || explicit).then(Prepared::location)
}

/// Streams `tree` as a tarball into the engine's import as `tag`, labelled as
/// embctl's debootstrap base from `mirror`. `scratch` (the tree's temporary
/// parent) is removed if a signal ends embctl meanwhile.
async fn import_tree(engine: &Engine, tag: &str, tree: &std::path::Path, mirror: &str, scratch: Option<&std::path::Path>) -> Result<String> {
    let progress = Progress::new(&format!("importing the root filesystem as {tag}"));
    let mut tar = tokio::process::Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(tree)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start tar to stream the debootstrap tree")?;
    let _on_interrupt = scratch.map(|dir| crate::interrupt::remove_tree_on_interrupt(dir, tar.id()));
    let stdout = tar.stdout.take().expect("piped");
    let chunks = futures_util::stream::unfold(stdout, |mut out| async move {
        let mut buf = vec![0u8; 1 << 16];
        match out.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Bytes::from(buf), out))
            }
        }
    });
    let (repo, t) = tag.split_once(':').unwrap_or((tag, "latest"));
    let id = engine.import_rootfs(repo, t, base_import_changes(mirror), chunks).await?;
    let status = tar.wait().await.context("tar did not finish")?;
    if !status.success() {
        let _ = engine.remove_image(tag, true).await;
        bail!("tar of the debootstrap tree failed ({status}); the partial import was removed");
    }
    progress.finish(&format!("imported {tag}"));
    Ok(id)
}

fn tokio_lines<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    lines: tokio::io::Lines<R>,
) -> impl futures_util::Stream<Item = String> + Send {
    futures_util::stream::unfold(lines, |mut l| async move {
        l.next_line().await.ok().flatten().map(|s| (s, l))
    })
}

/// Whether debootstrap is installed (for doctor).
pub use embctl_base_rootfs::debootstrap_path;

pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}
