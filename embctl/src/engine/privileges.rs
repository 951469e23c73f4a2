//! What the QEMU container may do. `--privileged` (as the original Embox recipe
//! used) when the engine grants it; otherwise exactly NET_ADMIN plus the host
//! devices QEMU opens (/dev/kvm, /dev/net/tun), the ones that exist.

use std::path::Path;

use anyhow::{Context, Result};

use super::{ContainerSpec, Engine, Privileges};

/// How the QEMU container gets its privileges (`embctl run --privileges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivilegeMode {
    /// `--privileged` when the engine grants it, else [`PrivilegeMode::Devices`].
    #[default]
    Auto,
    Privileged,
    /// NET_ADMIN plus the host devices QEMU opens.
    Devices,
}

/// Host devices the QEMU container gets in device mode (when present).
pub const QEMU_DEVICES: &[&str] = &["/dev/kvm", "/dev/net/tun"];

/// The privileges for the QEMU container under `mode`; the decision is logged.
pub async fn qemu_privileges(engine: &Engine, mode: PrivilegeMode) -> Result<Privileges> {
    let devices = || Privileges::Devices {
        cap_add: vec!["NET_ADMIN".into()],
        devices: QEMU_DEVICES
            .iter()
            .filter(|d| Path::new(d).exists())
            .map(|d| d.to_string())
            .collect(),
    };
    let chosen = match mode {
        PrivilegeMode::Privileged => {
            tracing::info!("QEMU container: --privileged (forced by --privileges privileged)");
            Privileges::Privileged
        }
        PrivilegeMode::Devices => {
            let p = devices();
            tracing::info!("QEMU container: {p} (forced by --privileges devices)");
            p
        }
        PrivilegeMode::Auto => {
            // A refusal is remembered (the device set works either way); a grant
            // is probed each time, so an engine that stops granting is noticed.
            let key = refusal_key(engine).await;
            let cached = key.as_deref().and_then(|k| crate::verdict_cache::read(REFUSAL_CACHE, k, REFUSAL_TTL));
            let probe = match &cached {
                Some(Err(why)) => PrivilegedProbe::Refused(format!("{why}; cached, `embctl doctor` probes again")),
                _ => privileged_granted(engine).await?,
            };
            match probe {
                PrivilegedProbe::Granted => {
                    tracing::info!("QEMU container: --privileged (the engine grants it)");
                    Privileges::Privileged
                }
                PrivilegedProbe::Refused(why) => {
                    if let (Some(key), None) = (&key, &cached) {
                        crate::verdict_cache::write(REFUSAL_CACHE, key, Err(why.clone()));
                    }
                    let p = devices();
                    tracing::info!("QEMU container: {p} (the engine refuses --privileged: {why})");
                    p
                }
            }
        }
    };
    Ok(chosen)
}

/// The cache file of the engine's refusal of `--privileged` (`verdict_cache`).
const REFUSAL_CACHE: &str = "privileged-verdict";
const REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a refusal holds for: this engine (address and version) on this host kernel.
async fn refusal_key(engine: &Engine) -> Option<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let version = engine.server_version().await.ok()?;
    Some(format!("{} {version} {}", engine.address(), kernel.trim()))
}

/// Probes now (doctor) and records the answer, so a refusal cached by `run`
/// is refreshed (or forgotten, when the engine grants it now).
pub async fn privileged_probe_fresh(engine: &Engine) -> Result<PrivilegedProbe> {
    let probe = privileged_granted(engine).await?;
    if let Some(key) = refusal_key(engine).await {
        let verdict = match &probe {
            PrivilegedProbe::Granted => Ok(()),
            PrivilegedProbe::Refused(why) => Err(why.clone()),
        };
        crate::verdict_cache::write(REFUSAL_CACHE, &key, verdict);
    }
    Ok(probe)
}

pub enum PrivilegedProbe {
    Granted,
    /// The engine's reason, e.g. "unable to apply caps: operation not permitted".
    Refused(String),
}

/// Starts a tiny `--privileged` container running `true` in one of this tool's
/// images; the engine's refusal (at start) is the answer.
pub async fn privileged_granted(engine: &Engine) -> Result<PrivilegedProbe> {
    let image = probe_image(engine).await?;
    let spec = ContainerSpec {
        image,
        cmd: vec!["true".into()],
        privileges: Privileges::Privileged,
        network_mode: Some("none".into()),
        ..Default::default()
    };
    match engine.run_capture(&spec).await {
        Ok(c) if c.exit_code == 0 => Ok(PrivilegedProbe::Granted),
        Ok(c) => Ok(PrivilegedProbe::Refused(format!(
            "`true` exited with {} in a privileged container",
            c.exit_code
        ))),
        Err(e) => {
            let text = format!("{e:#}");
            let why = text
                .split("caps")
                .next()
                .filter(|_| text.contains("unable to apply caps"))
                .map(|_| "unable to apply caps".to_string())
                .unwrap_or_else(|| text.lines().last().unwrap_or("").to_string());
            Ok(PrivilegedProbe::Refused(why))
        }
    }
}

/// Any local image of this tool (the build image, else its base): the probe needs
/// something with `true` in it and must not pull.
async fn probe_image(engine: &Engine) -> Result<String> {
    let images = engine.images_with_label(crate::image::LABEL_IMAGE).await?;
    images
        .into_iter()
        .find_map(|i| i.repo_tags.into_iter().next())
        .context("no embctl image to probe privileges with; run `embctl image build` first")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever `auto` decides must actually start a container on this engine
    /// (on these machines: --privileged is refused, the device set works).
    #[tokio::test(flavor = "multi_thread")]
    async fn auto_privileges_start_a_container_and_forced_modes_are_obeyed() {
        let engine = Engine::connect().await.expect("a Docker engine (see README)");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ws = crate::workspace::Workspace::locate(Some(root)).unwrap();
        let image = crate::image::ensure(&engine, &ws).await.unwrap();

        let auto = qemu_privileges(&engine, PrivilegeMode::Auto).await.unwrap();
        if let Privileges::Devices { cap_add, devices } = &auto {
            assert_eq!(cap_add, &["NET_ADMIN"]);
            for d in devices {
                assert!(QEMU_DEVICES.contains(&d.as_str()) && Path::new(d).exists(), "{d}");
            }
        }
        let spec = ContainerSpec {
            image,
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "for d in /dev/kvm /dev/net/tun; do [ ! -e $d ] || [ -c $d ] || exit 9; done".into(),
            ],
            privileges: auto.clone(),
            network_mode: Some("none".into()),
            ..Default::default()
        };
        assert_eq!(
            engine.run_capture(&spec).await.unwrap().exit_code,
            0,
            "{auto} starts and sees the devices"
        );

        assert_eq!(
            qemu_privileges(&engine, PrivilegeMode::Privileged).await.unwrap(),
            Privileges::Privileged
        );
        assert!(matches!(
            qemu_privileges(&engine, PrivilegeMode::Devices).await.unwrap(),
            Privileges::Devices { .. }
        ));
    }
}
