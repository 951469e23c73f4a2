//! The only code that talks to the Docker Engine API (bollard): connection,
//! containers with a cleanup guard, and images. Operations above this module
//! describe *what* to run ([`ContainerSpec`]); this module decides *how*.
//!
//! Invariant: every container this tool creates carries [`MANAGED_LABEL`] and is
//! removed on every path out (normal exit, error, drop, SIGINT/SIGTERM/SIGHUP).

mod cleanup;
mod container;
pub mod images;
mod orphans;
pub mod privileges;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use bollard::Docker;

#[allow(unused_imports)] // the engine API for the other operations, used or not yet
pub use container::{AttachedContainer, Captured, ContainerInput, ContainerOutput};
pub use images::ImageInfo;
pub use orphans::ROLE_LABEL;

/// Label put on every container (and image) this tool creates, so leftovers can
/// be found: `docker ps -a --filter label=org.embctl.managed=true`.
pub use embctl_base_rootfs::recipe::MANAGED_LABEL;

/// How long the first ping may take before we call the engine unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected, version-negotiated Docker engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// The address we connected to (DOCKER_HOST or the default socket), for messages.
    address: String,
    /// Negotiated API version, e.g. "1.47".
    api_version: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST` (unix:// and tcp://; default: the local socket),
    /// pings, and negotiates the API version. When no engine answers the error is a
    /// single line naming the address, the cause, and what to do.
    pub async fn connect() -> Result<Engine> {
        let address = docker_host();
        let unreachable = |cause: String| {
            anyhow::anyhow!(
                "cannot reach the Docker engine at {address}: {cause}; start dockerd \
                 (e.g. `systemctl start docker`, or `dockerd &` as root) or set DOCKER_HOST \
                 to a running engine (unix:///path/to/docker.sock or tcp://HOST:PORT)"
            )
        };
        let docker = Docker::connect_with_host(&address).map_err(|e| unreachable(e.to_string()))?;
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Err(_) => return Err(unreachable(format!("no answer within {}s", PING_TIMEOUT.as_secs()))),
            Ok(Err(e)) => return Err(unreachable(root_cause(&e))),
            Ok(Ok(_)) => {}
        }
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(root_cause(&e)))?;
        let api_version = docker.client_version().to_string();
        cleanup::install(&docker);
        tracing::debug!("connected to the Docker engine at {address}, API {api_version}");
        Ok(Engine {
            docker,
            address,
            api_version,
        })
    }

    /// The engine's data root (`/var/lib/docker` unless configured), when it says.
    pub async fn data_root(&self) -> Option<String> {
        self.docker.info().await.ok()?.docker_root_dir
    }

    /// A container's address on the engine's network, when it has one.
    pub async fn container_ip(&self, name: &str) -> Option<String> {
        let info = self.docker.inspect_container(name, None).await.ok()?;
        let networks = info.network_settings?.networks?;
        networks.values().filter_map(|n| n.ip_address.clone()).find(|ip| !ip.is_empty())
    }

    /// The address this engine was reached at (for messages).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The negotiated API version.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The engine's own version string (e.g. "26.1.5").
    pub async fn server_version(&self) -> Result<String> {
        let v = self.docker.version().await?;
        Ok(v.version.unwrap_or_else(|| "unknown".into()))
    }
}

/// What to run: the engine-independent description of one container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub cmd: Vec<String>,
    pub workdir: Option<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// `host:container[:ro]` bind mounts.
    pub binds: Vec<String>,
    /// `uid:gid` to run as (default: the image's user).
    pub user: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub privileges: Privileges,
    /// Extra labels; [`MANAGED_LABEL`] is always added.
    pub labels: BTreeMap<String, String>,
    /// Run an init (tini) as PID 1 so signals reach the command and zombies are reaped.
    pub init: bool,
    /// Network mode (e.g. "none", "host"); default: the engine's default bridge.
    pub network_mode: Option<String>,
    /// Key sequence that detaches an attached client (e.g. "ctrl-_"); the engine handles it.
    pub detach_keys: Option<String>,
    /// `--security-opt no-new-privileges`: setuid programs in the container cannot raise privileges.
    pub no_new_privileges: bool,
    /// TCP ports published on the host's 127.0.0.1 only: (host port, container port).
    pub published_tcp: Vec<(u16, u16)>,
    /// Namespaced sysctls of the container (e.g. `net.ipv4.ip_forward=0`).
    pub sysctls: BTreeMap<String, String>,
}

/// What the container may do beyond an ordinary unprivileged container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Privileges {
    #[default]
    None,
    /// `--privileged`.
    Privileged,
    /// Exactly these capabilities and host devices (`/dev/kvm`, mapped to the same path).
    Devices { cap_add: Vec<String>, devices: Vec<String> },
}

impl std::fmt::Display for Privileges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Privileges::None => write!(f, "unprivileged"),
            Privileges::Privileged => write!(f, "--privileged"),
            Privileges::Devices { cap_add, devices } => {
                let caps = cap_add.iter().map(|c| format!("--cap-add {c}"));
                let devs = devices.iter().map(|d| format!("--device {d}"));
                write!(f, "{}", caps.chain(devs).collect::<Vec<_>>().join(" "))
            }
        }
    }
}

/// The engine address as the user configured it.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// The innermost cause of an engine error, as one short phrase
/// (e.g. "No such file or directory (os error 2)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = err;
    let mut text = cur.to_string();
    while let Some(next) = cur.source() {
        cur = next;
        text = cur.to_string();
    }
    text
}

/// An engine error with the container or image it concerns.
pub(crate) fn engine_err(what: impl std::fmt::Display, err: bollard::errors::Error) -> anyhow::Error {
    anyhow::Error::new(err).context(what.to_string())
}
