//! What users expect of a CLI around the commands themselves: a version that
//! names the commit, completion scripts a shell accepts, man pages, and the
//! exit statuses of `run` in its help. (That every subcommand appears in the
//! completions and man pages is checked by the unit tests in `cli_docs`,
//! which walk the clap definition.) No engine needed.

mod common;

use std::process::Command;

use common::{run, run_ok, stdout};

fn embctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_embctl"))
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = run_ok(embctl().arg("--version"));
    let version = stdout(&out);
    let head = Command::new("git")
        .arg("-C")
        .arg(common::workspace_root())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert!(version.contains(&format!("commit {head}")), "{version:?} does not name HEAD {head}"),
        None => {
            eprintln!("SKIPPED the commit comparison: {} is not a git checkout", common::workspace_root().display());
            assert!(version.contains("built outside a git checkout"), "{version:?}");
        }
    }
    assert!(version.starts_with(&format!("embctl {}", env!("CARGO_PKG_VERSION"))), "{version:?}");
}

#[test]
fn completion_scripts_parse_in_their_shell() {
    for (shell, check) in [("bash", &["-n"][..]), ("zsh", &["-n"][..]), ("fish", &["--no-execute"][..])] {
        let out = run_ok(embctl().args(["completions", shell]));
        assert!(out.stdout.len() > 500, "{shell} script is {} bytes", out.stdout.len());
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), &out.stdout).unwrap();
        match Command::new(shell).args(check).arg(script.path()).output() {
            Ok(res) => assert!(res.status.success(), "{shell} rejects the script: {}", String::from_utf8_lossy(&res.stderr)),
            Err(_) => eprintln!("SKIPPED the {shell} syntax check: {shell} is not installed (the script was generated)"),
        }
    }
}

#[test]
fn unknown_completion_shell_is_refused_with_the_choices() {
    let out = run(embctl().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("bash") && err.contains("zsh") && err.contains("fish"), "{err}");
}

#[test]
fn man_pages_are_written_for_every_subcommand() {
    let top = stdout(&run_ok(embctl().arg("man")));
    assert!(top.contains(".TH embctl 1"), "{top}");
    let dir = tempfile::tempdir().unwrap();
    run_ok(embctl().args(["man", "--dir"]).arg(dir.path()));
    let help = stdout(&run_ok(embctl().arg("--help")));
    // The subcommands as `--help` lists them: the lines of its Commands: section.
    let names: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(names.contains(&"run") && names.contains(&"man"), "{names:?}");
    for name in names {
        assert!(dir.path().join(format!("embctl-{name}.1")).is_file(), "no man page for `embctl {name}`");
        assert!(top.contains(&name.replace('-', "\\-")), "embctl.1 does not mention `{name}`");
    }
}

#[test]
fn run_help_lists_the_exit_statuses() {
    let help = stdout(&run_ok(embctl().args(["run", "--help"])));
    let section: Vec<&str> = help.lines().skip_while(|l| !l.starts_with("Exit status:")).collect();
    assert!(section.len() >= 5, "{help}");
    for code in ["0 ", "1 ", "2 ", "128+N "] {
        assert!(section.iter().any(|l| l.trim_start().starts_with(code)), "no exit status {code}in:\n{help}");
    }
}
