//! The LKL build inside the build image: `make -C tools/lkl` with the image's
//! (i386) compiler, then `include/` and `liblkl.a` installed under
//! `build/extbld/third_party/lkl/install/`. `.builded` and `.installed` make
//! each step run once; `embctl clean-lkl` removes them.

use std::fs;

use anyhow::{bail, Context, Result};
use tracing::info;

use super::LklPaths;
use crate::cli::LklSourceArgs;
use crate::engine::{ContainerSpec, Engine};
use crate::workspace::Workspace;

/// Wrapper makefile added by our lkl-i386-support.patch; used when present.
const I386_MAKEFILE: &str = "Makefile.embox-i386";

/// Called by `embctl build` when the template enables LKL (`[lkl] enabled = true`).
pub async fn build_for_template(ws: &Workspace, engine: &Engine, image: &str, src: &LklSourceArgs) -> Result<()> {
    let (paths, _lock) = super::ensure_patched_tree(ws, src).await?;
    let tools = format!("/ws/{}/tools/lkl", paths.relative_to(ws, &paths.tree));
    if paths.builded_marker.exists() {
        info!("LKL already built ({} exists)", paths.builded_marker.display());
    } else {
        info!("building LKL in {tools} inside {image}");
        let script = format!(
            "set -e; cd {tools}; if [ -f {I386_MAKEFILE} ]; then f='-f {I386_MAKEFILE}'; else f=''; fi; \
             exec make $f -j\"$(nproc)\""
        );
        run_step(ws, engine, image, &script, "make in tools/lkl").await?;
        touch(&paths.builded_marker)?;
    }
    if paths.installed_marker.exists() {
        info!("LKL already installed in {}", paths.install.display());
    } else {
        let install = format!("/ws/{}", paths.relative_to(ws, &paths.install));
        let staging = format!("{install}.tmp");
        // Installed into a staging directory and renamed, so a failure leaves no half install.
        let script = format!(
            "set -e; cd {tools}; rm -rf {staging}; mkdir -p {staging}/lib; cp -r include {staging}/include; \
             cp liblkl.a {staging}/lib/; rm -rf {install}; mv {staging} {install}"
        );
        run_step(ws, engine, image, &script, "installing liblkl.a and include/").await?;
        touch(&paths.installed_marker)?;
        info!("LKL installed in {}", paths.install.display());
    }
    Ok(())
}

/// `make clean` in tools/lkl, inside the image.
pub(super) async fn make_clean(ws: &Workspace, paths: &LklPaths) -> Result<()> {
    let engine = Engine::connect().await?;
    let image = crate::image::ensure(&engine, ws).await?;
    let tools = format!("/ws/{}/tools/lkl", paths.relative_to(ws, &paths.tree));
    let script = format!(
        "set -e; cd {tools}; if [ -f {I386_MAKEFILE} ]; then f='-f {I386_MAKEFILE}'; else f=''; fi; exec make $f clean"
    );
    run_step(ws, &engine, &image, &script, "make clean in tools/lkl").await
}

async fn run_step(ws: &Workspace, engine: &Engine, image: &str, script: &str, what: &str) -> Result<()> {
    let spec: ContainerSpec = crate::image::workspace_spec(ws, image, vec!["sh".into(), "-c".into(), script.into()]);
    let code = engine.run(&spec).await.with_context(|| format!("{what}: cannot run the build container"))?;
    if code != 0 {
        bail!(
            "{what} failed with exit code {code} inside the build image (output above). Fix the cause, then rerun; \
             `embctl clean-lkl` starts the LKL build over, `embctl lkl-diff` shows your changes to the tree"
        );
    }
    Ok(())
}

fn touch(marker: &std::path::Path) -> Result<()> {
    if let Some(dir) = marker.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(marker, b"").with_context(|| format!("cannot write the marker {}", marker.display()))
}
