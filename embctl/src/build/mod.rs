//! `embctl build`: turns a template into artefacts under `build/base/`.
pub mod template;

use anyhow::{bail, Result};
use crate::{cli::BuildArgs, workspace::Workspace};

pub async fn build(_ws: &Workspace, _args: &BuildArgs) -> Result<()> {
    bail!("embctl build is not implemented yet")
}

/// `embctl templates`.
pub fn list_templates(ws: &Workspace) -> Result<()> {
    template::list(ws)
}
