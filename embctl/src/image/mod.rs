//! The emdocker-lkl build image: content-addressed (a hash of `docker/` and the
//! base image id), built through the Engine API from an in-memory context, reused
//! when an image with the current hash exists (one inspect call when the base id
//! is recorded). Also the container spec every
//! workspace command runs with ([`workspace_spec`]).

mod base;
mod base_record;
mod context;
mod lock;
mod lock_file;
mod spec;

use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::engine::{Engine, ImageInfo};
use crate::ui::Progress;
use crate::workspace::Workspace;

pub use crate::engine::privileges::{qemu_privileges, PrivilegeMode};
#[allow(unused_imports)] // KvmVerdict names kvm_usable's result for callers
pub use crate::kvm_probe::{kvm_usable, KvmVerdict};
pub use base::{base_tag, debootstrap_path, existing_base, short_id, unused_prepared_tree, PINNED_BASE};
pub use spec::workspace_spec;

// The image's one definition (tag, labels, build arguments) is shared with the
// background build scripts/setup-host.sh starts (`embctl-base-rootfs prepare --image`).
use embctl_base_rootfs::recipe::{self, tag_for, BaseRef};
pub use embctl_base_rootfs::recipe::{IMAGE_REPO, LABEL_BASE_SOURCE, LABEL_CONTEXT, LABEL_HASH, LABEL_IMAGE};

/// The image reference to use for the workspace's current `docker/`: reused after
/// one inspect of the image when the base id is recorded (see [`base_record`]);
/// otherwise the base is inspected (or made) first; built when missing.
pub async fn ensure(engine: &Engine, ws: &Workspace) -> Result<String> {
    let ctx = context::BuildContext::read(&ws.docker_dir())?;
    if let Some(tag) = reusable(engine, &ctx).await? {
        return Ok(tag);
    }
    ensure_with(engine, ws, ctx, false).await
}

/// The warm path: the image for `ctx` on the recorded base, when it exists and its
/// label shows it was built from exactly this context and base. One engine call.
async fn reusable(engine: &Engine, ctx: &context::BuildContext) -> Result<Option<String>> {
    let base_tag = base_tag();
    let Some(base_id) = base_record::recorded(engine.address(), &base_tag) else {
        tracing::debug!("no recorded id for the base {base_tag}; inspecting it");
        return Ok(None);
    };
    let hash = ctx.hash(&base_id);
    let tag = tag_for(&hash);
    let Some(info) = engine.inspect_image(&tag).await? else {
        tracing::debug!(
            "no image {tag} for the recorded base {base_tag} ({})",
            short_id(&base_id)
        );
        return Ok(None);
    };
    let labels = info.labels;
    if labels.get(LABEL_HASH) != Some(&hash) {
        tracing::debug!("{tag} was not built from this context and base (label {LABEL_HASH} differs)");
        return Ok(None);
    }
    tracing::debug!(
        "build image {tag} is current (base {base_tag} {} as recorded); reusing it",
        short_id(&base_id)
    );
    Ok(Some(tag))
}

/// What `ensure` would use, without building: (tag, whether it exists).
pub async fn current(engine: &Engine, ws: &Workspace) -> Result<Option<(String, bool)>> {
    let Some(base) = base::existing_base(engine).await? else {
        return Ok(None);
    };
    let ctx = context::BuildContext::read(&ws.docker_dir())?;
    let tag = tag_for(&ctx.hash(&base.id));
    let exists = engine.inspect_image(&tag).await?.is_some();
    Ok(Some((tag, exists)))
}

/// The full path: inspect (or make) the base, then reuse or build the image.
async fn ensure_with(engine: &Engine, ws: &Workspace, ctx: context::BuildContext, force: bool) -> Result<String> {
    let base = base::ensure_base(engine).await?;
    let hash = ctx.hash(&base.id);
    let tag = tag_for(&hash);
    if !force && engine.inspect_image(&tag).await?.is_some() {
        tracing::debug!("build image {tag} is current; reusing it");
        return Ok(tag);
    }
    let _lock = lock_file::lock(&tag).await?;
    if !force && engine.inspect_image(&tag).await?.is_some() {
        tracing::info!("build image {tag} was built by another embctl meanwhile; reusing it");
        return Ok(tag);
    }
    let base_ref = BaseRef { reference: &base.reference, id: &base.id, source: &base.source };
    let labels: HashMap<_, _> = recipe::image_labels(&hash, &base_ref, &ws.docker_dir()).into_iter().collect();
    let build_args: HashMap<_, _> = recipe::build_args(&base_ref).into_iter().collect();
    let progress = Progress::new(&format!(
        "building {tag} from {} (base {} made by {})",
        ws.docker_dir().join("Dockerfile").display(),
        base.reference,
        base.source
    ));
    let built = engine
        .build_image(&tag, ctx.tar()?, build_args, labels, force, |line| progress.line(line))
        .await;
    if built.is_err() {
        progress.fail();
    }
    built.map_err(|e| {
        e.context(format!(
            "the build image could not be built from {}; fix the Dockerfile or the network \
             (apt-get inside the build must reach Debian) and run `embctl image build` again",
            ws.docker_dir().join("Dockerfile").display()
        ))
    })?;
    progress.finish(&format!("built {tag}"));
    lock::record(engine, ws, &tag).await?;
    Ok(tag)
}

/// `embctl image build`: always inspects the base, so a base re-tagged behind
/// embctl's back (which the warm path of [`ensure`] trusts the record for) is seen.
pub async fn build(ws: &Workspace, force: bool) -> Result<()> {
    let engine = Engine::connect().await?;
    let ctx = context::BuildContext::read(&ws.docker_dir())?;
    let tag = ensure_with(&engine, ws, ctx, force).await?;
    crate::ui::print_line(format_args!("{tag}"));
    Ok(())
}

/// This tool's images, newest first.
async fn ours(engine: &Engine) -> Result<Vec<ImageInfo>> {
    let mut images = engine.images_with_label(LABEL_IMAGE).await?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created));
    Ok(images)
}

/// `embctl image ls`.
pub async fn list(ws: &Workspace) -> Result<()> {
    let engine = Engine::connect().await?;
    let current = current(&engine, ws).await?.map(|(tag, _)| tag);
    let base = base_tag();
    crate::ui::print_line(format_args!(
        "{:<32} {:<14} {:>9}  {:<12} STATUS",
        "IMAGE", "ID", "SIZE", "BASE FROM"
    ));
    for image in ours(&engine).await? {
        let tags = if image.repo_tags.is_empty() {
            vec!["<untagged>".to_string()]
        } else {
            image.repo_tags.clone()
        };
        for tag in tags {
            let this_checkout =
                image.labels.get(LABEL_CONTEXT).map(String::as_str) == Some(&*ws.docker_dir().to_string_lossy());
            let status = if Some(&tag) == current.as_ref() || tag == base {
                "current"
            } else if image.labels.get(LABEL_IMAGE).map(String::as_str) != Some(IMAGE_REPO) {
                ""
            } else if this_checkout || tag == "<untagged>" {
                "stale (prune removes it)"
            } else {
                "other checkout or older embctl"
            };
            crate::ui::print_line(format_args!(
                "{:<32} {:<14} {:>9}  {:<12} {status}",
                tag,
                short_id(&image.id),
                format!("{:.0} MB", image.size as f64 / 1e6),
                image.labels.get(LABEL_BASE_SOURCE).map(String::as_str).unwrap_or("-"),
            ));
        }
    }
    Ok(())
}

/// `embctl image rm [TAGS]`: the given tags, or every build image (the base is
/// kept unless named: remaking it takes debootstrap).
pub async fn remove(_ws: &Workspace, tags: &[String]) -> Result<()> {
    let engine = Engine::connect().await?;
    let targets: Vec<String> = if tags.is_empty() {
        ours(&engine)
            .await?
            .into_iter()
            .filter(|i| i.labels.get(LABEL_IMAGE).map(String::as_str) == Some(IMAGE_REPO))
            .map(|i| i.repo_tags.first().cloned().unwrap_or(i.id))
            .collect()
    } else {
        for tag in tags {
            let Some(info) = engine.inspect_image(tag).await? else {
                bail!("no image {tag}; see `embctl image ls`")
            };
            let labels = info.labels;
            if !labels.contains_key(LABEL_IMAGE) {
                bail!("{tag} is not an embctl image (no {LABEL_IMAGE} label); remove it with docker if you mean it");
            }
        }
        tags.to_vec()
    };
    for tag in &targets {
        engine.remove_image(tag, false).await?;
        crate::ui::print_line(format_args!("removed {tag}"));
    }
    if targets.is_empty() {
        crate::ui::print_line(format_args!("no embctl build images"));
    }
    Ok(())
}

/// `embctl image prune`: this checkout's build images whose hash is not the
/// current one, and untagged (superseded) build images.
pub async fn prune(ws: &Workspace) -> Result<()> {
    let engine = Engine::connect().await?;
    // Containers of killed runs hold their image; they go first.
    crate::run::reap_orphaned_qemu(&engine).await;
    let current_hash = match base::existing_base(&engine).await? {
        Some(b) => Some(context::BuildContext::read(&ws.docker_dir())?.hash(&b.id)),
        None => None,
    };
    let mut removed = 0;
    for image in ours(&engine).await? {
        if image.labels.get(LABEL_IMAGE).map(String::as_str) != Some(IMAGE_REPO) {
            continue;
        }
        if image.labels.get(LABEL_HASH) == current_hash.as_ref() && !image.repo_tags.is_empty() {
            continue;
        }
        let this_checkout =
            image.labels.get(LABEL_CONTEXT).map(String::as_str) == Some(&*ws.docker_dir().to_string_lossy());
        if !this_checkout && !image.repo_tags.is_empty() {
            continue;
        }
        let name = image.repo_tags.first().cloned().unwrap_or_else(|| image.id.clone());
        match engine.remove_image(&name, false).await {
            Ok(()) => {
                crate::ui::print_line(format_args!("removed {name}"));
                removed += 1;
            }
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
    crate::ui::print_line(format_args!("pruned {removed} stale image(s)"));
    if current_hash.is_some() {
        base::remove_unused_prepared_tree();
    }
    for lock in embctl_base_rootfs::host_lock::remove_stale() {
        crate::ui::print_line(format_args!("removed the unused lock file {}", lock.display()));
    }
    Ok(())
}
