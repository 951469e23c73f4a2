//! What `uname` reports (the shell command and, later, the uname syscall).

use alloc::string::String;

#[derive(Debug, Clone)]
pub struct Uname {
    pub sysname: &'static str,
    pub nodename: String,
    pub release: &'static str,
    pub version: String,
    pub machine: &'static str,
}

/// The system's identity; the node name comes from `/etc/hostname`.
pub fn uname() -> Uname {
    let nodename = crate::vfs::with(|vfs| {
        vfs.lookup("/etc/hostname")
            .and_then(|id| vfs.read_all(id, 256))
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .map(|s| String::from(s.trim()))
    })
    .filter(|s| !s.is_empty())
    .unwrap_or_else(|| String::from("embox"));
    Uname {
        sysname: "Embox",
        nodename,
        release: env!("CARGO_PKG_VERSION"),
        version: alloc::format!("#1 {}", crate::config().template),
        machine: "i686",
    }
}
