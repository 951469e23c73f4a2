//! (stub: filled in by its owner)
use anyhow::{bail, Result};
use crate::{cli::{CleanLklArgs, LklDiffArgs, LklSourceArgs}, workspace::Workspace};
pub async fn fetch(_ws: &Workspace, _src: &LklSourceArgs) -> Result<()> { bail!("not implemented yet") }
pub async fn pin(_ws: &Workspace, _src: &LklSourceArgs) -> Result<()> { bail!("not implemented yet") }
pub async fn lkl_diff(_ws: &Workspace, _args: &LklDiffArgs) -> Result<()> { bail!("not implemented yet") }
pub async fn clean_lkl(_ws: &Workspace, _args: &CleanLklArgs) -> Result<()> { bail!("not implemented yet") }
