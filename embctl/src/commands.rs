//! Thin glue: each subcommand calls exactly one operation.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command, ImageCommand, LklCommand};
use crate::workspace::Workspace;

pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let ws = || Workspace::locate(cli.global.workspace.as_deref());
    match cli.command {
        Command::Build(args) => crate::build::build(&ws()?, &args).await.map(|_| ExitCode::SUCCESS),
        Command::Run(args) => crate::run::run(&ws()?, &args).await,
        Command::Shell(args) => crate::shell::shell(&ws()?, &args.command).await,
        Command::Image(cmd) => {
            let ws = ws()?;
            match cmd {
                ImageCommand::Build { force } => crate::image::build(&ws, force).await.map(|_| ExitCode::SUCCESS),
                ImageCommand::Ls => crate::image::list(&ws).await.map(|_| ExitCode::SUCCESS),
                ImageCommand::Rm { tags } => crate::image::remove(&ws, &tags).await.map(|_| ExitCode::SUCCESS),
                ImageCommand::Prune => crate::image::prune(&ws).await.map(|_| ExitCode::SUCCESS),
            }
        }
        Command::Doctor => crate::doctor::doctor(cli.global.workspace.as_deref()).await,
        Command::Templates => crate::build::list_templates(&ws()?).map(|_| ExitCode::SUCCESS),
        Command::Lkl(LklCommand::Fetch(src)) => crate::lkl::fetch(&ws()?, &src).await.map(|_| ExitCode::SUCCESS),
        Command::Lkl(LklCommand::Pin(src)) => crate::lkl::pin(&ws()?, &src).await.map(|_| ExitCode::SUCCESS),
        Command::Lkl(LklCommand::Build(args)) => crate::lkl::build(&ws()?, &args).await.map(|_| ExitCode::SUCCESS),
        Command::LklDiff(args) => crate::lkl::lkl_diff(&ws()?, &args).await.map(|_| ExitCode::SUCCESS),
        Command::CleanLkl(args) => crate::lkl::clean_lkl(&ws()?, &args).await.map(|_| ExitCode::SUCCESS),
        Command::Completions { shell } => {
            crate::cli_docs::completions(shell, &mut std::io::stdout().lock()).map(|_| ExitCode::SUCCESS)
        }
        Command::Man { dir: None } => crate::cli_docs::man_page(&mut std::io::stdout().lock()).map(|_| ExitCode::SUCCESS),
        Command::Man { dir: Some(dir) } => crate::cli_docs::man_pages_to(&dir).map(|pages| {
            tracing::info!("wrote {} man pages into {}", pages.len(), dir.display());
            ExitCode::SUCCESS
        }),
    }
}
