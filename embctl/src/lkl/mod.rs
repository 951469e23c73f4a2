//! LKL sources: the pinned archive (download, verification, cache), safe
//! extraction, the patch series applied with diffy, or a user's own tree
//! (`--lkl-tree`); the out-of-tree build of `lkl.o` inside the build image,
//! `lkl-diff` and `clean-lkl`.
//!
//! Layout under `build/extbld/third_party/lkl/` (as in Embox's extbld):
//! `lib/linux-<commit>/` is the pinned tree and `.patched` records which
//! patches it holds; `out/<tree id>/` holds everything a build of one source
//! tree makes (Kbuild `O=`, tools/lkl `OUTPUT=`, `install/{lib/lkl.o,include}`),
//! so source trees hold only sources and two trees never mix their outputs.

mod archive;
mod build;
mod diff;
mod download;
mod extract;
mod local;
mod overlay;
mod patch;
mod source;
mod verify;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tracing::info;

pub use build::{build_for_template, LklInstall};

use crate::workspace::Workspace;
use patch::PatchFile;
use source::Pin;

/// Where a build gets LKL from: the user's own tree (unpinned) wins over a
/// local zip, which wins over the pinned URL (or a mirror of it).
#[derive(Debug, Clone, Default)]
pub struct LklSource {
    /// A local copy of the pinned archive (`--lkl-zip`).
    pub zip: Option<PathBuf>,
    /// A mirror URL instead of the pinned one (`--lkl-mirror`).
    pub mirror: Option<String>,
    /// The user's own LKL tree, only read (`--lkl-tree`).
    pub tree: Option<PathBuf>,
}

/// `embctl lkl build`.
#[derive(Debug, Clone)]
pub struct LklBuildOptions {
    /// The template whose `lkl.config` fragment is merged over LKL's defconfig.
    pub template: String,
    pub source: LklSource,
}

/// `embctl lkl-diff`.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// A diffstat instead of the diff.
    pub stat: bool,
    /// Save the changes as `patches/lkl/NAME.patch` and append it to the series.
    pub save: Option<String>,
    /// Diff this git work tree against its HEAD instead of the pinned tree.
    pub tree: Option<PathBuf>,
}

/// `embctl clean-lkl`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanOptions {
    /// Also remove the extracted pinned tree.
    pub all: bool,
    /// With `all`: even when it has local changes.
    pub force: bool,
}

/// Every path of the LKL pipeline for one workspace and pin.
#[derive(Debug, Clone)]
pub struct LklPaths {
    pub patches: PathBuf,
    pub excludes: PathBuf,
    /// `build/extbld/third_party/lkl`
    pub base: PathBuf,
    /// `.../lib/linux-<commit>`
    pub tree: PathBuf,
    /// `.../out`: one output directory per source tree.
    pub out_root: PathBuf,
    pub patched_marker: PathBuf,
}

impl LklPaths {
    pub fn new(ws: &Workspace, pin: &Pin) -> Self {
        let base = ws.build_dir().join("extbld/third_party/lkl");
        Self {
            patches: ws.patches_dir().join("lkl"),
            excludes: ws.third_party_dir().join("lkl/lkl-diff-excludes.txt"),
            tree: base.join("lib").join(pin.tree_name()),
            out_root: base.join("out"),
            patched_marker: base.join(".patched"),
            base,
        }
    }

    /// The output directory of the pinned tree.
    pub fn pinned_out(&self, pin: &Pin) -> PathBuf {
        self.out_root.join(pin.tree_name())
    }
}

/// Serialises embctl runs on one workspace's LKL directory: extraction,
/// patching, builds, diffs and cleaning never interleave, and the leftovers of
/// a killed run can be removed safely. Released when dropped.
struct TreeLock {
    _file: fs::File,
}

impl TreeLock {
    fn acquire(paths: &LklPaths) -> Result<Self> {
        use std::os::fd::AsRawFd;
        fs::create_dir_all(&paths.base).with_context(|| format!("cannot create {}", paths.base.display()))?;
        let path = paths.base.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        // SAFETY: the descriptor belongs to `file`, which is open for both calls.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            info!("waiting for another embctl that is using {}", paths.base.display());
            // SAFETY: as above.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        Ok(Self { _file: file })
    }
}

fn pin_file(ws: &Workspace) -> PathBuf {
    ws.third_party_dir().join("lkl/lkl.toml")
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// `embctl lkl fetch`: download (or take --lkl-zip), verify, extract, patch.
pub async fn fetch(ws: &Workspace, src: &LklSource) -> Result<()> {
    let pin = Pin::load(&pin_file(ws))?;
    let paths = LklPaths::new(ws, &pin);
    let archive = download::obtain(&pin, src).await?;
    let _lock = TreeLock::acquire(&paths)?;
    if !paths.tree.exists() {
        extract_fresh(&pin, &paths, &archive.path)?;
    } else {
        info!("the LKL tree {} is already extracted", paths.tree.display());
    }
    apply_pending_patches(&paths)?;
    crate::ui::print_line(format_args!("LKL sources ready: {}", paths.tree.display()));
    Ok(())
}

/// Makes sure the patched tree exists, touching the network only when it does
/// not. The returned lock keeps other embctl runs off the tree until dropped.
async fn ensure_patched_tree(ws: &Workspace, src: &LklSource) -> Result<(LklPaths, TreeLock)> {
    let pin = Pin::load(&pin_file(ws))?;
    let paths = LklPaths::new(ws, &pin);
    let lock = TreeLock::acquire(&paths)?;
    if !paths.tree.exists() {
        let archive = download::obtain(&pin, src).await?;
        extract_fresh(&pin, &paths, &archive.path)?;
    }
    apply_pending_patches(&paths)?;
    Ok((paths, lock))
}

fn extract_fresh(pin: &Pin, paths: &LklPaths, archive: &Path) -> Result<()> {
    // The marker and the build outputs describe a tree; a new tree starts with none.
    remove_if_present(&paths.patched_marker)?;
    let out = paths.pinned_out(pin);
    if out.exists() {
        crate::remove_tree::remove_tree(&out).with_context(|| format!("cannot remove the old build outputs {}", out.display()))?;
    }
    extract::extract_tree(archive, &pin.tree_name(), &paths.tree)?;
    info!("extracted {}", paths.tree.display());
    Ok(())
}

/// The `.patched` marker: one `sha256 name` line per patch the tree holds.
fn read_patched_marker(paths: &LklPaths) -> Result<Vec<(String, String)>> {
    let text = match fs::read_to_string(&paths.patched_marker) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", paths.patched_marker.display())),
    };
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' ').map(|(sha, name)| (sha.to_string(), name.trim().to_string())))
        .collect())
}

fn write_patched_marker(paths: &LklPaths, series: &[PatchFile]) -> Result<()> {
    let mut text = String::from("# patches applied to this LKL tree, in order (written by embctl)\n");
    for patch in series {
        text.push_str(&format!("{} {}\n", patch.sha256, patch.name));
    }
    fs::write(&paths.patched_marker, text).with_context(|| format!("cannot write {}", paths.patched_marker.display()))
}

/// Applies the patches of the series the tree does not hold yet.
fn apply_pending_patches(paths: &LklPaths) -> Result<()> {
    let series = patch::read_series(&paths.patches)?;
    let applied = read_patched_marker(paths)?;
    let holds_prefix = applied.len() <= series.len()
        && applied.iter().zip(&series).all(|((sha, name), p)| *sha == p.sha256 && *name == p.name);
    if !holds_prefix {
        bail!(
            "the patch series {} changed since the tree {} was patched (it holds: {}). \
             `embctl lkl-diff` still shows your local changes while the patches the tree holds are unchanged; \
             then rebuild the tree with `embctl clean-lkl --all` and `embctl lkl fetch`",
            paths.patches.join("series").display(),
            paths.tree.display(),
            applied.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let pending = &series[applied.len()..];
    if pending.is_empty() {
        if !paths.patched_marker.exists() {
            write_patched_marker(paths, &series)?;
        }
        return Ok(());
    }
    let names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
    // The out-of-tree build sees the patched files' new mtimes and rebuilds what they affect.
    let files = patch::apply_series(&paths.tree, pending)?;
    write_patched_marker(paths, &series)?;
    let noun = if files == 1 { "file" } else { "files" };
    info!("applied {} ({files} {noun} changed)", names.join(", "));
    Ok(())
}

/// The source tree a build reads: the user's `--lkl-tree`, else the pinned
/// tree (fetched and patched when needed). The lock keeps other embctl runs
/// off the workspace's LKL directory until dropped.
async fn prepare_tree(ws: &Workspace, src: &LklSource) -> Result<(build::BuildTree, TreeLock)> {
    if let Some(dir) = &src.tree {
        if src.zip.is_some() || src.mirror.is_some() {
            tracing::warn!("--lkl-tree (EMBCTL_LKL_TREE) wins: --lkl-zip and --lkl-mirror are ignored");
        }
        let local = local::LocalTree::open(dir)?;
        let pin = Pin::load(&pin_file(ws))?;
        let paths = LklPaths::new(ws, &pin);
        let lock = TreeLock::acquire(&paths)?;
        tracing::warn!(
            "using the UNPINNED LKL tree {} (--lkl-tree / EMBCTL_LKL_TREE): it is not checked against \
             third-party/lkl/lkl.toml and the patch series (patches/lkl) is not applied to it; patches/lkl-tree \
             is, out of tree",
            local.dir.display()
        );
        let out = paths.out_root.join(&local.id);
        return Ok((build::BuildTree { source: local.dir, out, pinned: false }, lock));
    }
    let (paths, lock) = ensure_patched_tree(ws, src).await?;
    let pin = Pin::load(&pin_file(ws))?;
    local::check_not_built_in_tree(&paths.tree)?;
    Ok((build::BuildTree { source: paths.tree.clone(), out: paths.pinned_out(&pin), pinned: true }, lock))
}

/// `embctl lkl build`: the LKL part of `embctl build`, on its own.
pub async fn build(ws: &Workspace, opts: &LklBuildOptions) -> Result<()> {
    let template = crate::build::template::find(ws, &opts.template)?;
    let engine = crate::engine::Engine::connect().await?;
    let image = crate::image::ensure(&engine, ws).await?;
    let install = build_for_template(ws, &engine, &image, &opts.source, &template).await?;
    crate::ui::print_line(format_args!("LKL built: {} (lib/lkl.o, include/)", install.host.display()));
    Ok(())
}

/// `embctl lkl pin`: download, check the MD5, record the SHA-256 in lkl.toml.
pub async fn pin(ws: &Workspace, src: &LklSource) -> Result<()> {
    let mut pin = Pin::load(&pin_file(ws))?;
    let pinned_before = pin.sha256.clone();
    let archive = download::obtain(&pin, src).await?;
    if pinned_before.is_empty() {
        pin.write_sha256(&archive.digests.sha256)?;
        crate::ui::print_line(format_args!("pinned sha256 {} in {}", archive.digests.sha256, pin.file.display()));
    } else {
        crate::ui::print_line(format_args!("{} already pins sha256 {}, and the archive matches it", pin.file.display(), pinned_before));
    }
    Ok(())
}

/// The patches the tree holds (per `.patched`), read from patches/lkl/ and
/// checked to be the very versions that were applied.
fn held_patches(paths: &LklPaths) -> Result<Vec<PatchFile>> {
    let mut held = Vec::new();
    for (sha, name) in read_patched_marker(paths)? {
        let path = paths.patches.join(&name);
        let current = fs::read(&path).ok().map(|bytes| PatchFile::new(&name, path.clone(), bytes));
        match current {
            Some(patch) if patch.sha256 == sha => held.push(patch),
            _ => bail!(
                "the LKL tree was patched with {} as it was then, and that file has changed or gone since, so the \
                 clean tree cannot be rebuilt. Restore that version (e.g. from git) to see or save your local \
                 changes, or discard them with `embctl clean-lkl --all --force`",
                path.display()
            ),
        }
    }
    Ok(held)
}

fn local_changes(pin: &Pin, paths: &LklPaths) -> Result<diff::TreeDiff> {
    if !paths.tree.is_dir() {
        bail!("there is no LKL tree at {}; run `embctl lkl fetch` first", paths.tree.display());
    }
    let held = held_patches(paths)?;
    let cached = download::cached_archive_path(pin)?;
    if !cached.is_file() {
        bail!(
            "the cached LKL archive {} is missing, so the clean tree cannot be rebuilt; run `embctl lkl fetch` \
             (with --lkl-zip PATH when offline)",
            cached.display()
        );
    }
    download::verify_local(pin, &cached)?;
    // The clean tree is the archive read in place plus the held patches in memory.
    let clean = archive::ArchiveTree::open(&cached, &pin.tree_name())?;
    let changes = patch::patch_in_memory(&clean, &held, &cached)?;
    let excludes = diff::Excludes::load(&paths.excludes)?;
    diff::diff_against_archive(&clean, &changes, &paths.tree, &excludes)
}

/// `embctl lkl-diff`: the build tree against the clean patched tree.
pub async fn lkl_diff(ws: &Workspace, opts: &DiffOptions) -> Result<()> {
    let pin = Pin::load(&pin_file(ws))?;
    let paths = LklPaths::new(ws, &pin);
    if let Some(dir) = &opts.tree {
        return local_tree_diff(&paths, dir, opts);
    }
    let _lock = TreeLock::acquire(&paths)?;
    let changes = local_changes(&pin, &paths)?;
    for link in &changes.changed_links {
        tracing::warn!("symlink {} differs; symlinks cannot be carried by a patch", link.display());
    }
    if let Some(name) = &opts.save {
        return save_patch(&paths, name, &changes);
    }
    let text = if opts.stat {
        if changes.files.is_empty() { Vec::new() } else { changes.stat().into_bytes() }
    } else {
        changes.patch_text()
    };
    write_stdout(&text)?;
    if changes.files.is_empty() {
        info!("no local changes in {}", paths.tree.display());
    }
    Ok(())
}

fn write_stdout(text: &[u8]) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text) {
        // `embctl lkl-diff | head` is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the diff to stdout"),
    }
}

/// `embctl lkl-diff --lkl-tree DIR`: the user's tree against its git HEAD.
fn local_tree_diff(paths: &LklPaths, dir: &Path, opts: &DiffOptions) -> Result<()> {
    let tree = local::LocalTree::open(dir)?;
    if opts.save.is_some() {
        bail!(
            "--save adds a patch to the series applied to the pinned tree; {} is your own (unpinned) tree, so \
             record your changes there with git instead",
            tree.dir.display()
        );
    }
    let excludes = diff::Excludes::load(&paths.excludes)?;
    let text = local::git_diff(&tree, &excludes, opts.stat)?;
    write_stdout(&text)?;
    if text.is_empty() {
        info!("no local changes in {} against its git HEAD", tree.dir.display());
    }
    Ok(())
}

fn save_patch(paths: &LklPaths, name: &str, changes: &diff::TreeDiff) -> Result<()> {
    patch::check_patch_name(name)?;
    if !name.ends_with(".patch") {
        bail!("--save {name}: the name must end in .patch");
    }
    let series_file = paths.patches.join("series");
    let series = patch::read_series(&paths.patches)?;
    if series != held_patches(paths)? {
        bail!(
            "the tree does not hold the current series {} yet; run `embctl lkl fetch` to apply the new patches, \
             then save (the new patch must follow them)",
            series_file.display()
        );
    }
    if changes.files.is_empty() {
        bail!("no local changes in {}: nothing to save", paths.tree.display());
    }
    if let Some(binary) = changes.files.iter().find(|f| f.binary) {
        bail!("{} is a binary file; embctl patches carry text only. Revert it or keep it outside the series", binary.path.display());
    }
    let target = paths.patches.join(name);
    if target.exists() {
        bail!("{} already exists; choose another name", target.display());
    }
    let text = changes.patch_text();
    fs::create_dir_all(&paths.patches).with_context(|| format!("cannot create {}", paths.patches.display()))?;
    fs::write(&target, &text).with_context(|| format!("cannot write {}", target.display()))?;
    let mut listing = fs::read_to_string(&series_file).unwrap_or_default();
    if !listing.is_empty() && !listing.ends_with('\n') {
        listing.push('\n');
    }
    listing.push_str(name);
    listing.push('\n');
    fs::write(&series_file, listing).with_context(|| format!("cannot append to {}", series_file.display()))?;
    // The tree already holds these changes: record the new patch as applied.
    let mut applied = series;
    applied.push(PatchFile::new(name, target.clone(), text));
    write_patched_marker(paths, &applied)?;
    crate::ui::print_line(format_args!("saved {} ({} files) and appended it to {}", target.display(), changes.files.len(), series_file.display()));
    Ok(())
}

/// `embctl clean-lkl`: markers and `make clean`; `--all` removes the tree.
pub async fn clean_lkl(ws: &Workspace, opts: CleanOptions) -> Result<()> {
    let pin = Pin::load(&pin_file(ws))?;
    let paths = LklPaths::new(ws, &pin);
    let _lock = TreeLock::acquire(&paths)?;
    if opts.all {
        if paths.tree.exists() && !opts.force {
            let changes = local_changes(&pin, &paths).context(
                "cannot tell whether the LKL tree has local changes; pass --force to remove it anyway",
            )?;
            if !changes.is_empty() {
                bail!(
                    "the LKL tree {} has local changes in {} files (see `embctl lkl-diff --stat`); save them with \
                     `embctl lkl-diff --save NAME.patch`, or pass --force to discard them",
                    paths.tree.display(),
                    changes.files.len() + changes.changed_links.len()
                );
            }
        }
        let started = std::time::Instant::now();
        crate::remove_tree::remove_tree(&paths.base).with_context(|| format!("cannot remove {}", paths.base.display()))?;
        tracing::info!("removed {} in {:.1} s", paths.base.display(), started.elapsed().as_secs_f64());
        crate::ui::print_line(format_args!("removed {}", paths.base.display()));
        return Ok(());
    }
    let removed = build::clean_outputs(&paths)?;
    if removed.is_empty() {
        crate::ui::print_line(format_args!("no LKL build outputs under {}", paths.out_root.display()));
    } else {
        for dir in &removed {
            crate::ui::print_line(format_args!("removed {}", dir.display()));
        }
    }
    crate::ui::print_line(format_args!("the next LKL build starts over; the sources stay (the pinned tree in {})", paths.tree.display()));
    Ok(())
}
