//! Shell completions and man pages, generated from the one clap definition in
//! `cli`, so they cannot drift from the real flags and subcommands.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "embctl", out);
    out.flush().context("cannot write the completion script")
}

/// Writes embctl(1) to `out`.
pub fn man_page(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out).context("cannot write the man page")
}

/// Writes embctl.1 and one page per subcommand (embctl-run.1, embctl-image-build.1, …) into `dir`.
pub fn man_pages_to(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir).with_context(|| format!("cannot write man pages into {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("embctl") && name.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand path in the clap definition (`run`, `image build`, …),
    /// so a new subcommand is checked without editing this test.
    fn subcommand_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            subcommand_paths(sub, &path, out);
        }
    }

    fn all_subcommands() -> Vec<Vec<String>> {
        let mut paths = Vec::new();
        subcommand_paths(&Cli::command(), &[], &mut paths);
        assert!(paths.len() >= 10, "the clap definition lists subcommands: {paths:?}");
        paths
    }

    fn generated(shell: Shell) -> String {
        let mut out = Vec::new();
        completions(shell, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn completions_mention_every_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = generated(shell);
            for path in all_subcommands() {
                let name = path.last().unwrap();
                assert!(script.contains(name.as_str()), "{shell} completions lack `embctl {}`", path.join(" "));
            }
        }
    }

    #[test]
    fn completions_offer_the_flags_of_run() {
        let run = Cli::command().find_subcommand("run").cloned().expect("a run subcommand");
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = generated(shell);
            for arg in run.get_arguments().filter_map(|a| a.get_long()) {
                assert!(script.contains(arg), "{shell} completions lack `embctl run --{arg}`");
            }
        }
    }

    #[test]
    fn man_pages_cover_every_subcommand() {
        let mut top = Vec::new();
        man_page(&mut top).unwrap();
        let top = String::from_utf8(top).unwrap();
        assert!(top.starts_with(".ie") || top.contains(".TH embctl"), "roff: {}", &top[..top.len().min(200)]);

        let dir = tempfile::tempdir().unwrap();
        let pages = man_pages_to(dir.path()).unwrap();
        for path in all_subcommands() {
            // The top page names each first-level subcommand; every subcommand has its own page.
            if path.len() == 1 {
                assert!(top.contains(&path[0].replace('-', "\\-")), "embctl.1 lacks `{}`", path[0]);
            }
            let page = format!("embctl-{}.1", path.join("-"));
            assert!(pages.contains(&page), "no {page} among {pages:?}");
        }
    }
}
