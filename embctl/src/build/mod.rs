//! `embctl build`: a template becomes a plan of steps, each run inside the
//! build image with the workspace at /ws as the invoking user, ending in
//! artefacts under `build/base/`:
//!
//! - `bin/embox` — the kernel (ELF32, multiboot);
//! - `rootfs-gen/` — user programs compiled from `third-party/`;
//! - `packages/` — the template's Debian packages, unpacked (`packages.rs`);
//! - `rootfs.cpio` — the initramfs: `rootfs/`, `rootfs-gen/` and the
//!   unpacked packages (newc).
//!
//! LKL, when the template enables it, is built first: the kernel links it,
//! finding `lib/lkl.o` and `include/` through `EMBOX_LKL_DIR` (a container path).

pub mod packages;
pub mod rootfs;
pub(crate) mod stamp;
pub mod template;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::engine::{ContainerSpec, Engine};
use crate::lkl::LklSource;
use crate::qemu::shell_join;
use crate::workspace::Workspace;
use template::Template;

/// The Rust target the kernel is compiled for (its linker script makes it a
/// bare multiboot ELF; the target only selects the i386 code generator).
pub const KERNEL_TARGET: &str = "i686-unknown-linux-gnu";

/// Paths of the build's artefacts, on the host and in the container.
#[derive(Debug, Clone)]
pub struct Artefacts {
    pub base: PathBuf,
}

impl Artefacts {
    pub fn new(ws: &Workspace) -> Self {
        Self { base: ws.build_dir().join("base") }
    }
    /// The kernel image the build publishes.
    pub fn kernel(&self) -> PathBuf {
        self.base.join("bin/embox")
    }
    /// Cargo's own output, with the kernel's symbols (for gdb).
    pub fn cargo_kernel(&self) -> PathBuf {
        self.base.join("cargo").join(KERNEL_TARGET).join("release/embox")
    }
    /// Cargo's output without its symbol table (what [`Self::kernel`] gets).
    pub fn stripped_kernel(&self) -> PathBuf {
        self.base.join("cargo").join(KERNEL_TARGET).join("release/embox.stripped")
    }
    /// Names the template the published kernel was built for, so that
    /// `run --no-build` cannot boot a kernel of another template unnoticed.
    pub fn kernel_template(&self) -> PathBuf {
        self.base.join("bin/embox.template")
    }
    pub fn rootfs_gen(&self) -> PathBuf {
        self.base.join("rootfs-gen")
    }
    pub fn initramfs(&self) -> PathBuf {
        self.base.join("rootfs.cpio")
    }
}

/// `/ws/…` for a path inside the workspace.
pub fn container_path(ws: &Workspace, host: &Path) -> Result<String> {
    let rel = host
        .strip_prefix(&ws.root)
        .with_context(|| format!("{} is outside the workspace {}; it is not visible in the container", host.display(), ws.root.display()))?;
    Ok(format!("/ws/{}", rel.to_string_lossy()))
}

/// `embctl build`.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A template under kernel/templates/ (see `embctl templates`).
    pub template: String,
    /// Where LKL comes from (templates with LKL only).
    pub lkl: LklSource,
}

/// `embctl build`.
pub async fn build(ws: &Workspace, opts: &BuildOptions) -> Result<()> {
    let template = template::find(ws, &opts.template)?;
    let engine = Engine::connect().await?;
    let image = crate::image::ensure(&engine, ws).await?;
    build_with(ws, &engine, &image, &template, &opts.lkl).await
}

/// Runs the whole plan for `template` with an engine and image in hand
/// (`embctl run` builds through here too).
pub async fn build_with(ws: &Workspace, engine: &Engine, image: &str, template: &Template, lkl: &LklSource) -> Result<()> {
    let plan = Plan::new(ws, template);
    if template.config.rootfs.packages.is_empty() {
        // The initramfs follows the template being built, like the kernel.
        packages::forget(ws)?;
    }
    tracing::info!("building template {} ({}): {}", template.name, template.config.description, plan.summary());
    let total = plan.steps.len();
    let mut lkl_install = None;
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        tracing::info!("[{n}/{total}] {}", step.title());
        let failed = || format!("build step {n}/{total} ({}) failed", step.title());
        match step {
            Step::Lkl => lkl_install = Some(crate::lkl::build_for_template(ws, engine, image, lkl, template).await.with_context(failed)?),
            Step::Kernel => build_kernel(ws, engine, image, template, lkl_install.as_ref()).await.with_context(failed)?,
            Step::UserPrograms => build_user_programs(ws, engine, image).await.with_context(failed)?,
            Step::Packages => packages::fetch(ws, engine, image, &template.config.rootfs.packages).await.with_context(failed)?,
            Step::Initramfs => pack_initramfs(ws).with_context(failed)?,
        }
    }
    Ok(())
}

/// The steps a template needs, in order.
struct Plan {
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Lkl,
    Kernel,
    UserPrograms,
    Packages,
    Initramfs,
}

impl Step {
    fn title(self) -> &'static str {
        match self {
            Step::Lkl => "LKL (Linux as a library)",
            Step::Kernel => "kernel",
            Step::UserPrograms => "user programs (third-party/lkl)",
            Step::Packages => "Debian packages",
            Step::Initramfs => "initramfs",
        }
    }
}

impl Plan {
    fn new(ws: &Workspace, template: &Template) -> Self {
        let mut steps = Vec::new();
        if template.config.lkl.enabled {
            steps.push(Step::Lkl);
        }
        steps.push(Step::Kernel);
        if user_programs_makefile(ws).is_file() {
            steps.push(Step::UserPrograms);
        }
        if !template.config.rootfs.packages.is_empty() {
            steps.push(Step::Packages);
        }
        steps.push(Step::Initramfs);
        Self { steps }
    }

    fn summary(&self) -> String {
        self.steps.iter().map(|s| s.title()).collect::<Vec<_>>().join(" → ")
    }
}

fn user_programs_makefile(ws: &Workspace) -> PathBuf {
    ws.third_party_dir().join("lkl/Makefile")
}

/// The cargo command line for the kernel of `template`.
fn kernel_cargo_argv(template: &Template) -> Vec<String> {
    // --config: the kernel's codegen flags (no SSE); cargo looks for
    // .cargo/config.toml only from the directory it starts in (the repo root).
    let mut argv: Vec<String> = [
        "cargo", "build", "--release", "--config", "kernel/.cargo/config.toml", "--manifest-path", "kernel/Cargo.toml", "-p", "embox", "--target", KERNEL_TARGET,
    ]
        .map(String::from)
        .to_vec();
    if !template.config.kernel.features.is_empty() {
        argv.push("--features".into());
        argv.push(template.config.kernel.features.join(","));
    }
    argv
}

/// `argv`, then `objcopy --strip-all` of its output `from` into `to` (paths
/// in the container), as one command.
fn strip_after(argv: Vec<String>, from: &str, to: &str) -> Vec<String> {
    let script = format!("\"$@\" && objcopy --strip-all {} {}", shell_join(&[from.to_string()]), shell_join(&[to.to_string()]));
    ["sh".to_string(), "-c".into(), script, "sh".into()].into_iter().chain(argv).collect()
}

async fn build_kernel(ws: &Workspace, engine: &Engine, image: &str, template: &Template, lkl: Option<&crate::lkl::LklInstall>) -> Result<()> {
    let out = Artefacts::new(ws);
    let cargo_out = out.cargo_kernel();
    let before = fingerprint(&cargo_out);
    let stripped = out.stripped_kernel();
    // The booted image leaves out the symbol table (a tenth of the file):
    // nothing reads it at run time, and gdb takes cargo's output.
    let argv = strip_after(
        kernel_cargo_argv(template),
        &container_path(ws, &cargo_out)?,
        &container_path(ws, &stripped)?,
    );
    let mut env = vec![
        format!("EMBOX_TEMPLATE_DIR={}", template.container_dir()),
        format!("CARGO_TARGET_DIR={}", container_path(ws, &out.base.join("cargo"))?),
    ];
    let mut inputs = vec![ws.root.join("kernel")];
    if let Some(lkl) = lkl {
        // kernel/build.rs links $EMBOX_LKL_DIR/lib/lkl.o and compiles against $EMBOX_LKL_DIR/include.
        env.push(format!("EMBOX_LKL_DIR={}", lkl.container));
        inputs.push(lkl.host.clone());
    }
    let outputs = [cargo_out.clone(), stripped.clone(), out.kernel()];
    let ran = run_step_unless_current(ws, engine, image, argv, env, "kernel", &inputs, &outputs).await?;
    let after = fingerprint(&cargo_out);
    if after.is_none() {
        bail!("cargo finished but {} does not exist; does kernel/ have a binary target named `embox`?", cargo_out.display());
    }
    let published = publish(&stripped, &out.kernel())?;
    let marker = out.kernel_template();
    fs::write(&marker, format!("{}\n", template.name)).with_context(|| format!("cannot write {}", marker.display()))?;
    let ran = match ran {
        Some(stamp) => {
            // Recorded only now: the published kernel is an output too.
            stamp.record(&outputs);
            true
        }
        None => false,
    };
    let bytes = fs::read(&published).with_context(|| format!("cannot read {}", published.display()))?;
    let state = match (ran, before == after) {
        (false, _) => "kernel up to date (its inputs are unchanged since the last build; cargo not started)",
        (true, true) => "kernel up to date (nothing recompiled)",
        (true, false) => "kernel rebuilt",
    };
    tracing::info!(
        "{state}: build/base/bin/embox {} bytes ({} KiB), sha256 {}",
        bytes.len(),
        bytes.len().div_ceil(1024),
        hex::encode(Sha256::digest(&bytes))
    );
    Ok(())
}

async fn build_user_programs(ws: &Workspace, engine: &Engine, image: &str) -> Result<()> {
    let out_dir = Artefacts::new(ws).rootfs_gen().join("bin");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let argv = vec!["make".into(), "-C".into(), "third-party/lkl".into(), format!("OUT={}", container_path(ws, &out_dir)?)];
    let (inputs, outputs) = ([ws.third_party_dir().join("lkl")], [out_dir]);
    match run_step_unless_current(ws, engine, image, argv, Vec::new(), "user-programs", &inputs, &outputs).await? {
        Some(stamp) => stamp.record(&outputs),
        None => tracing::info!("user programs up to date (their inputs are unchanged since the last build; make not started)"),
    }
    Ok(())
}

fn pack_initramfs(ws: &Workspace) -> Result<()> {
    let out = Artefacts::new(ws);
    let archive = rootfs::base_archive(ws)?;
    let changed = archive.write_to(&out.initramfs())?;
    let size = fs::metadata(out.initramfs()).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        "build/base/rootfs.cpio: {} entries, {size} bytes{}",
        archive.len(),
        if changed { "" } else { " (unchanged)" }
    );
    Ok(())
}

/// Runs one build command in the image unless its stamp (see `stamp`) shows it
/// already ran on these inputs and left these outputs. Returns `None` when it
/// was skipped, else the stamp to record once the step's outputs are final.
#[allow(clippy::too_many_arguments)]
async fn run_step_unless_current(
    ws: &Workspace,
    engine: &Engine,
    image: &str,
    argv: Vec<String>,
    env: Vec<String>,
    name: &str,
    inputs: &[PathBuf],
    outputs: &[PathBuf],
) -> Result<Option<stamp::Stamp>> {
    let spec = step_spec(ws, image, argv, env);
    let command = format!("{} {:?} {:?} {:?} {:?}", spec.image, spec.cmd, spec.env, spec.binds, spec.user);
    let stamp = stamp::Stamp::new(&Artefacts::new(ws).base.join("stamps"), name, &command, inputs);
    if stamp.is_current(outputs) {
        tracing::debug!("{name}: inputs and outputs as the last successful run left them; not started");
        return Ok(None);
    }
    stamp.clear();
    run_spec(engine, spec).await?;
    Ok(Some(stamp))
}

fn step_spec(ws: &Workspace, image: &str, argv: Vec<String>, env: Vec<String>) -> ContainerSpec {
    let mut spec = crate::image::workspace_spec(ws, image, argv);
    spec.env.extend(env);
    spec
}

/// Runs one build command in the image. Its output is streamed; with -q it is
/// captured instead and shown only when the command fails. A failure names the
/// command and its status.
pub(crate) async fn run_step(ws: &Workspace, engine: &Engine, image: &str, argv: Vec<String>, env: Vec<String>) -> Result<()> {
    run_spec(engine, step_spec(ws, image, argv, env)).await
}

async fn run_spec(engine: &Engine, spec: ContainerSpec) -> Result<()> {
    let line = shell_join(&spec.cmd);
    tracing::info!("$ {line}");
    let cannot_run = || format!("cannot run `{line}` in the build image");
    if tracing::enabled!(tracing::Level::INFO) {
        let code = engine.run(&spec).await.with_context(cannot_run)?;
        if code != 0 {
            bail!("`{line}` exited with status {code}; its messages are above");
        }
    } else {
        let out = engine.run_capture(&spec).await.with_context(cannot_run)?;
        if out.exit_code != 0 {
            bail!("`{line}` exited with status {}:\n{}{}", out.exit_code, out.stdout_str(), out.stderr_str());
        }
    }
    Ok(())
}

/// Size and mtime: cargo leaves a fresh output untouched.
fn fingerprint(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Copies `from` to `to` when the content differs (atomically), so an unchanged
/// kernel keeps its mtime. Returns `to`.
fn publish(from: &Path, to: &Path) -> Result<PathBuf> {
    let new = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    if fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        let dir = to.parent().context("kernel path has no parent")?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // A unique temp name: two builds may publish at the same time.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, &new).with_context(|| format!("cannot write {}", tmp.path().display()))?;
        fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .with_context(|| format!("cannot chmod {}", tmp.path().display()))?;
        tmp.persist(to).with_context(|| format!("cannot write {}", to.display()))?;
    }
    Ok(to.to_path_buf())
}

/// `embctl templates`.
pub fn list_templates(ws: &Workspace) -> Result<()> {
    template::list(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use template::{KernelSection, LklSection, QemuSection, TemplateConfig};

    fn template(features: &[&str], lkl: bool) -> Template {
        Template {
            name: "x86/qemu".into(),
            config: TemplateConfig {
                description: "t".into(),
                kernel: KernelSection { heap_kib: None, timer_hz: None, features: features.iter().map(|s| s.to_string()).collect() },
                qemu: QemuSection::default(),
                lkl: LklSection { enabled: lkl },
                rootfs: Default::default(),
            },
        }
    }

    #[test]
    fn cargo_argv_adds_features_only_when_present() {
        let plain = kernel_cargo_argv(&template(&[], false));
        assert_eq!(shell_join(&plain), "cargo build --release --config kernel/.cargo/config.toml --manifest-path kernel/Cargo.toml -p embox --target i686-unknown-linux-gnu");
        let feat = kernel_cargo_argv(&template(&["lkl", "net"], true));
        assert_eq!(&feat[feat.len() - 2..], ["--features", "lkl,net"]);
    }

    #[test]
    fn plan_orders_lkl_first_and_skips_missing_makefile() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace { root: dir.path().to_path_buf() };
        let plan = Plan::new(&ws, &template(&[], false));
        assert_eq!(plan.steps, [Step::Kernel, Step::Initramfs]);
        fs::create_dir_all(dir.path().join("third-party/lkl")).unwrap();
        fs::write(dir.path().join("third-party/lkl/Makefile"), "all:\n").unwrap();
        let plan = Plan::new(&ws, &template(&[], true));
        assert_eq!(plan.steps, [Step::Lkl, Step::Kernel, Step::UserPrograms, Step::Initramfs]);
        assert!(plan.summary().starts_with("LKL"));
        let mut debian = template(&[], false);
        debian.config.rootfs.packages = vec!["bash".into()];
        assert_eq!(Plan::new(&ws, &debian).steps, [Step::Kernel, Step::UserPrograms, Step::Packages, Step::Initramfs]);
    }

    #[test]
    fn container_paths_are_under_ws() {
        let ws = Workspace { root: PathBuf::from("/home/u/proj") };
        assert_eq!(container_path(&ws, Path::new("/home/u/proj/build/base/cargo")).unwrap(), "/ws/build/base/cargo");
        assert!(container_path(&ws, Path::new("/tmp/x")).is_err());
    }

    #[test]
    fn the_kernel_step_strips_cargos_output_after_building_it() {
        let argv = strip_after(vec!["cargo".into(), "build".into()], "/ws/a b", "/ws/c");
        assert_eq!(argv[..4], ["sh", "-c", "\"$@\" && objcopy --strip-all '/ws/a b' /ws/c", "sh"]);
        assert_eq!(argv[4..], ["cargo", "build"]);
    }

    #[test]
    fn publish_keeps_mtime_when_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a"), dir.path().join("bin/embox"));
        fs::write(&from, b"kernel").unwrap();
        publish(&from, &to).unwrap();
        let first = fingerprint(&to).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        publish(&from, &to).unwrap();
        assert_eq!(fingerprint(&to).unwrap(), first);
        assert_eq!(fs::read(&to).unwrap(), b"kernel");
    }
}
