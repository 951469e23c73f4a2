//! (stub: filled in by its owner)
use anyhow::{bail, Result};
use crate::workspace::Workspace;
pub async fn build(_ws: &Workspace, _force: bool) -> Result<()> { bail!("not implemented yet") }
pub async fn list(_ws: &Workspace) -> Result<()> { bail!("not implemented yet") }
pub async fn remove(_ws: &Workspace, _tags: &[String]) -> Result<()> { bail!("not implemented yet") }
pub async fn prune(_ws: &Workspace) -> Result<()> { bail!("not implemented yet") }
