//! (stub: filled in by its owner)
use std::process::ExitCode;
use anyhow::{bail, Result};
use crate::{cli::RunArgs, workspace::Workspace};
pub async fn run(_ws: &Workspace, _args: &RunArgs) -> Result<ExitCode> { bail!("embctl run is not implemented yet") }
