//! Command-line definition (clap derive). Nothing here does work: each
//! subcommand's arguments are handed to `commands::dispatch`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "embctl", version = env!("EMBCTL_VERSION"), about = "Build and run the Embox-style Rust kernel and its LKL toolchain")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// More log output (-v debug, -vv trace). EMBCTL_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Project root (default: the nearest parent directory holding docker/Dockerfile and kernel/).
    #[arg(long, global = true, env = "EMBCTL_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the kernel (and LKL when the template enables it) inside the build image.
    Build(BuildArgs),
    /// Boot the kernel in QEMU inside a container; interactive, or scripted with --cmd.
    #[command(after_help = crate::qemu::RUN_EXIT_STATUSES)]
    Run(RunArgs),
    /// Open a shell (or run a command) in the build image with the workspace at /ws.
    Shell(ShellArgs),
    /// Manage the emdocker-lkl build image.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Check the host: engine, disk, KVM, /dev/net/tun, privileges, debootstrap, image.
    Doctor,
    /// List the kernel configuration templates.
    Templates,
    /// LKL sources: fetch (download, verify, extract, patch) or pin a new archive digest.
    #[command(subcommand)]
    Lkl(LklCommand),
    /// Show local changes in the LKL build tree against the clean patched tree.
    LklDiff(LklDiffArgs),
    /// Remove LKL's out-of-tree build outputs (--all: also the extracted pinned tree).
    CleanLkl(CleanLklArgs),
    /// Print the shell completion script (see the README for where to install it).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page embctl(1), or write one page per subcommand into --dir.
    Man {
        /// Write embctl.1, embctl-run.1, ... into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}


#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Configuration template under kernel/templates/ (see `embctl templates`).
    #[arg(long, short = 't', default_value = "x86/qemu")]
    pub template: String,
    #[command(flatten)]
    pub lkl_source: LklSourceArgs,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Configuration template under kernel/templates/ (see `embctl templates`).
    #[arg(long, short = 't', default_value = "x86/qemu")]
    pub template: String,
    /// Never use KVM, even when the probe says it works.
    #[arg(long)]
    pub no_kvm: bool,
    /// Start halted and wait for gdb on port 1234 (QEMU -s -S). Prints the one-liner
    /// that attaches gdb from the build image with the kernel's symbols:
    /// `embctl shell -- gdb -q build/base/cargo/i686-unknown-linux-gnu/release/embox -ex 'target remote ADDR:1234'`.
    #[arg(long)]
    pub gdb: bool,
    /// Guest memory in MiB (default: the template's [qemu] memory_mib); at least the
    /// kernel heap + 5 MiB + the initramfs, at most 2047 (qemu-system-i386's limit).
    #[arg(short = 'm', long = "memory", value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..))]
    pub memory_mib: Option<u32>,
    /// Scripted mode: type this command at the `embox>` prompt (repeatable), then `poweroff`.
    #[arg(long = "cmd", value_name = "CMD")]
    pub commands: Vec<String>,
    /// Scripted mode: after each command read its exit status (`echo $?`); the first
    /// non-zero one powers off and fails the run.
    #[arg(long, requires = "commands")]
    pub check_status: bool,
    /// Scripted mode: seconds allowed for the first prompt and for each command.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Add a host file (or directory) to this run's initramfs; default guest path
    /// /bin/<basename> for a file, /<basename> for a directory (repeatable).
    #[arg(long = "add", value_name = "HOSTPATH[:GUESTPATH]")]
    pub add: Vec<String>,
    /// Do not build first; boot the kernel already under build/.
    #[arg(long)]
    pub no_build: bool,
    /// Give the guest a virtio-net NIC: a TAP in the QEMU container with the host
    /// side at 10.0.2.10 and the guest at 10.0.2.16 (user-mode networking where a
    /// TAP is not allowed; the log says which).
    #[arg(long)]
    pub net: bool,
    /// Forward 127.0.0.1:HOSTPORT on the host to the guest's GUESTPORT (TCP;
    /// repeatable; implies --net), e.g. `--publish 2323:23` for telnet.
    #[arg(long = "publish", short = 'p', value_name = "HOSTPORT:GUESTPORT")]
    pub publish: Vec<String>,
    /// Benchmarks: boot this Linux kernel and initramfs (paths in the workspace)
    /// instead of ours, with the same QEMU, NIC and network, console on ttyS0.
    #[arg(long, hide = true, value_name = "VMLINUZ:INITRD", conflicts_with_all = ["commands", "add", "gdb"])]
    pub linux_guest: Option<String>,
    /// Benchmarks: one more argument for QEMU, after embctl's own (repeatable),
    /// e.g. `--qemu-arg=-plugin --qemu-arg=/ws/build/bench/insn-marks.so,out=...`.
    #[arg(long = "qemu-arg", hide = true, value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// Print the QEMU command line a scripted run starts (paths as the build image
    /// sees them: the workspace is /ws), then exit without booting; builds first
    /// unless --no-build. For running QEMU by hand (e.g. `embctl shell -- LINE -d int`)
    /// and for scripts/lib/qemu-prompt.sh. --net's NIC is added by a setup script
    /// in the container, not part of this line.
    #[arg(long, conflicts_with_all = ["commands", "add", "net", "publish"])]
    pub print_qemu: bool,
    #[command(flatten)]
    pub privileges: PrivilegeArgs,
    /// Where the build gets LKL from (templates with LKL only).
    #[command(flatten)]
    pub lkl_source: LklSourceArgs,
}

#[derive(Debug, Args, Clone)]
pub struct PrivilegeArgs {
    /// How the QEMU container gets its privileges: `auto` uses --privileged when the
    /// engine grants it, else NET_ADMIN plus /dev/kvm and /dev/net/tun.
    #[arg(long, value_enum, default_value_t = PrivilegeArg::Auto)]
    pub privileges: PrivilegeArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrivilegeArg {
    Auto,
    Privileged,
    Devices,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Command to run instead of an interactive shell (no TTY; its exit status is ours).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the image if no image with the current content hash exists.
    Build {
        /// Rebuild even when an image with the current hash exists.
        #[arg(long)]
        force: bool,
    },
    /// List this tool's images.
    Ls,
    /// Remove this tool's images (all, or the given tags).
    Rm { tags: Vec<String> },
    /// Remove this tool's images whose hash no longer matches docker/.
    Prune,
}

#[derive(Debug, Subcommand)]
pub enum LklCommand {
    /// Download (or take --lkl-zip), verify, extract and patch the pinned LKL tree.
    Fetch(LklSourceArgs),
    /// Download the pinned archive, check its MD5 and write its SHA-256 into lkl.toml.
    Pin(LklSourceArgs),
    /// Fetch if needed, then build LKL out of tree in the build image and install
    /// lib/lkl.o and include/ under build/extbld/third_party/lkl/out/<tree>/install
    /// (what `embctl build` does for LKL templates).
    Build(LklBuildArgs),
}

#[derive(Debug, Args, Clone)]
pub struct LklBuildArgs {
    /// Template whose LKL config fragment (kernel/templates/<name>/lkl.config) is merged over LKL's defconfig.
    #[arg(long, short = 't', default_value = "x86/lkl-qemu")]
    pub template: String,
    #[command(flatten)]
    pub lkl_source: LklSourceArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct LklSourceArgs {
    /// Use this local LKL zip instead of downloading.
    #[arg(long, env = "EMBCTL_LKL_ZIP", value_name = "PATH")]
    pub lkl_zip: Option<PathBuf>,
    /// Download from this URL instead of the pinned one (a mirror).
    #[arg(long, env = "EMBCTL_LKL_MIRROR", value_name = "URL")]
    pub lkl_mirror: Option<String>,
    #[command(flatten)]
    pub tree: LklTreeArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct LklTreeArgs {
    /// Use this local LKL source tree (unpinned) instead of the pinned archive. It is
    /// only read: the build happens out of tree under build/extbld/third_party/lkl/out/.
    #[arg(long, env = "EMBCTL_LKL_TREE", value_name = "DIR")]
    pub lkl_tree: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LklDiffArgs {
    /// Print a diffstat instead of the diff.
    #[arg(long)]
    pub stat: bool,
    /// Save the local changes as patches/lkl/NAME.patch and append it to the series.
    #[arg(long, value_name = "NAME.patch")]
    pub save: Option<String>,
    /// Show the changes of this local LKL tree (a git work tree) against its HEAD instead.
    #[command(flatten)]
    pub tree: LklTreeArgs,
}

#[derive(Debug, Args)]
pub struct CleanLklArgs {
    /// Also remove the extracted LKL tree (refused while it has local changes; see --force).
    #[arg(long)]
    pub all: bool,
    /// With --all: remove the tree even when it has local changes (they are lost).
    #[arg(long, requires = "all")]
    pub force: bool,
}
