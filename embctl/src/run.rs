//! `embctl run`: boot the kernel in QEMU inside a container of the build
//! image — interactively (the serial console on the user's terminal), or
//! scripted with `--cmd` (see `console`). The QEMU command line comes from
//! `qemu`, the exit status is decoded there too; this module only wires the
//! container's I/O.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::build::rootfs::{self, Extra};
use crate::build::{self, container_path, template, Artefacts, KERNEL_TARGET};
use crate::console::{Script, Verdict};
use crate::engine::{AttachedContainer, ContainerSpec, Engine, Privileges};
use crate::image::PrivilegeMode;
use crate::lkl::LklSource;
use crate::qemu::{Accel, Firmware, QemuExit, QemuRun, SerialConsole, GDB_PORT};
use crate::workspace::Workspace;

/// The role label of QEMU containers (orphans of killed runs are reaped by it).
pub const QEMU_ROLE: &str = "qemu";

/// Console lines shown when a scripted run fails.
const TAIL_LINES: usize = 20;

/// `embctl run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A template under kernel/templates/.
    pub template: String,
    /// Never KVM, even when the probe says it works.
    pub no_kvm: bool,
    /// Start halted, waiting for gdb.
    pub gdb: bool,
    /// Guest memory; the template's (grown for a large initramfs) when `None`.
    pub memory_mib: Option<u32>,
    /// Scripted mode: commands typed at the `embox>` prompt, then `poweroff`.
    pub commands: Vec<String>,
    /// Scripted mode: the first command with a non-zero status fails the run.
    pub check_status: bool,
    /// Scripted mode: seconds allowed for the first prompt and for each command.
    pub timeout: u64,
    /// `HOSTPATH[:GUESTPATH]` added to this run's initramfs.
    pub add: Vec<String>,
    /// Boot what is already built.
    pub no_build: bool,
    /// A virtio-net NIC for the guest.
    pub net: bool,
    /// `HOSTPORT:GUESTPORT` forwarded to the guest (implies `net`).
    pub publish: Vec<String>,
    /// Benchmarks: `VMLINUZ:INITRD` of a Linux guest booted instead of ours.
    pub linux_guest: Option<String>,
    /// Benchmarks: arguments appended to QEMU's (`--qemu-arg`).
    pub qemu_args: Vec<String>,
    /// Print the QEMU command line instead of starting QEMU.
    pub print_qemu: bool,
    pub privileges: PrivilegeMode,
    /// Where the build gets LKL from (templates with LKL only).
    pub lkl: LklSource,
}

pub async fn run(ws: &Workspace, opts: &RunOptions) -> Result<ExitCode> {
    let template = template::find(ws, &opts.template)?;
    let extras = opts.add.iter().map(|spec| Extra::parse(spec)).collect::<Result<Vec<_>>>()?;
    let network = network(opts)?;
    let linux_guest = opts.linux_guest.as_deref().map(|spec| LinuxGuest::parse(ws, spec)).transpose()?;
    // Early, before a build: a flag or template that cannot boot fails now.
    if let Some(mib) = opts.memory_mib {
        crate::qemu::check_memory(mib, template.config.heap_kib(), 0, "-m").map_err(anyhow::Error::msg)?;
    }
    let ours = linux_guest.is_none();
    if opts.no_build && ours {
        require_artefacts(ws, &template.name)?;
    }
    let engine = Engine::connect().await?;
    reap_orphaned_qemu(&engine).await;
    let image = crate::image::ensure(&engine, ws).await?;
    if !opts.no_build && ours {
        build::build_with(ws, &engine, &image, &template, &opts.lkl).await?;
    }

    let accel = choose_accel(&engine, &image, opts.no_kvm).await;
    let privileges = crate::image::qemu_privileges(&engine, opts.privileges).await?;

    let scripted = !opts.commands.is_empty();
    let interactive = !scripted && !opts.print_qemu && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let console = if interactive { SerialConsole::Interactive } else { SerialConsole::Scripted };
    let mut initramfs = None;
    let qemu = match linux_guest {
        Some(guest) => QemuRun {
            kernel: guest.kernel,
            initrd: guest.initrd,
            memory_mib: opts.memory_mib.unwrap_or(LinuxGuest::MEMORY_MIB),
            accel,
            console,
            gdb: false,
            append: Some(LinuxGuest::APPEND.into()),
            firmware: Firmware::SeaBios,
            extra: opts.qemu_args.clone(),
        },
        None => {
            let out = Artefacts::new(ws);
            let temp = match extras.is_empty() {
                true => TempInitramfs::Base(out.initramfs()),
                false => TempInitramfs::write(ws, &extras)?,
            };
            let initramfs_bytes = std::fs::metadata(temp.path()).map(|m| m.len()).unwrap_or(0);
            let memory_mib = opts.memory_mib.unwrap_or_else(|| default_memory(template.config.qemu.memory_mib, template.config.heap_kib(), initramfs_bytes));
            let source = if opts.memory_mib.is_some() { "-m" } else { "the template's [qemu] memory_mib" };
            crate::qemu::check_memory(memory_mib, template.config.heap_kib(), initramfs_bytes, source).map_err(anyhow::Error::msg)?;
            let qemu = QemuRun {
                kernel: container_path(ws, &out.kernel())?,
                initrd: container_path(ws, temp.path())?,
                memory_mib,
                accel,
                console,
                gdb: opts.gdb,
                append: None,
                firmware: Firmware::Qboot,
                extra: opts.qemu_args.clone(),
            };
            initramfs = Some(temp);
            qemu
        }
    };
    if opts.print_qemu {
        crate::ui::print_line(qemu.command_line());
        return Ok(ExitCode::SUCCESS);
    }
    tracing::info!("$ {}", qemu.command_line());
    let mut spec = qemu_container(ws, &image, &qemu, privileges, interactive);
    if let Some(publish) = &network {
        crate::net::apply(&mut spec, publish);
    }

    let container = engine.start_attached(&spec).await?;
    tracing::debug!("QEMU runs in container {}", container.name());
    if opts.gdb {
        announce_gdb(&engine, &container, ws).await;
    }
    let exit = if scripted {
        run_scripted(container, opts).await?
    } else if interactive {
        run_interactive(container).await?
    } else {
        run_piped(container).await?
    };
    drop(initramfs);
    Ok(exit)
}

/// `--linux-guest VMLINUZ:INITRD` (hidden; scripts/bench-net.sh): a Linux
/// kernel booted in the same QEMU container as ours, so that its figures
/// come from the same QEMU, accelerator, NIC and network setup.
struct LinuxGuest {
    /// Paths as QEMU sees them.
    kernel: String,
    initrd: String,
}

impl LinuxGuest {
    /// Linux's console is the serial port; a panic ends the run.
    const APPEND: &'static str = "console=ttyS0 quiet panic=-1";
    const MEMORY_MIB: u32 = 256;

    fn parse(ws: &Workspace, spec: &str) -> Result<LinuxGuest> {
        let (kernel, initrd) = spec
            .split_once(':')
            .with_context(|| format!("--linux-guest {spec:?}: expected VMLINUZ:INITRD"))?;
        let path = |p: &str| -> Result<String> {
            let p = std::path::absolute(p).with_context(|| format!("--linux-guest: bad path {p:?}"))?;
            if !p.is_file() {
                bail!("--linux-guest: {} is not a file", p.display());
            }
            container_path(ws, &p)
        };
        Ok(LinuxGuest { kernel: path(kernel)?, initrd: path(initrd)? })
    }
}

/// `--net`/`--publish`: the ports to publish when the guest gets a network.
fn network(opts: &RunOptions) -> Result<Option<Vec<crate::net::Publish>>> {
    if !opts.net && opts.publish.is_empty() {
        return Ok(None);
    }
    let publish = opts.publish.iter().map(|p| crate::net::Publish::parse(p)).collect::<Result<Vec<_>>>()?;
    crate::net::check_publishes(&publish)?;
    Ok(Some(publish))
}

/// QEMU containers of runs whose embctl was killed (SIGKILL) run forever otherwise.
pub async fn reap_orphaned_qemu(engine: &Engine) {
    match engine.reap_orphans(QEMU_ROLE).await {
        Ok(reaped) if !reaped.is_empty() => {
            tracing::warn!("removed {} QEMU container(s) left running by a killed embctl", reaped.len())
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("cannot look for QEMU containers left by a killed embctl: {err:#}"),
    }
}

/// `--no-build` needs a finished build.
fn require_artefacts(ws: &Workspace, template: &str) -> Result<()> {
    let out = Artefacts::new(ws);
    for path in [out.kernel(), out.initramfs()] {
        if !path.is_file() {
            bail!("--no-build: {} does not exist; run `embctl build -t {template}` first (or drop --no-build)", path.display());
        }
    }
    // A kernel published before the marker existed has none: nothing to compare.
    if let Ok(built) = std::fs::read_to_string(out.kernel_template()) {
        let built = built.trim();
        if built != template {
            bail!(
                "--no-build: {} was built for template {built}, not {template}; run `embctl build -t {template}` first (or drop --no-build)",
                out.kernel().display()
            );
        }
    }
    Ok(())
}

/// KVM only when asked for and the probe shows it really works; TCG otherwise.
async fn choose_accel(engine: &Engine, image: &str, no_kvm: bool) -> Accel {
    if no_kvm {
        tracing::info!("accelerator: TCG (--no-kvm)");
        return Accel::Tcg;
    }
    // Cached per host kernel and image by the probe itself; `embctl doctor` probes afresh.
    match crate::image::kvm_usable(engine, image).await {
        Ok(()) => {
            tracing::info!("accelerator: KVM (the probe guest ran in ring 3 and came back)");
            Accel::Kvm
        }
        Err(why) => {
            tracing::info!("accelerator: TCG (KVM is not usable: {why:#})");
            Accel::Tcg
        }
    }
}

/// The QEMU container: the workspace read-only (QEMU writes nothing there, so
/// running as root leaves no root-owned file and can open /dev/kvm).
fn qemu_container(ws: &Workspace, image: &str, qemu: &QemuRun, privileges: Privileges, interactive: bool) -> ContainerSpec {
    let mut spec = ContainerSpec {
        image: image.to_string(),
        cmd: qemu.argv(),
        workdir: Some("/ws".into()),
        binds: vec![format!("{}:/ws:ro", ws.root.display())],
        tty: interactive,
        open_stdin: true,
        privileges,
        init: true,
        ..Default::default()
    };
    // Docker's default detach keys (ctrl-p ctrl-q) would swallow ctrl-p on its way
    // to the guest; this sequence is practically never typed by accident.
    spec.detach_keys = Some("ctrl-^,ctrl-^".into());
    spec.labels.insert(crate::engine::ROLE_LABEL.into(), QEMU_ROLE.into());
    spec
}

/// Room the guest keeps for programs beside a large initramfs (each
/// dynamically linked program copies its libraries into its own pages).
const PROGRAM_ROOM_MIB: u32 = 64;

/// The guest memory without `-m`: the template's, grown when the initramfs
/// (Debian packages, large `--add` files) leaves programs less than
/// [`PROGRAM_ROOM_MIB`].
fn default_memory(template_mib: u32, heap_kib: u32, initramfs_bytes: u64) -> u32 {
    let roomy = crate::qemu::min_memory_mib(heap_kib, initramfs_bytes) + PROGRAM_ROOM_MIB;
    if template_mib >= roomy {
        return template_mib;
    }
    let grown = roomy.min(crate::qemu::MAX_MEMORY_MIB);
    tracing::info!(
        "guest memory {grown} MiB: the template's {template_mib} MiB leaves too little beside a {} MiB initramfs (-m overrides)",
        initramfs_bytes.div_ceil(1 << 20)
    );
    grown
}

/// A per-run initramfs (base + `--add` files), removed when the run ends,
/// also when SIGINT, SIGTERM or SIGHUP ends embctl (the guard).
enum TempInitramfs {
    Base(PathBuf),
    Run { path: tempfile::TempPath, _on_interrupt: crate::interrupt::TreeGuard },
}

impl TempInitramfs {
    fn write(ws: &Workspace, extras: &[Extra]) -> Result<Self> {
        let dir = Artefacts::new(ws).base.join("run");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        remove_stale(&dir);
        let archive = rootfs::run_archive(ws, extras)?;
        let bytes = archive.to_bytes()?;
        let mut file = tempfile::Builder::new()
            .prefix("rootfs-")
            .suffix(".cpio")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        std::io::Write::write_all(&mut file, &bytes).with_context(|| format!("cannot write {}", file.path().display()))?;
        // The container reads it through a bind mount: make it world-readable.
        std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .with_context(|| format!("cannot chmod {}", file.path().display()))?;
        for extra in extras {
            tracing::info!("added {} as {}", extra.host.display(), extra.guest);
        }
        let path = file.into_temp_path();
        tracing::debug!("this run's initramfs: {}", path.display());
        let guard = crate::interrupt::remove_tree_on_interrupt(&path, None);
        Ok(TempInitramfs::Run { path, _on_interrupt: guard })
    }

    fn path(&self) -> &std::path::Path {
        match self {
            TempInitramfs::Base(p) => p,
            TempInitramfs::Run { path, .. } => path,
        }
    }
}

/// Per-run archives left by runs that were killed (a signal ends embctl without
/// unwinding); an hour-old one belongs to no live run.
fn remove_stale(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
            .unwrap_or(false);
        if old && name.to_string_lossy().starts_with("rootfs-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Scripted mode: wait for the prompt, type each command, power off.
async fn run_scripted(mut container: AttachedContainer, opts: &RunOptions) -> Result<ExitCode> {
    let timeout = Duration::from_secs(opts.timeout);
    let (mut input, mut output) = container.take_io();
    let mut script = Script::new(opts.commands.clone());
    if opts.check_status {
        script = script.checking_status();
    }
    let mut stdout = tokio::io::stdout();
    // `--timeout 18446744073709551615` means "no limit", not an overflow panic.
    let deadline_after = |timeout| {
        let now = tokio::time::Instant::now();
        now.checked_add(timeout).unwrap_or(now + Duration::from_secs(100 * 365 * 86400))
    };
    let mut deadline = deadline_after(timeout);
    let exit = loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(chunk) => {
                    let chunk = chunk?;
                    stdout.write_all(&chunk).await.context("cannot write the console output")?;
                    stdout.flush().await.context("cannot write the console output")?;
                    if let Some(line) = script.feed(&chunk) {
                        input.write_all(line.as_bytes()).await.context("cannot type into the QEMU console")?;
                        input.flush().await.context("cannot type into the QEMU console")?;
                        deadline = deadline_after(timeout);
                    }
                }
                None => break Some(QemuExit::decode(container.wait().await?)),
            },
            _ = tokio::time::sleep_until(deadline) => break None,
        }
    };
    container.remove().await?;
    crate::ui::print_line("");
    match script.verdict(exit, opts.timeout) {
        Verdict::Passed => {
            tracing::info!("{} command(s) finished; the kernel powered off", opts.commands.len());
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Failed(why) => {
            crate::ui::note_line(format_args!("error: {why}"));
            crate::ui::note_line(format_args!("last console lines:\n{}", indent(&script.tail(TAIL_LINES))));
            Ok(ExitCode::from(exit.map(|e| e.embctl_exit_code()).filter(|c| *c != 0).unwrap_or(1)))
        }
    }
}

/// Interactive mode: the user's terminal in raw mode is the serial console;
/// ctrl-a x quits (QEMU's mon:stdio), ctrl-a c reaches the monitor.
async fn run_interactive(mut container: AttachedContainer) -> Result<ExitCode> {
    crate::ui::note_line(format_args!("QEMU console: ctrl-a x quits, ctrl-a c toggles the QEMU monitor, ctrl-a h lists the keys"));
    let (input, output) = container.take_io();
    let raw = crate::ui::RawTerminal::enable()?;
    if let Some((rows, cols)) = crate::ui::terminal_size() {
        let _ = container.resize(rows, cols).await;
    }
    let exit = pump(&container, input, output, true).await;
    drop(raw);
    let code = exit?;
    container.remove().await?;
    Ok(finish(code))
}

/// No terminal and no --cmd: stdin and stdout are pipes, passed through.
async fn run_piped(mut container: AttachedContainer) -> Result<ExitCode> {
    let (input, output) = container.take_io();
    let code = pump(&container, input, output, false).await?;
    container.remove().await?;
    Ok(finish(code))
}

/// Copies our stdin to the container and its output to our stdout until QEMU
/// exits; forwards terminal resizes when `tty`. Returns QEMU's exit status.
async fn pump<I, O>(container: &AttachedContainer, mut input: I, mut output: O, tty: bool) -> Result<i64>
where
    I: tokio::io::AsyncWrite + Unpin + Send + 'static,
    O: futures_util::Stream<Item = Result<bytes::Bytes>> + Unpin,
{
    let mut keys = crate::ui::stdin_chunks();
    let stdin_task = tokio::spawn(async move {
        while let Some(bytes) = keys.recv().await {
            if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                break;
            }
        }
    });
    let mut winch = tty
        .then(|| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok())
        .flatten();
    let mut stdout = tokio::io::stdout();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(chunk) => {
                    stdout.write_all(&chunk?).await.context("cannot write the console output")?;
                    stdout.flush().await.context("cannot write the console output")?;
                }
                None => break,
            },
            Some(()) = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                if let Some((rows, cols)) = crate::ui::terminal_size() {
                    let _ = container.resize(rows, cols).await;
                }
            }
        }
    }
    stdin_task.abort();
    // The output ends when QEMU exits, or when the engine detached us (the
    // detach keys below); a QEMU still running then is stopped, not waited for.
    match tokio::time::timeout(Duration::from_secs(5), container.wait()).await {
        Ok(status) => status,
        Err(_) => bail!("the console was detached while QEMU kept running; QEMU is stopped and its container removed"),
    }
}

/// Reports QEMU's exit and turns it into ours.
fn finish(status: i64) -> ExitCode {
    let exit = QemuExit::decode(status);
    if exit.is_success() {
        tracing::info!("{exit}");
    } else {
        crate::ui::note_line(format_args!("error: {exit}"));
    }
    ExitCode::from(exit.embctl_exit_code())
}

/// With --gdb: where the stub listens and the one-liner that attaches to it.
async fn announce_gdb(engine: &Engine, container: &AttachedContainer, ws: &Workspace) {
    let symbols = container_path(ws, &Artefacts::new(ws).cargo_kernel())
        .map(|p| p.trim_start_matches("/ws/").to_string())
        .unwrap_or_else(|_| format!("build/base/cargo/{KERNEL_TARGET}/release/embox"));
    let ip = engine.container_ip(container.name()).await;
    let address = match &ip {
        Some(ip) => format!("{ip}:{GDB_PORT}"),
        None => format!("QEMU_CONTAINER_IP:{GDB_PORT}"),
    };
    crate::ui::note_line(format_args!("QEMU is halted, waiting for gdb on {address} (container {}). Attach with:", container.name()));
    crate::ui::note_line(format_args!("  embctl shell -- gdb -q {symbols} -ex 'target remote {address}'"));
    crate::ui::note_line(format_args!("(or from the host: gdb {symbols} -ex 'target remote {address}')"));
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod memory_tests {
    use super::default_memory;

    #[test]
    fn default_memory_grows_only_for_a_large_initramfs() {
        assert_eq!(default_memory(128, 8192, 10 << 10), 128);
        let grown = default_memory(128, 8192, 60 << 20);
        assert!(grown > 128 && grown >= crate::qemu::min_memory_mib(8192, 60 << 20) + 64, "{grown}");
        assert_eq!(default_memory(512, 8192, 60 << 20), 512, "a roomy template stays");
    }
}
