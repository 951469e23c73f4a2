//! Thin glue: each subcommand's clap arguments become the options of exactly
//! one operation, which is then called. Operations never see clap's types.

use std::process::ExitCode;

use anyhow::Result;

use crate::build::BuildOptions;
use crate::cli::{BuildArgs, CleanLklArgs, Cli, Command, ImageCommand, LklBuildArgs, LklCommand, LklDiffArgs, LklSourceArgs, PrivilegeArg, RunArgs};
use crate::image::PrivilegeMode;
use crate::lkl::{CleanOptions, DiffOptions, LklBuildOptions, LklSource};
use crate::run::RunOptions;
use crate::workspace::Workspace;

pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let ws = || Workspace::locate(cli.global.workspace.as_deref());
    match cli.command {
        Command::Build(args) => crate::build::build(&ws()?, &args.into()).await.map(|_| ExitCode::SUCCESS),
        Command::Run(args) => crate::run::run(&ws()?, &args.into()).await,
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
        Command::Lkl(LklCommand::Fetch(src)) => crate::lkl::fetch(&ws()?, &src.into()).await.map(|_| ExitCode::SUCCESS),
        Command::Lkl(LklCommand::Pin(src)) => crate::lkl::pin(&ws()?, &src.into()).await.map(|_| ExitCode::SUCCESS),
        Command::Lkl(LklCommand::Build(args)) => crate::lkl::build(&ws()?, &args.into()).await.map(|_| ExitCode::SUCCESS),
        Command::LklDiff(args) => crate::lkl::lkl_diff(&ws()?, &args.into()).await.map(|_| ExitCode::SUCCESS),
        Command::CleanLkl(args) => crate::lkl::clean_lkl(&ws()?, args.into()).await.map(|_| ExitCode::SUCCESS),
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

impl From<LklSourceArgs> for LklSource {
    fn from(args: LklSourceArgs) -> Self {
        LklSource { zip: args.lkl_zip, mirror: args.lkl_mirror, tree: args.tree.lkl_tree }
    }
}

impl From<BuildArgs> for BuildOptions {
    fn from(args: BuildArgs) -> Self {
        BuildOptions { template: args.template, lkl: args.lkl_source.into() }
    }
}

impl From<PrivilegeArg> for PrivilegeMode {
    fn from(arg: PrivilegeArg) -> Self {
        match arg {
            PrivilegeArg::Auto => PrivilegeMode::Auto,
            PrivilegeArg::Privileged => PrivilegeMode::Privileged,
            PrivilegeArg::Devices => PrivilegeMode::Devices,
        }
    }
}

impl From<RunArgs> for RunOptions {
    fn from(args: RunArgs) -> Self {
        RunOptions {
            template: args.template,
            no_kvm: args.no_kvm,
            gdb: args.gdb,
            memory_mib: args.memory_mib,
            commands: args.commands,
            check_status: args.check_status,
            timeout: args.timeout,
            add: args.add,
            no_build: args.no_build,
            net: args.net,
            publish: args.publish,
            linux_guest: args.linux_guest,
            qemu_args: args.qemu_args,
            print_qemu: args.print_qemu,
            privileges: args.privileges.privileges.into(),
            lkl: args.lkl_source.into(),
        }
    }
}

impl From<LklBuildArgs> for LklBuildOptions {
    fn from(args: LklBuildArgs) -> Self {
        LklBuildOptions { template: args.template, source: args.lkl_source.into() }
    }
}

impl From<LklDiffArgs> for DiffOptions {
    fn from(args: LklDiffArgs) -> Self {
        DiffOptions { stat: args.stat, save: args.save, tree: args.tree.lkl_tree }
    }
}

impl From<CleanLklArgs> for CleanOptions {
    fn from(args: CleanLklArgs) -> Self {
        CleanOptions { all: args.all, force: args.force }
    }
}
