//! The kernel's own features, booted for real through `embctl run --cmd`
//! (TCG): line editing, quoting, `$?`, tasks and preemption, the log, and
//! every kind of kernel fault ending the run non-zero with its report.
//! Needs a Docker engine and the build image; failures print the console.

mod common;

use std::process::Output;
use std::sync::Once;

use common::{embctl, run, run_ok, stderr, stdout};

fn run_cmds(cmds: &[&str]) -> Output {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        run_ok(embctl().arg("build"));
    });
    let mut cmd = embctl();
    cmd.args(["run", "--no-build", "--no-kvm", "--timeout", "30"]);
    for c in cmds {
        cmd.args(["--cmd", c]);
    }
    run(&mut cmd)
}

fn lines(out: &Output) -> Vec<String> {
    stdout(out).replace('\r', "").lines().map(|l| l.trim_end().to_owned()).collect()
}

#[test]
fn backspace_and_ctrl_u_edit_the_line() {
    let out = run_cmds(&["echo abx\x7fc", "echo wrong\x15echo right", "\x7f\x08echo ok"]);
    assert!(out.status.success());
    let lines = lines(&out);
    for want in ["abc", "right", "ok"] {
        assert!(lines.iter().any(|l| l == want), "missing output line {want:?}");
    }
    assert!(!lines.iter().any(|l| l == "wrong" || l.starts_with("wrongecho")), "Ctrl-U did not erase the line");
}

#[test]
fn ctrl_c_drops_the_line_and_up_recalls_history() {
    let out = run_cmds(&["echo dropped\x03echo status=$?", "echo again", "\x1b[A\x1b[A"]);
    assert!(out.status.success());
    let lines = lines(&out);
    assert!(!lines.iter().any(|l| l == "dropped" || l.starts_with("dropped")), "Ctrl-C must drop the line");
    assert!(lines.iter().any(|l| l == "status=130"), "Ctrl-C sets $? to 130");
    let recalled = lines.iter().filter(|l| l.starts_with("status=")).count();
    assert_eq!(recalled, 2, "Up Up recalls `echo status=$?` and runs it again: {lines:?}");
}

#[test]
fn words_are_quoted_as_in_a_posix_shell() {
    let out = run_cmds(&[r#"echo "a  b" 'c $? d' e\ f "$?""#, "nosuchcommand", "echo status=$?", "echo 'unterminated"]);
    assert!(out.status.success());
    let lines = lines(&out);
    assert!(lines.iter().any(|l| l == "a  b c $? d e f 0"), "quoting");
    assert!(lines.iter().any(|l| l == "status=127"), "an unknown command sets $? to 127");
    assert!(lines.iter().any(|l| l.contains("unterminated single quote")));
}

/// Only unquoted `<` and `>` redirect (issue 9: `load_app` took quoted ones
/// as redirections); a built-in refuses a redirection instead of ignoring it.
#[test]
fn quoted_angle_brackets_are_arguments_not_redirections() {
    let out = run_cmds(&[
        "load_app linux_echo '>'",
        r#"load_app linux_echo "<""#,
        "load_app linux_echo redirected > /tmp/out",
        "cat /tmp/out",
        "echo x > /tmp/other",
        "echo status=$?",
        "load_app linux_echo <",
        "echo status=$?",
    ]);
    assert!(out.status.success());
    let lines = lines(&out);
    assert!(lines.iter().any(|l| l == ">"), "a quoted > is an argument");
    assert!(lines.iter().any(|l| l == "<"), "a quoted < is an argument");
    assert!(lines.iter().any(|l| l == "redirected"), "an unquoted > still redirects: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("echo: takes no < or > redirection")), "a built-in refuses it");
    assert!(lines.iter().any(|l| l.contains("'<' needs a file name after it")));
    assert_eq!(lines.iter().filter(|l| *l == "status=2").count(), 2, "both refusals set $? to 2: {lines:?}");
}

#[test]
fn output_without_newline_still_gets_a_prompt_on_its_own_line() {
    let out = run_cmds(&["echo -n no-newline", "echo next"]);
    assert!(out.status.success(), "the prompt after `echo -n` was not recognised");
    assert!(lines(&out).iter().any(|l| l == "no-newline"));
}

#[test]
fn tasks_log_and_memory_are_reported() {
    let out = run_cmds(&["ps", "dmesg", "free", "uptime", "sleep 0.2", "echo slept=$?"]);
    assert!(out.status.success());
    let lines = lines(&out);
    let header = lines.iter().find(|l| l.contains("PID")).expect("ps header");
    assert!(header.contains("LKL") && header.contains("TLS-KEY"), "{header}");
    assert!(lines.iter().any(|l| l.ends_with(" shell") && l.contains("running")), "ps shows the shell task");
    assert!(lines.iter().any(|l| l.starts_with('[') && l.ends_with("] shell: ready")), "dmesg keeps the boot log");
    assert!(lines.iter().any(|l| l.starts_with("heap ")), "free shows the heap");
    assert!(lines.iter().any(|l| l.starts_with("up ")), "uptime");
    assert!(lines.iter().any(|l| l == "slept=0"));
}

#[test]
fn busy_kernel_threads_are_preempted() {
    let out = run_cmds(&["schedtest"]);
    assert!(out.status.success());
    let line = lines(&out).into_iter().find(|l| l.starts_with("schedtest:")).expect("schedtest report");
    assert!(line.ends_with(": ok"), "{line}");
}

fn assert_fault(cmd: &str, report: &str) {
    let out = run_cmds(&[cmd, "echo never reached"]);
    assert!(!out.status.success(), "`{cmd}` must end the run non-zero");
    assert!(stderr(&out).contains("kernel fault"), "embctl names the outcome");
    let console = stdout(&out);
    assert!(console.contains(report), "console lacks {report:?}");
    assert!(console.contains("task: shell"), "the report names the current task");
    assert!(console.contains("eip="), "the report shows registers");
    assert!(!lines(&out).iter().any(|l| l == "never reached"));
}

#[test]
fn kernel_stack_overflow_is_reported_not_a_reset() {
    assert_fault("crash stack", "kernel panic: kernel stack overflow");
}

#[test]
fn double_fault_is_reported_not_a_reset() {
    assert_fault("crash double", "kernel panic: double fault");
}

#[test]
fn kernel_code_is_write_protected() {
    assert_fault("crash readonly", "(write, protection violation, kernel mode)");
}
