//! Shared helpers for embctl's integration tests: they run the real `embctl`
//! binary against the real Docker engine, and print everything on failure.
#![allow(dead_code)]

pub mod guest;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The checkout this test binary was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("embctl/ has a parent").to_path_buf()
}

/// `embctl` with the workspace set explicitly, so tests do not depend on the cwd.
pub fn embctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_embctl"));
    cmd.arg("--workspace").arg(workspace_root());
    cmd
}

/// Runs `cmd`, and returns its output; the whole output is echoed so a failing
/// assertion later shows what the command said.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    eprintln!("$ {cmd:?}\n--- exit: {:?}", out.status.code());
    eprintln!("--- stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("--- stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs `cmd` and panics with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(out.status.success(), "command failed: {cmd:?}");
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Debian's i386 `busybox-static`, fetched with `apt-get download` inside the
/// build image (package lists in a directory of ours: no root, nothing
/// touched in the image) into `build/<dir>/busybox`. Returns its host path.
pub fn debian_busybox(dir: &str) -> PathBuf {
    // Tests of one binary run in parallel, and two apt-get runs in the same
    // lists directory (no locking there) corrupt it: one fetch at a time.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        r#"set -e
out=/ws/build/{dir}
apt="-o Dir::State::Lists=$out/apt/lists -o Dir::Cache=$out/apt/cache -o Debug::NoLocking=1"
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/deb"
[ -x "$out/busybox" ] && exit 0
apt-get $apt update -qq
cd "$out/deb"
apt-get $apt download busybox-static
dpkg-deb -x busybox-static_*.deb x
cp x/usr/bin/busybox "$out/busybox"
"#
    );
    run_ok(embctl().args(["shell", "--", "sh", "-c", &script]));
    workspace_root().join("build").join(dir).join("busybox")
}

/// The LKL tree the LKL tests build x86/lkl-qemu from (`EMBCTL_LKL_TREE`),
/// or `None` after saying why the calling test is skipped.
pub fn lkl_tree(test: &str) -> Option<PathBuf> {
    match std::env::var_os("EMBCTL_LKL_TREE") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => {
            // Straight to stderr, past the test harness's capture, so the
            // skip shows in every run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: EMBCTL_LKL_TREE is not set (needs a real LKL tree to build x86/lkl-qemu; CI has none)"
            );
            None
        }
    }
}
