//! (stub: filled in by its owner)
use anyhow::{bail, Result};
use crate::{cli::BuildArgs, workspace::Workspace};
pub async fn build(_ws: &Workspace, _args: &BuildArgs) -> Result<()> { bail!("embctl build is not implemented yet") }
pub fn list_templates(_ws: &Workspace) -> Result<()> { bail!("embctl templates is not implemented yet") }
