//! The last KVM verdict, in `$XDG_CACHE_HOME/embctl/kvm-verdict`: three lines —
//! key (host kernel + image id), unix time, and `usable` or `unusable: WHY`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

fn path() -> Option<PathBuf> {
    Some(dirs::cache_dir()?.join("embctl").join("kvm-verdict"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The cached verdict for `key` when fresh.
pub fn read(key: &str) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(path()?).ok()?;
    let mut lines = text.lines();
    let (k, t, v) = (lines.next()?, lines.next()?.parse::<u64>().ok()?, lines.next()?);
    if k != key || now().saturating_sub(t) > super::CACHE_TTL.as_secs() {
        return None;
    }
    match v.strip_prefix("unusable: ") {
        Some(why) => Some(Err(why.to_string())),
        None if v == "usable" => Some(Ok(())),
        None => None,
    }
}

pub fn write(key: &str, verdict: Result<(), String>) {
    let Some(path) = path() else { return };
    let v = match verdict {
        Ok(()) => "usable".to_string(),
        Err(why) => format!("unusable: {}", why.replace('\n', " ")),
    };
    let _ = std::fs::create_dir_all(path.parent().expect("has a parent"));
    if let Err(e) = std::fs::write(&path, format!("{key}\n{}\n{v}\n", now())) {
        tracing::debug!("cannot cache the KVM verdict in {}: {e}", path.display());
    }
}
