//! The base image the build image starts `FROM`: a pinned `i386/debian:trixie-slim`
//! when a registry answers, otherwise (air-gapped) a debootstrap'ed trixie minbase
//! imported through the Engine API. Either way it is tagged locally
//! ([`base_tag`]) so it is made once.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::engine::{Engine, MANAGED_LABEL};
use crate::ui::Progress;

use super::{LABEL_BASE_SOURCE, LABEL_IMAGE};

/// The registry image used when one answers (Debian's official i386 build).
pub const PINNED_BASE: &str = "i386/debian:trixie-slim";
/// Local repository of the base image.
pub const BASE_REPO: &str = "emdocker-lkl-base";
const SUITE: &str = "trixie";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// A registry either answers quickly or not at all here; do not wait for the engine's timeout.
const PULL_DEADLINE: Duration = Duration::from_secs(20);

/// The base image as resolved for one build.
pub struct Base {
    pub reference: String,
    pub id: String,
    /// "pull", "debootstrap" (how it was made), as recorded on the image.
    pub source: String,
}

/// The local tag of the base: `EMBCTL_BASE_TAG` (tests force a fresh base with it)
/// or `emdocker-lkl-base:trixie`.
pub fn base_tag() -> String {
    std::env::var("EMBCTL_BASE_TAG")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{BASE_REPO}:{SUITE}"))
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
    if std::env::var_os("EMBCTL_OFFLINE").is_none() {
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

/// debootstrap --variant=minbase --arch=i386 trixie into a temporary directory,
/// streamed as a tarball into the engine's import. Returns the image id.
async fn debootstrap_base(engine: &Engine, tag: &str) -> Result<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the base image {tag} does not exist, no registry answers, and debootstrap (which makes it offline) \
             must run as root; run `sudo embctl image build` once (the base is cached), or make a registry \
             reachable so {PINNED_BASE} can be pulled"
        );
    }
    let debootstrap = which("debootstrap").context(
        "the base image must be made with debootstrap (no registry answers) but debootstrap is not installed; \
         install it with `apt-get install debootstrap`",
    )?;
    let mirror = host_mirror();
    let root = tempfile::Builder::new()
        .prefix("embctl-debootstrap-")
        .tempdir_in(std::env::temp_dir())
        .context("cannot create a temporary directory for debootstrap")?;
    let target = root.path().join("rootfs");
    let progress = Progress::new(&format!("debootstrap {SUITE} (i386, minbase) from {mirror}"));
    let status = {
        let mut child = tokio::process::Command::new(&debootstrap)
            .args(["--variant=minbase", "--arch=i386", SUITE])
            .arg(&target)
            .arg(&mirror)
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
                "debootstrap --variant=minbase --arch=i386 {SUITE} from {mirror} failed ({status}); last output:\n{}\n\
                 check the mirror (set EMBCTL_DEBIAN_MIRROR to override) and the network",
                tail.join("\n")
            );
        }
        status
    };
    progress.finish(&format!("debootstrap done ({status})"));
    crate::interrupt::unmount_below(&target);

    let progress = Progress::new(&format!("importing the root filesystem as {tag}"));
    let mut tar = tokio::process::Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&target)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start tar to stream the debootstrap tree")?;
    let _on_interrupt = crate::interrupt::remove_tree_on_interrupt(root.path(), tar.id());
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
    let changes = vec![
        format!("LABEL {MANAGED_LABEL}=true"),
        format!("LABEL {LABEL_IMAGE}={BASE_REPO}"),
        format!("LABEL {LABEL_BASE_SOURCE}=debootstrap"),
        format!("LABEL org.embctl.debian-mirror={mirror}"),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "CMD [\"/bin/bash\"]".to_string(),
    ];
    let id = engine.import_rootfs(repo, t, changes, chunks).await?;
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

/// The Debian mirror the host's apt uses (first non-security `deb` source), so
/// debootstrap goes where apt already goes (proxies, internal mirrors).
/// `EMBCTL_DEBIAN_MIRROR` overrides.
pub fn host_mirror() -> String {
    if let Ok(m) = std::env::var("EMBCTL_DEBIAN_MIRROR") {
        if !m.is_empty() {
            return m;
        }
    }
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push((false, t));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    texts.push((ext == "sources", t));
                }
            }
        }
    }
    texts
        .iter()
        .flat_map(|(deb822, t)| {
            if *deb822 {
                mirrors_deb822(t)
            } else {
                mirrors_one_line(t)
            }
        })
        .find(|m| !m.contains("security"))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

fn usable(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// `deb [options] URL suite components` lines.
fn mirrors_one_line(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb ") || l.starts_with("deb\t"))
        .filter_map(|l| {
            let rest = l[3..].trim_start();
            let rest = if rest.starts_with('[') {
                rest.split_once(']').map(|(_, r)| r.trim_start())?
            } else {
                rest
            };
            rest.split_whitespace().next().map(str::to_string)
        })
        .filter(|u| usable(u))
        .collect()
}

/// deb822 stanzas: `Types: deb` with `URIs:`; disabled stanzas (`Enabled: no`) skipped.
fn mirrors_deb822(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        if is_deb && enabled {
            if let Some(uris) = field("URIs") {
                out.extend(uris.split_whitespace().filter(|u| usable(u)).map(str::to_string));
            }
        }
    }
    out
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether debootstrap is installed (for doctor).
pub fn debootstrap_path() -> Option<std::path::PathBuf> {
    which("debootstrap")
}

pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_skip_options_and_cdrom() {
        let text = "# comment\ndeb cdrom:[Debian]/ trixie main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main\n";
        assert_eq!(mirrors_one_line(text), vec!["http://m.example/debian"]);
    }

    #[test]
    fn deb822_sources_take_uris_of_enabled_deb_stanzas() {
        let text =
            "Types: deb-src\nURIs: http://src.example/debian\n\nTypes: deb\nEnabled: no\nURIs: http://off.example/\n\n\
                    Types: deb\n# note\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
        assert_eq!(mirrors_deb822(text), vec!["http://deb.debian.org/debian"]);
    }
}
