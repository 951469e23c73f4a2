//! (stub: filled in by its owner)
use std::process::ExitCode;
use anyhow::{bail, Result};
use crate::workspace::Workspace;
pub async fn shell(_ws: &Workspace, _command: &[String]) -> Result<ExitCode> { bail!("embctl shell is not implemented yet") }
