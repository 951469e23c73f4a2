//! Is KVM usable? Not "does /dev/kvm exist": a probe guest ([`guest::PROBE_GUEST`],
//! built from `probe.S`) boots under `qemu-system-i386 -accel kvm` in a container,
//! drops to ring 3, does `int 0x80` back to ring 0 and reports over the serial
//! port and isa-debug-exit. On hosts where KVM breaks at the ring switch the guest
//! hangs or QEMU reports a KVM internal error; we watch the console and decide as
//! soon as either shows, bounded by [`PROBE_TIMEOUT`].

mod guest;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;

use crate::engine::{ContainerSpec, Engine, Privileges};

/// Ok when KVM ran the probe guest through ring 3 and back; Err says why not
/// (TCG is used then).
pub type KvmVerdict = Result<()>;

/// isa-debug-exit status of the probe's success path: (0x10 << 1) | 1.
const EXIT_OK: i64 = 33;
/// isa-debug-exit status when the guest took an unexpected exception.
const EXIT_FAULT: i64 = 35;
/// A working KVM boots, switches rings and exits in well under a second.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a verdict is trusted without probing again.
const CACHE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The verdict's file under the user's cache (`verdict_cache`).
const CACHE_NAME: &str = "kvm-verdict";

/// Which accelerator the probe guest runs under (TCG is the control: the guest
/// itself must pass there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // Tcg: the control in the tests
pub enum ProbeAccel {
    Kvm,
    Tcg,
}

/// The verdict, from the cache when this host kernel and this image (its QEMU)
/// were probed within [`CACHE_TTL`]; otherwise probed (a hang costs [`PROBE_TIMEOUT`]).
pub async fn kvm_usable(engine: &Engine, image: &str) -> KvmVerdict {
    if !Path::new("/dev/kvm").exists() {
        bail!("/dev/kvm does not exist on this host (no hardware virtualisation, or the kvm module is not loaded)");
    }
    let key = cache_key(engine, image).await;
    if let Some(cached) = key.as_deref().and_then(|k| crate::verdict_cache::read(CACHE_NAME, k, CACHE_TTL)) {
        tracing::debug!("KVM verdict from the cache (`embctl doctor` probes again)");
        return cached.map_err(|why| anyhow!("{why} (cached; `embctl doctor` probes again)"));
    }
    probe_and_remember(engine, image, key).await
}

/// Probes now (doctor) and refreshes the cache.
pub async fn kvm_probe_fresh(engine: &Engine, image: &str) -> KvmVerdict {
    if !Path::new("/dev/kvm").exists() {
        bail!("/dev/kvm does not exist on this host (no hardware virtualisation, or the kvm module is not loaded)");
    }
    let key = cache_key(engine, image).await;
    probe_and_remember(engine, image, key).await
}

async fn probe_and_remember(engine: &Engine, image: &str, key: Option<String>) -> KvmVerdict {
    let verdict = run_probe(engine, image, ProbeAccel::Kvm).await;
    if let Some(key) = key {
        crate::verdict_cache::write(CACHE_NAME, &key, verdict.as_ref().map(|_| ()).map_err(|e| format!("{e:#}")));
    }
    verdict
}

/// Host kernel release + image id (which fixes the QEMU version).
async fn cache_key(engine: &Engine, image: &str) -> Option<String> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let id = engine.inspect_image(image).await.ok()??.id;
    if id.is_empty() {
        return None;
    }
    Some(format!("{} {id}", kernel.trim()))
}

/// Boots the probe guest under `accel` in `image`; Ok when it came back from ring 3.
pub async fn run_probe(engine: &Engine, image: &str, accel: ProbeAccel) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("embctl-kvm-probe-")
        .tempdir()
        .context("cannot create a temporary directory for the KVM probe")?;
    let guest_path = dir.path().join("guest.bin");
    std::fs::File::create(&guest_path)
        .and_then(|mut f| f.write_all(&guest::PROBE_GUEST))
        .with_context(|| format!("cannot write the probe guest to {}", guest_path.display()))?;
    // The container's user must be able to read it whatever our umask.
    let _ = std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let (accel_arg, privileges) = match accel {
        ProbeAccel::Kvm => (
            "kvm",
            Privileges::Devices {
                cap_add: vec![],
                devices: vec!["/dev/kvm".into()],
            },
        ),
        ProbeAccel::Tcg => ("tcg", Privileges::None),
    };
    let cmd = [
        "qemu-system-i386",
        "-accel",
        accel_arg,
        "-m",
        "16",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-kernel",
        "/probe/guest.bin",
    ];
    let spec = ContainerSpec {
        image: image.to_string(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        binds: vec![format!("{}:/probe:ro", dir.path().display())],
        privileges,
        network_mode: Some("none".into()),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let mut container = engine.start_attached(&spec).await?;
    let (_input, mut output) = container.take_io();
    let mut console = String::new();
    let watched = tokio::time::timeout(PROBE_TIMEOUT, async {
        while let Some(chunk) = output.next().await {
            console.push_str(&String::from_utf8_lossy(&chunk?));
            if console.contains("KVM internal error") || console.contains("emulation failure") {
                return Ok::<_, anyhow::Error>(Some(
                    "QEMU reported a KVM internal error (emulation failure) when the guest entered ring 3".to_string(),
                ));
            }
        }
        Ok(None)
    })
    .await;
    let verdict = match watched {
        Err(_) => Err(anyhow!(
            "the probe guest did not come back from ring 3 within {}s under {accel_arg} (it hangs)",
            PROBE_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(Some(why))) => Err(anyhow!(why)),
        Ok(Ok(None)) => match container.wait().await? {
            EXIT_OK if console.contains('K') => Ok(()),
            EXIT_FAULT => Err(anyhow!(
                "the probe guest took an unexpected exception under {accel_arg}"
            )),
            code => Err(anyhow!(
                "qemu-system-i386 -accel {accel_arg} exited with {code}: {}",
                console
                    .lines()
                    .rev()
                    .find(|l| !l.contains("warning"))
                    .unwrap_or("no output")
                    .trim()
            )),
        },
    };
    container.remove().await?;
    tracing::debug!(
        "KVM probe under {accel_arg}: {:?} after {:.2}s",
        verdict.as_ref().map_err(|e| e.to_string()),
        started.elapsed().as_secs_f64()
    );
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control for the KVM verdict: the same guest must pass under TCG, or an
    /// "unusable" KVM verdict would say nothing. Needs the engine and the build image.
    #[tokio::test(flavor = "multi_thread")]
    async fn probe_guest_comes_back_from_ring3_under_tcg() {
        let engine = Engine::connect().await.expect("a Docker engine (see README)");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ws = crate::workspace::Workspace::locate(Some(root)).unwrap();
        let image = crate::image::ensure(&engine, &ws).await.unwrap();
        run_probe(&engine, &image, ProbeAccel::Tcg)
            .await
            .expect("the probe guest passes under TCG");
    }

    #[test]
    fn probe_guest_has_a_valid_multiboot_header() {
        let word = |i: usize| u32::from_le_bytes(guest::PROBE_GUEST[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), 0x1BAD_B002);
        assert_eq!(word(0).wrapping_add(word(1)).wrapping_add(word(2)), 0, "checksum");
        assert_eq!(
            word(5) as usize - 0x100000,
            guest::PROBE_GUEST.len(),
            "load_end_addr covers the file"
        );
    }
}
