//! `[rootfs] packages` in a template: the `x86/qemu-debian` template's
//! Debian i386 packages (bash, coreutils) are fetched with apt in the build
//! image, unpacked with their library dependencies into the initramfs, their
//! versions recorded in `build/base/packages/packages.lock`, and Debian's own
//! dynamically linked programs then run under `load_app` by their bare names.
//!
//! Needs the Docker engine, the build image and Debian's package registry.
//! It builds another template than the other test binaries, so it ends by
//! building the default template again.

mod common;

use common::{embctl, run_ok, stdout, workspace_root};

const TEMPLATE: &str = "x86/qemu-debian";

#[test]
fn template_packages_are_fetched_locked_and_run() {
    let build = run_ok(embctl().args(["build", "-t", TEMPLATE]));
    let log = format!("{}{}", stdout(&build), common::stderr(&build));
    let summary = log.lines().find(|l| l.contains("Debian packages: 2 requested")).unwrap_or_else(|| panic!("no package summary:\n{log}"));
    assert!(summary.contains("MiB unpacked") && summary.contains("packages.lock"), "{summary}");

    let lock = std::fs::read_to_string(workspace_root().join("build/base/packages/packages.lock")).unwrap();
    for package in ["bash", "coreutils", "libc6"] {
        assert!(lock.lines().any(|l| l.starts_with(&format!("{package} "))), "{package} not in the lock file:\n{lock}");
    }
    // A second build with the same list fetches nothing.
    let again = run_ok(embctl().args(["build", "-t", TEMPLATE]));
    assert!(format!("{}{}", stdout(&again), common::stderr(&again)).contains("Debian packages up to date"));

    let out = run_ok(embctl().args(["run", "-t", TEMPLATE, "--no-build", "--no-kvm", "--timeout", "120"]).args([
        "--cmd",
        "load_app bash -c 'echo $((6 * 7)) from bash; for w in b a; do echo $w; done | sort'",
        "--cmd",
        "echo status $?",
        "--cmd",
        "load_app seq 3",
        "--cmd",
        "load_app /usr/bin/wc -l /etc/debian_version",
    ]));
    // Without the kernel's log lines (`[    1.234] ...`), which may come between.
    let text: String = stdout(&out).replace('\r', "").split_inclusive('\n').filter(|l| !l.starts_with("[ ")).collect();
    for expected in ["42 from bash\na\nb\n", "status 0\n", "1\n2\n3\n", "1 /etc/debian_version\n"] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(!text.contains("cannot run"), "{text}");

    // Back to the default template: its initramfs has no packages.
    run_ok(embctl().arg("build"));
    assert!(!workspace_root().join("build/base/packages/root").exists());
}
