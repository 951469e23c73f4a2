//! Verdicts of slow host probes, kept in `$XDG_CACHE_HOME/embctl/<name>`: three
//! lines — the key the verdict holds for, unix time, and `usable` or
//! `unusable: WHY`. Used for the KVM probe (`kvm-verdict`) and for whether the
//! engine refuses `--privileged` (`privileged-verdict`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn path(name: &str) -> Option<PathBuf> {
    Some(dirs::cache_dir()?.join("embctl").join(name))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The cached verdict `name` for `key` when younger than `ttl`.
pub fn read(name: &str, key: &str, ttl: Duration) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(path(name)?).ok()?;
    let mut lines = text.lines();
    let (k, t, v) = (lines.next()?, lines.next()?.parse::<u64>().ok()?, lines.next()?);
    if k != key || now().saturating_sub(t) > ttl.as_secs() {
        return None;
    }
    match v.strip_prefix("unusable: ") {
        Some(why) => Some(Err(why.to_string())),
        None if v == "usable" => Some(Ok(())),
        None => None,
    }
}

pub fn write(name: &str, key: &str, verdict: Result<(), String>) {
    let Some(path) = path(name) else { return };
    let v = match verdict {
        Ok(()) => "usable".to_string(),
        Err(why) => format!("unusable: {}", why.replace('\n', " ")),
    };
    let _ = std::fs::create_dir_all(path.parent().expect("has a parent"));
    if let Err(e) = std::fs::write(&path, format!("{}\n{}\n{v}\n", key.replace('\n', " "), now())) {
        tracing::debug!("cannot cache the verdict in {}: {e}", path.display());
    }
}
