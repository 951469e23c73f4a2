//! embctl: the toolchain CLI. A request enters through `cli`, `commands`
//! turns it into a call on one operation module, and the operation talks to
//! the Docker engine only through `engine`.

mod build;
mod cli;
mod cli_docs;
mod commands;
mod console;
mod cpio;
mod doctor;
mod engine;
mod image;
mod interrupt;
mod kvm_probe;
mod lkl;
mod net;
mod qemu;
mod remove_tree;
mod run;
mod shell;
mod ui;
mod verdict_cache;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    ui::init_logging(cli.global.verbose, cli.global.quiet);
    // reqwest is built without a TLS provider of its own (aws-lc-rs is a
    // long C build); every HTTPS client in this process uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            ui::report_error(&anyhow::Error::new(err).context("cannot start the async runtime"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            ui::report_error(&err);
            ExitCode::from(1)
        }
    }
}
