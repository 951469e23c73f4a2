//! The LKL build inside the build image, always out of tree.
//!
//! The source tree (the pinned tree under `lib/`, or the user's `--lkl-tree`)
//! is bind-mounted read-only at `/lkl/src`, so no build step can write into it.
//! Everything the build makes goes to one directory per source tree,
//! `build/extbld/third_party/lkl/out/<tree id>/`:
//!
//! - `kernel/` — Kbuild's `O=` (the `.config`, objects, `vmlinux`, `lkl.o`);
//! - `tools/lkl/` — tools/lkl's output (host library, tests, installed headers).
//!   tools/lkl takes `O=DIR` (tools/scripts/Makefile.include turns it into
//!   `OUTPUT=DIR/`, and tools/lkl appends `tools/lkl/`); an `OUTPUT=` on the
//!   command line would override that append and scatter files beside DIR;
//! - `install/` — what the Embox kernel links: `lib/lkl.o` and `include/`
//!   (`lkl.h`, `lkl_host.h`, `lkl_autoconf.h`, `lkl/...`), updated file by file
//!   so an unchanged lkl.o keeps its mtime and cargo relinks nothing.
//!
//! The configuration is LKL's defconfig with the template's `lkl.config`
//! fragment merged over it; `.config` is only replaced when the result differs,
//! so an unchanged configuration recompiles nothing. KBUILD_BUILD_* are fixed
//! and every path the compiler sees is the same on every machine (`/lkl/src`,
//! `/ws/build/...`), so two clean builds give a byte-identical lkl.o.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{LklPaths, LklSource};
use crate::build::template::Template;
use crate::engine::{ContainerSpec, Engine};
use crate::workspace::Workspace;

/// Wrapper makefile added by our lkl-i386-support.patch; used when present.
const I386_MAKEFILE: &str = "Makefile.embox-i386";
/// Where the source tree appears in the build container (read-only).
pub const CONTAINER_SRC: &str = "/lkl/src";
/// The template file holding LKL's config fragment.
pub const FRAGMENT_FILE: &str = "lkl.config";
/// gcc 14 turned these warnings into errors; LKL's POSIX host library (tools/lkl/lib)
/// has 32-bit time-type and pointer mismatches that trip them on i386.
const HOST_LIB_CFLAGS: &str = "-Wno-error=incompatible-pointer-types -Wno-error=int-conversion";
/// Fixed build identity: no date, user or host of the machine leaks into lkl.o.
const REPRODUCIBLE_ENV: &[(&str, &str)] = &[
    ("KBUILD_BUILD_TIMESTAMP", "1970-01-01 00:00:00 UTC"),
    ("KBUILD_BUILD_USER", "embox"),
    ("KBUILD_BUILD_HOST", "embox"),
    ("KBUILD_BUILD_VERSION", "1"),
];

/// The installed LKL, as the host and the build container see it.
#[derive(Debug, Clone)]
pub struct LklInstall {
    pub host: PathBuf,
    /// `/ws/build/extbld/third_party/lkl/out/<id>/install`: `EMBOX_LKL_DIR` for the kernel build.
    pub container: String,
}

/// The source tree a build reads, and the output directory it owns.
#[derive(Debug, Clone)]
pub struct BuildTree {
    /// The tree on the host (mounted read-only at /lkl/src).
    pub source: PathBuf,
    /// `out/<id>` under the workspace's LKL directory.
    pub out: PathBuf,
    pub pinned: bool,
}

impl BuildTree {
    pub fn install_dir(&self) -> PathBuf {
        self.out.join("install")
    }
}

/// Called by `embctl build` when the template enables LKL (`[lkl] enabled = true`).
pub async fn build_for_template(
    ws: &Workspace,
    engine: &Engine,
    image: &str,
    src: &LklSource,
    template: &Template,
) -> Result<LklInstall> {
    let (tree, _lock) = super::prepare_tree(ws, src).await?;
    let fragment = template_fragment(ws, template);
    let out = crate::build::container_path(ws, &tree.out)?;
    let frag_container = match &fragment {
        Some(path) => Some(crate::build::container_path(ws, path)?),
        None => None,
    };
    let i386_makefile = tree.source.join("tools/lkl").join(I386_MAKEFILE).is_file();
    let script = build_script(&out, frag_container.as_deref(), i386_makefile);
    let started = std::time::Instant::now();
    let install = tree.install_dir();
    let overlay = (!tree.pinned).then(|| super::overlay::series_dir(ws));
    let stamp = build_stamp(&tree, image, &script, fragment.as_deref(), overlay.as_deref());
    if stamp.is_current(std::slice::from_ref(&install)) {
        info!(
            "LKL from {} is unchanged since its last build (same files, {FRAGMENT_FILE}, build image and script; checked in {:.1} s): \
             make not run (`embctl clean-lkl` forces a rebuild)",
            tree.source.display(),
            started.elapsed().as_secs_f64()
        );
        report_lkl_o(&tree, false, started.elapsed())?;
        return Ok(LklInstall { container: crate::build::container_path(ws, &install)?, host: install });
    }
    info!(
        "building LKL from {} ({}) out of tree in {}{}",
        tree.source.display(),
        if tree.pinned { "pinned by third-party/lkl/lkl.toml" } else { "UNPINNED local tree, --lkl-tree" },
        tree.out.display(),
        match &fragment {
            Some(f) => format!(", configured by LKL's defconfig + {}", f.display()),
            None => format!(", LKL's defconfig (template {} has no {FRAGMENT_FILE})", template.name),
        }
    );
    stamp.clear();
    if !tree.pinned {
        super::overlay::apply(&super::overlay::series_dir(ws), &tree.source, &tree.out.join("kernel"))?;
    }
    run_step(ws, engine, image, &tree.source, &script, "the LKL build").await?;
    if let Some(fragment) = &fragment {
        report_unmet_config(fragment, &tree.out.join("kernel/.config"))?;
    }
    let changed = sync_dir(&tree.out.join("install.new"), &install)?;
    fs::remove_dir_all(tree.out.join("install.new")).context("cannot remove the staging install directory")?;
    stamp.record(std::slice::from_ref(&install));
    report_lkl_o(&tree, changed, started.elapsed())?;
    Ok(LklInstall { container: crate::build::container_path(ws, &install)?, host: install })
}

/// The LKL build's stamp (`out/<id>/build.stamp`, see `crate::build::stamp`):
/// every file of the source tree (path, size, mtime; `.git` is not an input,
/// so `git status` refreshing the index rebuilds nothing) and the fragment,
/// taken before make runs, the image (the toolchain) and the script, the
/// out-of-tree patches of a local tree (`overlay`), and the installed files
/// after. A tree whose stamp matches skips make and install,
/// about 3 minutes of make finding nothing to do on a real tree.
fn build_stamp(tree: &BuildTree, image: &str, script: &str, fragment: Option<&Path>, overlay: Option<&Path>) -> crate::build::stamp::Stamp {
    let command = format!("image {image}\nsource {}\n{script}", tree.source.display());
    let mut inputs = vec![tree.source.clone()];
    inputs.extend(fragment.map(Path::to_path_buf));
    inputs.extend(overlay.map(Path::to_path_buf));
    crate::build::stamp::Stamp::skipping(&tree.out, "build.stamp", &command, &inputs, &[".git"])
}

/// `kernel/templates/<name>/lkl.config`, when the template has one.
pub fn template_fragment(ws: &Workspace, template: &Template) -> Option<PathBuf> {
    let path = crate::build::template::templates_dir(ws).join(&template.name).join(FRAGMENT_FILE);
    path.is_file().then_some(path)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The build as one shell script run in the image. Paths are container paths.
fn build_script(out: &str, fragment: Option<&str>, i386_makefile: bool) -> String {
    let o = shell_quote(out);
    let env: Vec<String> = REPRODUCIBLE_ENV.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))).collect();
    let merge = match fragment {
        Some(frag) => format!(
            "KCONFIG_CONFIG=\"$K/.config.wanted\" ARCH=lkl \"$S/scripts/kconfig/merge_config.sh\" -m .config.defconfig {frag}\n\
             make -s -C \"$S\" ARCH=lkl O=\"$K\" KCONFIG_CONFIG=.config.wanted olddefconfig\n",
            frag = shell_quote(frag)
        ),
        None => String::new(),
    };
    let makefile = if i386_makefile { format!("-f {I386_MAKEFILE} ") } else { String::new() };
    format!(
        "set -eu\n\
         S={src}; O={o}; K=\"$O/kernel\"\n\
         export {env}\n\
         mkdir -p \"$K\"\n\
         echo '== LKL configuration (defconfig + fragment)'\n\
         make -s -C \"$S\" ARCH=lkl O=\"$K\" KCONFIG_CONFIG=.config.defconfig defconfig\n\
         cd \"$K\"\n\
         cp .config.defconfig .config.wanted\n\
         {merge}\
         if cmp -s .config.wanted .config; then echo 'configuration unchanged'; else cp .config.wanted .config; echo 'configuration updated'; fi\n\
         echo '== LKL kernel (lkl.o and headers)'\n\
         # `all install` in one run: for `install` alone Kbuild neither syncs include/config/auto.conf\n\
         # with .config nor reads its compiler flags (Makefile.compiler), which would rebuild every object.\n\
         # LKL's arch/lkl/scripts/headers_install.py opens source headers by paths relative to its\n\
         # working directory, which is $K in an O= build: without these links into the (read-only)\n\
         # source tree it silently skips them and then fails (FileNotFoundError .../linux/ipv6.h).\n\
         for d in include/uapi arch/lkl/include/uapi; do mkdir -p \"$K/${{d%/*}}\"; [ -e \"$K/$d\" ] || [ -L \"$K/$d\" ] || ln -s \"$S/$d\" \"$K/$d\"; done\n\
         make -C \"$S\" ARCH=lkl O=\"$K\" -j\"$(nproc)\" all install INSTALL_PATH=\"$O/tools/lkl\"\n\
         echo '== LKL host library and tools (tools/lkl)'\n\
         export CFLAGS={cflags}\n\
         # -o bin/stat: tools/lkl would create bin/stat in the source tree (a FreeBSD workaround).\n\
         make -C \"$S/tools/lkl\" {makefile}O=\"$O\" -o bin/stat -j\"$(nproc)\"\n\
         rm -rf \"$O/install.new\"; mkdir -p \"$O/install.new/lib\"\n\
         make -s -C \"$S/tools/lkl\" {makefile}O=\"$O\" -o bin/stat headers_install DESTDIR=\"$O/install.new\" PREFIX=\n\
         cp \"$O/tools/lkl/lib/lkl.o\" \"$O/install.new/lib/lkl.o\"\n\
         strip --strip-debug -o \"$O/lkl-stripped.o\" \"$O/install.new/lib/lkl.o\"\n\
         size \"$O/install.new/lib/lkl.o\"\n",
        src = shell_quote(CONTAINER_SRC),
        env = env.join(" "),
        cflags = shell_quote(HOST_LIB_CFLAGS),
    )
}

/// Warns about fragment lines the final `.config` does not honour (a `select`
/// or a missing dependency overrode them). `# X is not set` is honoured by an
/// absent symbol too.
fn report_unmet_config(fragment: &Path, config: &Path) -> Result<()> {
    let wanted = fs::read_to_string(fragment).with_context(|| format!("cannot read {}", fragment.display()))?;
    let got = fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    for (symbol, want, have) in unmet_config(&wanted, &got) {
        warn!(
            "{}: {symbol} wanted {want}, but the configuration has {have} (a select or a dependency decides it)",
            fragment.display()
        );
    }
    Ok(())
}

/// `CONFIG_X=v` and `# CONFIG_X is not set` lines as (symbol, value); "n" for not set.
fn config_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# ").and_then(|r| r.strip_suffix(" is not set")) {
                rest.starts_with("CONFIG_").then(|| (rest.to_string(), "n".to_string()))
            } else if line.starts_with("CONFIG_") {
                line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
            } else {
                None
            }
        })
        .collect()
}

/// The fragment's (symbol, wanted, actual) triples that the configuration does not honour.
fn unmet_config(fragment: &str, config: &str) -> Vec<(String, String, String)> {
    let have: std::collections::HashMap<String, String> = config_values(config).into_iter().collect();
    config_values(fragment)
        .into_iter()
        .filter_map(|(symbol, want)| {
            let actual = have.get(&symbol).cloned().unwrap_or_else(|| "n".to_string());
            (actual != want).then_some((symbol, want, actual))
        })
        .collect()
}

/// Makes `to` hold exactly the files of `from`, rewriting only files whose
/// content differs (unchanged files keep their mtime). Returns whether anything changed.
pub fn sync_dir(from: &Path, to: &Path) -> Result<bool> {
    let mut changed = false;
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            if dst.exists() && !dst.is_dir() {
                fs::remove_file(&dst).with_context(|| format!("cannot remove {}", dst.display()))?;
            }
            changed |= sync_dir(&src, &dst)?;
        } else {
            let new = fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
            if dst.is_dir() {
                fs::remove_dir_all(&dst).with_context(|| format!("cannot remove {}", dst.display()))?;
            }
            if fs::read(&dst).ok().as_deref() != Some(new.as_slice()) {
                let tmp = dst.with_extension("embctl-tmp");
                fs::write(&tmp, &new).with_context(|| format!("cannot write {}", tmp.display()))?;
                fs::rename(&tmp, &dst).with_context(|| format!("cannot write {}", dst.display()))?;
                changed = true;
            }
        }
    }
    for entry in fs::read_dir(to).with_context(|| format!("cannot list {}", to.display()))? {
        let entry = entry?;
        if !from.join(entry.file_name()).exists() {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            }
            .with_context(|| format!("cannot remove {}", path.display()))?;
            changed = true;
        }
    }
    Ok(changed)
}

fn report_lkl_o(tree: &BuildTree, changed: bool, took: std::time::Duration) -> Result<()> {
    let lkl_o = tree.install_dir().join("lib/lkl.o");
    let bytes = fs::read(&lkl_o).with_context(|| format!("the LKL build finished but {} is missing", lkl_o.display()))?;
    let stripped = fs::metadata(tree.out.join("lkl-stripped.o")).map(|m| m.len()).unwrap_or(0);
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    info!(
        "{}: {} in {:.1} s; lkl.o {} bytes ({:.1} MiB) with debug info, {} bytes ({:.1} MiB) stripped of it; sha256 {}",
        lkl_o.display(),
        if changed { "installed" } else { "unchanged" },
        took.as_secs_f64(),
        bytes.len(),
        mib(bytes.len() as u64),
        stripped,
        mib(stripped),
        hex::encode(Sha256::digest(&bytes))
    );
    Ok(())
}

/// Removes the out-of-tree outputs of every tree (`out/`): the next build starts over.
pub fn clean_outputs(paths: &LklPaths) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if let Ok(entries) = fs::read_dir(&paths.out_root) {
        for entry in entries.flatten() {
            let path = entry.path();
            crate::remove_tree::remove_tree(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

async fn run_step(ws: &Workspace, engine: &Engine, image: &str, source: &Path, script: &str, what: &str) -> Result<()> {
    let mut spec: ContainerSpec = crate::image::workspace_spec(ws, image, vec!["sh".into(), "-c".into(), script.into()]);
    // Read-only: nothing in the build may write into the source tree.
    spec.binds.push(format!("{}:{CONTAINER_SRC}:ro", source.display()));
    let code = engine.run(&spec).await.with_context(|| format!("{what}: cannot run the build container"))?;
    if code != 0 {
        bail!(
            "{what} failed with exit code {code} inside the build image (output above). The source tree is mounted \
             read-only, so a \"Read-only file system\" error means a build step tried to write into it. Fix the cause, \
             then rerun; `embctl clean-lkl` starts the LKL build over, `embctl lkl-diff` shows your changes to the tree"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_config_treats_absent_as_not_set() {
        let fragment = "# comment\n# CONFIG_KASAN is not set\nCONFIG_UNIX=y\nCONFIG_TMPFS=y\n# CONFIG_EXT4_FS is not set\n";
        let config = "CONFIG_UNIX=y\n# CONFIG_TMPFS is not set\nCONFIG_EXT4_FS=y\n";
        let unmet = unmet_config(fragment, config);
        assert_eq!(
            unmet,
            [("CONFIG_TMPFS".to_string(), "y".to_string(), "n".to_string()), ("CONFIG_EXT4_FS".into(), "n".into(), "y".into())]
        );
    }

    #[test]
    fn script_builds_out_of_tree_with_fixed_identity() {
        let s = build_script("/ws/build/extbld/third_party/lkl/out/x", Some("/ws/kernel/templates/t/lkl.config"), false);
        assert!(s.contains("O=\"$K\"") && s.contains("tools/lkl\" O=\"$O\"") && !s.contains("OUTPUT="), "{s}");
        assert!(s.contains("KBUILD_BUILD_TIMESTAMP='1970-01-01 00:00:00 UTC'"), "{s}");
        assert!(s.contains("merge_config.sh\" -m .config.defconfig '/ws/kernel/templates/t/lkl.config'"), "{s}");
        assert!(!s.contains("Makefile.embox-i386"));
        assert!(!build_script("/o", None, true).contains("merge_config"));
        assert!(build_script("/o", None, true).contains("-f Makefile.embox-i386"));
    }

    #[test]
    fn sync_dir_rewrites_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        fs::create_dir_all(from.join("lib")).unwrap();
        fs::write(from.join("lib/lkl.o"), b"one").unwrap();
        fs::write(from.join("a.h"), b"a").unwrap();
        assert!(sync_dir(&from, &to).unwrap());
        let mtime = fs::metadata(to.join("lib/lkl.o")).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::remove_file(from.join("a.h")).unwrap();
        assert!(sync_dir(&from, &to).unwrap(), "a removed file is a change");
        assert!(!to.join("a.h").exists());
        assert!(!sync_dir(&from, &to).unwrap());
        assert_eq!(fs::metadata(to.join("lib/lkl.o")).unwrap().modified().unwrap(), mtime);
    }
}
