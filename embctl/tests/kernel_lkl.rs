//! LKL inside the kernel, booted for real in QEMU (TCG) through `embctl run`.
//!
//! - The host operations LKL runs on are tested in every build: the
//!   `lklhosttest` shell command drives threads, semaphores, recursive
//!   mutexes, TLS with destructors, one-shot timers, memory and jump buffers
//!   through the same C entry points LKL's table points at.
//! - Booting a real LKL needs an LKL tree (CI has none): those tests run only
//!   when `EMBCTL_LKL_TREE` names one, and otherwise print one `SKIPPED:` line
//!   and return (a skip is never counted as a pass by the README's figures).

mod common;

use std::process::Output;
use std::sync::Once;

use common::{embctl, run, run_ok, stdout};

fn lines(out: &Output) -> Vec<String> {
    stdout(out).replace('\r', "").lines().map(str::to_owned).collect()
}

fn built_default() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        run_ok(embctl().arg("build"));
    });
}

#[test]
fn host_operations_self_test_passes_in_qemu() {
    built_default();
    let out = run(embctl().args([
        "run", "--no-build", "--no-kvm", "--timeout", "120", "--check-status", "--cmd", "lklhosttest", "--cmd", "ps",
    ]));
    let text = stdout(&out);
    assert!(out.status.success(), "lklhosttest failed:\n{text}\n{}", common::stderr(&out));
    let all = lines(&out);
    for area in ["threads", "semaphores", "mutexes", "tls", "timers", "timer lateness", "memory", "jmp_buf", "time"] {
        let want = format!("lklhosttest: {area}: ok");
        assert!(all.iter().any(|l| l.trim_end() == want), "missing `{want}`:\n{text}");
    }
    assert!(all.iter().any(|l| l.trim_end() == "lklhosttest: all 9 areas passed"), "{text}");
    // The lateness of a 1 ms one-shot is printed as a figure.
    assert!(all.iter().any(|l| l.starts_with("lklhosttest: timer lateness: a 1 ms one-shot fired ")), "no timer lateness figure:\n{text}");
    // Threads the test created were joined or reaped: none is left over.
    let ps: Vec<&String> = all.iter().skip_while(|l| !l.contains("PID STATE")).collect();
    assert!(!ps.iter().any(|l| l.ends_with(" lkl")), "host threads left behind after the test:\n{text}");
}

#[test]
#[cfg_attr(not(lkl_tree), ignore = "needs a real LKL tree: set EMBCTL_LKL_TREE=DIR when building the tests (CI has none)")]
fn lkl_boots_inside_the_kernel_and_the_shell_answers() {
    let Some(tree) = common::lkl_tree("lkl_boots_inside_the_kernel_and_the_shell_answers") else { return };
    let tree = tree.display().to_string();
    run_ok(embctl().args(["build", "-t", "x86/lkl-qemu", "--lkl-tree", &tree]));
    let out = run(embctl().args([
        "run", "-t", "x86/lkl-qemu", "--lkl-tree", &tree, "--no-build", "--no-kvm", "--timeout", "180", "--check-status",
        "--cmd", "dmesg", "--cmd", "echo still-here", "--cmd", "ps", "--cmd", "lklhosttest",
        "--cmd", "lklstat", "--cmd", "sleep 2", "--cmd", "lklstat",
    ]));
    let text = stdout(&out);
    assert!(out.status.success(), "run failed:\n{text}\n{}", common::stderr(&out));
    let all = lines(&out);
    // LKL's own lines keep their printk time when its config has PRINTK_TIME:
    // `lkl: [    0.000000] Linux version 6.0.0 ...`.
    assert!(all.iter().any(|l| l.contains("lkl: ") && l.contains("Linux version ")), "no LKL banner in dmesg:\n{text}");
    assert!(all.iter().any(|l| l.contains("lkl: booted in ")), "no LKL boot time:\n{text}");
    // No probe fails at boot (patches/lkl-tree/lkl-pci-no-ops.patch: LKL's
    // PCI driver with no host PCI device used to log "failed with error -1").
    assert!(!all.iter().any(|l| l.contains("lkl: ") && l.contains("probe of")), "a probe failed in LKL's boot:\n{text}");
    assert!(all.iter().any(|l| l.contains("lkl: root file system: ") && l.contains("copied")), "initramfs not copied:\n{text}");
    assert!(all.iter().any(|l| l.trim_end() == "still-here"), "the shell did not answer:\n{text}");
    // LKL's kernel threads are host threads, shown as such by ps.
    assert!(all.iter().any(|l| l.contains(" yes ") && l.ends_with(" lkl")), "no LKL host thread in ps:\n{text}");
    // Its host operations still pass their self-test with LKL running beside it.
    assert!(all.iter().any(|l| l.trim_end() == "lklhosttest: all 9 areas passed"), "{text}");
    // LKL's tick stops while nothing runs in it (patches/lkl-tree/lkl-idle-tick-stops.patch):
    // over 2 s of an idle shell its clockevent fires for its timers only, where
    // its 100 Hz tick fired ~200 times. `lklstat`: `...; T timer interrupts`.
    let fired: Vec<u64> = all
        .iter()
        .filter_map(|l| l.strip_prefix("lkl: Up; ")?.strip_suffix(" timer interrupts")?.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(fired.len(), 2, "two lklstat lines expected:\n{text}");
    eprintln!("LKL timer interrupts over 2 s idle: {}", fired[1] - fired[0]);
    assert!(fired[1] - fired[0] <= 40, "LKL's tick kept firing while it was idle ({} in 2 s):\n{text}", fired[1] - fired[0]);
    // The boot task's calls after its first (mounts, the initramfs copy) find
    // LKL's CPU free and their host task current: LKL's quick route serves
    // them (patches/lkl-tree/lkl-syscall-quick.patch), the rest go through
    // lkl_syscall. `lkl: syscalls into LKL (...): Q on the quick route, F through lkl_syscall`.
    let routes: Vec<(u64, u64)> = all
        .iter()
        .filter_map(|l| {
            let (quick, full) = l.split_once("): ")?.1.split_once(" on the quick route, ")?;
            Some((quick.parse().ok()?, full.strip_suffix(" through lkl_syscall")?.parse().ok()?))
        })
        .collect();
    assert_eq!(routes.len(), 2, "two lklstat route lines expected:\n{text}");
    let (quick, full) = routes[0];
    eprintln!("LKL syscalls at boot: {quick} on the quick route, {full} through lkl_syscall");
    assert!(quick > 0 && quick >= full, "LKL's quick route served {quick} of {} calls:\n{text}", quick + full);
}

/// LKL's quick syscall route (patches/lkl-tree/lkl-syscall-quick.patch) under
/// real concurrency, which our one-CPU kernel never gives it: lkl-host/quickstress.c,
/// built in the image against LKL's own POSIX host library from the same LKL
/// build, runs eight pthreads through the route (getuid/getpid, with pipe reads
/// that block in LKL and their partners' writes) on the machine's cores, and
/// checks every result.
#[test]
#[cfg_attr(not(lkl_tree), ignore = "needs a real LKL tree: set EMBCTL_LKL_TREE=DIR when building the tests (CI has none)")]
fn lkl_quick_route_holds_under_host_threads() {
    let Some(tree) = common::lkl_tree("lkl_quick_route_holds_under_host_threads") else { return };
    run_ok(embctl().args(["build", "-t", "x86/lkl-qemu", "--lkl-tree", &tree.display().to_string()]));
    // The newest LKL build output under build/ (one directory per tree).
    let outputs = common::workspace_root().join("build/extbld/third_party/lkl/out");
    let out_dir = std::fs::read_dir(&outputs)
        .unwrap_or_else(|e| panic!("{}: {e}", outputs.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("tools/lkl/liblkl.a").is_file())
        .max_by_key(|d| std::fs::metadata(d.join("tools/lkl/liblkl.a")).and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("no LKL build with tools/lkl/liblkl.a under {}", outputs.display()));
    let out = format!("/ws/build/extbld/third_party/lkl/out/{}", out_dir.file_name().unwrap().to_string_lossy());
    let script = format!(
        "gcc -O2 -Wall -Werror -I{out}/install/include -o /tmp/quickstress /ws/embctl/tests/lkl-host/quickstress.c \
         {out}/tools/lkl/liblkl.a -lpthread -lrt && /tmp/quickstress"
    );
    let result = run(embctl().args(["shell", "--", "sh", "-c", &script]));
    let text = stdout(&result);
    assert!(result.status.success(), "quickstress failed:\n{text}\n{}", common::stderr(&result));
    let line = text.lines().find_map(|l| l.strip_prefix("quickstress ok: ")).unwrap_or_else(|| panic!("no result line:\n{text}"));
    eprintln!("quickstress: {line}");
    let quick: u64 = line.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(quick > 0, "no call took the quick route: {line}");
}
