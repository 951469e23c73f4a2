//! (stub: filled in by its owner)
use std::{path::Path, process::ExitCode};
use anyhow::{bail, Result};
pub async fn doctor(_workspace: Option<&Path>) -> Result<ExitCode> { bail!("not implemented yet") }
