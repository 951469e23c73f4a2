//! `embctl doctor`: one line per check — ok, warn (a working fallback exists) or
//! fail — each with what to do. Exits non-zero when any check fails.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::engine::privileges::{privileged_probe_fresh, PrivilegedProbe};
use crate::engine::Engine;
use crate::workspace::Workspace;

/// Below this much free space on the engine's disk a build cannot finish.
const DISK_FAIL_BYTES: u64 = 3 << 30;
/// The image (~1.5 GB) plus an LKL build (several GB) want this much.
const DISK_WARN_BYTES: u64 = 10 << 30;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
    /// Not checked because an earlier check failed.
    Skip,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, status: Status, check: &str, message: impl std::fmt::Display) {
        let tag = match status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        crate::ui::print_line(format_args!("{tag}  {check:<13} {message}"));
    }
}

pub async fn doctor(workspace: Option<&Path>) -> Result<ExitCode> {
    let mut r = Report { failed: false };
    let engine = match Engine::connect().await {
        Ok(engine) => {
            let version = engine.server_version().await.unwrap_or_else(|_| "unknown".into());
            r.line(
                Status::Ok,
                "engine",
                format!("Docker {version} at {}, API {}", engine.address(), engine.api_version()),
            );
            match engine.reap_orphans(crate::run::QEMU_ROLE).await {
                Ok(reaped) if !reaped.is_empty() => r.line(
                    Status::Warn,
                    "orphans",
                    format!("removed {} QEMU container(s) left running by a killed embctl: {}", reaped.len(), reaped.join(", ")),
                ),
                Ok(_) => {}
                Err(e) => r.line(Status::Warn, "orphans", format!("cannot look for QEMU containers of killed runs: {e:#}")),
            }
            Some(engine)
        }
        Err(e) => {
            r.line(Status::Fail, "engine", format!("{e:#}"));
            None
        }
    };
    disk(&mut r, engine.as_ref()).await;
    dev_net_tun(&mut r);
    let ws = Workspace::locate(workspace);
    let image = match (&engine, &ws) {
        (Some(engine), Ok(ws)) => build_image(&mut r, engine, ws).await,
        (None, _) => {
            r.line(Status::Skip, "build image", "needs the engine");
            None
        }
        (_, Err(e)) => {
            r.line(Status::Warn, "build image", format!("not checked: {e:#}"));
            None
        }
    };
    debootstrap(&mut r, engine.as_ref()).await;
    match &engine {
        Some(engine) => {
            kvm(&mut r, engine, image.as_deref()).await;
            privileged(&mut r, engine).await;
        }
        None => {
            r.line(Status::Skip, "kvm", "needs the engine");
            r.line(Status::Skip, "privileged", "needs the engine");
        }
    }
    Ok(if r.failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn disk(r: &mut Report, engine: Option<&Engine>) {
    // The engine's data root when we can see it (local engine), else /.
    let mut root = "/var/lib/docker".to_string();
    if let Some(engine) = engine {
        if let Some(data_root) = engine.data_root().await {
            root = data_root;
        }
    }
    let path = if Path::new(&root).exists() {
        root
    } else {
        "/".to_string()
    };
    match free_bytes(&path) {
        Some(free) => {
            let gib = free as f64 / (1u64 << 30) as f64;
            if free < DISK_FAIL_BYTES {
                r.line(Status::Fail, "disk", format!("{gib:.1} GiB free on {path}; free at least 10 GiB (`docker system prune`, `embctl image prune`)"));
            } else if free < DISK_WARN_BYTES {
                r.line(
                    Status::Warn,
                    "disk",
                    format!("{gib:.1} GiB free on {path}; an LKL build wants about 10 GiB"),
                );
            } else {
                r.line(Status::Ok, "disk", format!("{gib:.1} GiB free on {path}"));
            }
        }
        None => r.line(Status::Warn, "disk", format!("cannot read free space of {path}")),
    }
}

fn free_bytes(path: &str) -> Option<u64> {
    let c = std::ffi::CString::new(path).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory
    // of the right type; statvfs initialises it when it returns 0.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

fn dev_net_tun(r: &mut Report) {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata("/dev/net/tun") {
        Ok(m) if m.file_type().is_char_device() => {
            r.line(Status::Ok, "/dev/net/tun", "present (passed to the QEMU container)")
        }
        _ => r.line(
            Status::Warn,
            "/dev/net/tun",
            "missing: QEMU gets no tap networking (user-mode networking still works); `modprobe tun` creates it",
        ),
    }
}

async fn build_image(r: &mut Report, engine: &Engine, ws: &Workspace) -> Option<String> {
    match crate::image::current(engine, ws).await {
        Ok(Some((tag, true))) => {
            r.line(
                Status::Ok,
                "build image",
                format!("{tag} is current for {}", ws.docker_dir().display()),
            );
            Some(tag)
        }
        Ok(Some((tag, false))) => {
            r.line(
                Status::Warn,
                "build image",
                format!("{tag} (current docker/) not built yet; `embctl image build` builds it (~3 min)"),
            );
            any_image(engine).await
        }
        Ok(None) => {
            r.line(
                Status::Warn,
                "build image",
                "no base image yet; `embctl image build` makes the base and the image",
            );
            None
        }
        Err(e) => {
            r.line(Status::Fail, "build image", format!("{e:#}"));
            None
        }
    }
}

/// Some build image (maybe stale) to run probes in.
async fn any_image(engine: &Engine) -> Option<String> {
    let images = engine
        .images_with_label(&format!("{}={}", crate::image::LABEL_IMAGE, crate::image::IMAGE_REPO))
        .await
        .ok()?;
    images.into_iter().find_map(|i| i.repo_tags.into_iter().next())
}

async fn debootstrap(r: &mut Report, engine: Option<&Engine>) {
    let base = match engine {
        Some(e) => crate::image::existing_base(e).await.ok().flatten(),
        None => None,
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match (crate::image::debootstrap_path(), base) {
        (Some(path), _) if root => r.line(Status::Ok, "debootstrap", format!("{} (makes the base offline)", path.display())),
        (Some(path), None) => r.line(
            Status::Warn,
            "debootstrap",
            format!("{} present but needs root; run `sudo embctl image build` once when no registry answers", path.display()),
        ),
        (Some(_), Some(b)) | (None, Some(b)) if crate::image::unused_prepared_tree().is_some() => r.line(
            Status::Warn,
            "debootstrap",
            format!(
                "base {} exists, so the debootstrap tree {} will never be imported; `embctl image prune` removes it",
                b.reference,
                crate::image::unused_prepared_tree().unwrap_or_default().display()
            ),
        ),
        (Some(path), Some(_)) => r.line(Status::Ok, "debootstrap", format!("{} (base image already made)", path.display())),
        (None, Some(b)) => r.line(Status::Ok, "debootstrap", format!("not installed; not needed: base {} exists", b.reference)),
        (None, None) => r.line(
            Status::Warn,
            "debootstrap",
            format!(
                "not installed and no base image: when no registry answers, `apt-get install debootstrap` (else {} is pulled)",
                crate::image::PINNED_BASE
            ),
        ),
    }
}

async fn kvm(r: &mut Report, engine: &Engine, image: Option<&str>) {
    let Some(image) = image else {
        let dev = if Path::new("/dev/kvm").exists() {
            "/dev/kvm present"
        } else {
            "no /dev/kvm"
        };
        r.line(
            Status::Warn,
            "kvm",
            format!("{dev}; not probed (needs the build image: `embctl image build`)"),
        );
        return;
    };
    match crate::kvm_probe::kvm_probe_fresh(engine, image).await {
        Ok(()) => r.line(
            Status::Ok,
            "kvm",
            "usable: the probe guest entered ring 3 and came back under KVM",
        ),
        Err(why) => r.line(
            Status::Warn,
            "kvm",
            format!("unusable: {why:#}; TCG will be used (works, slower)"),
        ),
    }
}

async fn privileged(r: &mut Report, engine: &Engine) {
    match privileged_probe_fresh(engine).await {
        Ok(PrivilegedProbe::Granted) => r.line(
            Status::Ok,
            "privileged",
            "granted; the QEMU container runs --privileged",
        ),
        Ok(PrivilegedProbe::Refused(why)) => r.line(
            Status::Warn,
            "privileged",
            format!("refused ({why}); the QEMU container gets --cap-add NET_ADMIN and the devices instead"),
        ),
        Err(e) => r.line(Status::Warn, "privileged", format!("not probed: {e:#}")),
    }
}
