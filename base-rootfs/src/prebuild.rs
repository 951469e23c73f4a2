//! `embctl-base-rootfs prepare --image DOCKER_DIR`: the base image and the build
//! image made ahead of time, with the docker CLI, while embctl compiles
//! (scripts/setup-host.sh starts it in the background on a fresh machine).
//!
//! It makes exactly what embctl's image step would make (the tag, build
//! arguments and labels come from [`crate::recipe`]), holding the same host
//! locks ([`crate::host_lock`]), so embctl waits for it and then reuses the
//! result instead of building a second time. Anything it cannot do is left to
//! embctl, which does it the usual way.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::host_lock::HostLock;
use crate::recipe::{self, BaseRef, ContextFiles};
use crate::{Found, Prepared};

fn docker() -> Command {
    let mut c = Command::new("docker");
    // The classic builder takes `FROM <image id>` from the local store; BuildKit
    // would try to resolve it on a registry.
    c.env("DOCKER_BUILDKIT", "0");
    c
}

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run docker to {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker could not {what} ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `(id, base-source label)` of a local image, or None when it does not exist.
fn inspect(tag: &str) -> Option<(String, String)> {
    let format = format!("{{{{.Id}}}} {{{{index .Config.Labels \"{}\"}}}}", recipe::LABEL_BASE_SOURCE);
    let out = run(docker().args(["image", "inspect", "-f", &format, tag]).stderr(Stdio::null()), "inspect").ok()?;
    let (id, source) = out.trim().split_once(' ').unwrap_or((out.trim(), ""));
    let source = if source.is_empty() || source == "<no value>" { "local" } else { source };
    Some((id.to_string(), source.to_string()))
}

/// Debootstraps (unless a finished tree is there) and imports the base as `tag`.
fn make_base(prepared: &Prepared, tag: &str, note: &impl Fn(&str)) -> Result<String, String> {
    let t0 = Instant::now();
    note(&prepared.prepare()?);
    note(&format!("debootstrap step took {:.1} s", t0.elapsed().as_secs_f64()));
    let t0 = Instant::now();
    let found = prepared.take(|| {}).map_err(|e| format!("cannot take the prepared tree {}: {e}", prepared.dir.display()))?;
    let Found::Ready(ready) = found else { return Err(format!("{} holds no finished tree", prepared.dir.display())) };
    let mut import = docker();
    import.arg("import");
    for change in recipe::base_import_changes(&ready.mirror) {
        import.arg("--change").arg(change);
    }
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&ready.rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start tar: {e}"))?;
    let out = import
        .args(["-", tag])
        .stdin(tar.stdout.take().expect("piped"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run docker import: {e}"))?;
    let tar_ok = tar.wait().is_ok_and(|s| s.success());
    if !out.status.success() || !tar_ok {
        let _ = docker().args(["image", "rm", "-f", tag]).stderr(Stdio::null()).output();
        return Err(format!("importing {} as {tag} failed (docker import {}, tar ok: {tar_ok})", ready.rootfs.display(), out.status));
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = ready.dir().display().to_string();
    if let Err(e) = ready.remove() {
        note(&format!("cannot remove the imported tree {dir}: {e}"));
    }
    note(&format!("imported the base {tag} ({id}) in {:.1} s", t0.elapsed().as_secs_f64()));
    Ok(id)
}

/// Makes the base (when missing) and the build image of `docker_dir` (when
/// missing). `note` reports progress (the log).
pub fn prepare_image(prepared: &Prepared, docker_dir: &Path, log: &Path, note: impl Fn(&str)) -> Result<String, String> {
    let docker_dir = docker_dir.canonicalize().map_err(|e| format!("cannot find {}: {e}", docker_dir.display()))?;
    let base_tag = recipe::base_tag();
    let doing = |what: &str| format!("scripts/setup-host.sh's background {what} (log: {})", log.display());
    let waiting = |holder: &str| note(&format!("waiting for {holder}"));
    let base_lock = HostLock::acquire(&base_tag, &doing(&format!("debootstrap and import of {base_tag}")), waiting)
        .map_err(|e| format!("cannot lock {base_tag}: {e}"))?;
    let (base_id, source) = match inspect(&base_tag) {
        Some(found) => found,
        None => (make_base(prepared, &base_tag, &note)?, "debootstrap".to_string()),
    };
    let context = ContextFiles::read(&docker_dir).map_err(|e| e.to_string())?;
    let base = BaseRef { reference: &base_tag, id: &base_id, source: &source };
    let hash = context.hash(base.id);
    let tag = recipe::tag_for(&hash);
    // Take the image's lock before letting go of the base's: an embctl that
    // finds the base then waits for this build instead of starting its own.
    let _image_lock = HostLock::acquire(&tag, &doing(&format!("build of {tag}")), waiting)
        .map_err(|e| format!("cannot lock {tag}: {e}"))?;
    drop(base_lock);
    if inspect(&tag).is_some() {
        return Ok(format!("the build image {tag} exists already"));
    }
    let t0 = Instant::now();
    note(&format!("building {tag} from {}/Dockerfile on {base_tag} ({base_id})", docker_dir.display()));
    let mut build = docker();
    build.args(["build", "--rm", "--force-rm", "-t", &tag]);
    for (k, v) in recipe::build_args(&base) {
        build.arg("--build-arg").arg(format!("{k}={v}"));
    }
    for (k, v) in recipe::image_labels(&hash, &base, &docker_dir) {
        build.arg("--label").arg(format!("{k}={v}"));
    }
    let status = build.arg(&docker_dir).stdin(Stdio::null()).status().map_err(|e| format!("cannot run docker build: {e}"))?;
    if !status.success() {
        return Err(format!("docker build of {tag} failed ({status})"));
    }
    note(&format!("built {tag} in {:.1} s", t0.elapsed().as_secs_f64()));
    let packages = run(
        docker().args(["run", "--rm", "--network", "none", "--label"]).arg(format!("{}=true", recipe::MANAGED_LABEL)).args([
            &tag,
            "cat",
            recipe::PACKAGES_IN_IMAGE,
        ]),
        "read the image's package list",
    )?;
    match recipe::record_packages(&docker_dir, &packages).map_err(|e| e.to_string())? {
        recipe::PackagesRecord::Unchanged => note("package versions unchanged (docker/packages.lock)"),
        recipe::PackagesRecord::Written { packages, drift } => {
            note(&format!("recorded {packages} package versions in docker/packages.lock"));
            for line in drift.unwrap_or_default().iter().take(20) {
                note(&format!("  drifted: {line}"));
            }
        }
    }
    Ok(format!("the build image {tag} is ready"))
}
