//! `embctl run --net`: the guest's network, as in Embox's seed setup.
//!
//! Inside the QEMU container (it has NET_ADMIN and /dev/net/tun), a TAP
//! device `embtap0` takes the host side, 10.0.2.10/24; the guest kernel is
//! 10.0.2.16 (its template's `[net]`), with a virtio-net NIC. Each
//! `--publish HOSTPORT:GUESTPORT` is published by the engine on the host's
//! 127.0.0.1 only, and a small relay in the container carries it to the
//! guest. Where a TAP cannot be created, QEMU's user-mode network (slirp)
//! takes over with the same addresses (`restrict=on`: the guest reaches
//! nothing but the container, through `--publish` ports) and the log says so.
//!
//! Nothing outlives the run: the TAP lives in the container's own network
//! namespace and goes with the container, which is removed on every exit
//! path (Ctrl-C included). IP forwarding is off in that namespace, so guest
//! traffic stops at the container.
//!
//! Pure functions: `run` puts their results into the container spec.

use anyhow::{bail, Context, Result};

use crate::engine::ContainerSpec;

/// The guest's address (the template's `[net] address`).
pub const GUEST_ADDR: &str = "10.0.2.16";
/// The host side of the TAP, the guest's gateway.
pub const HOST_ADDR: &str = "10.0.2.10";
/// The TAP device inside the container.
pub const TAP_NAME: &str = "embtap0";
/// The guest NIC's MAC (QEMU's default, locally administered).
pub const GUEST_MAC: &str = "52:54:00:12:34:56";

/// One `--publish HOSTPORT:GUESTPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    pub host: u16,
    pub guest: u16,
}

impl Publish {
    pub fn parse(spec: &str) -> Result<Publish> {
        let (host, guest) = spec
            .split_once(':')
            .with_context(|| format!("--publish {spec:?}: expected HOSTPORT:GUESTPORT, e.g. 2323:23"))?;
        let port = |what: &str, text: &str| -> Result<u16> {
            match text.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => bail!("--publish {spec:?}: {what} port {text:?} is not a number in 1..=65535"),
            }
        };
        Ok(Publish { host: port("host", host)?, guest: port("guest", guest)? })
    }
}

/// Checks a list of publishes: no host port twice.
pub fn check_publishes(list: &[Publish]) -> Result<()> {
    for (i, p) in list.iter().enumerate() {
        if list[..i].iter().any(|q| q.host == p.host) {
            bail!("--publish: host port {} is given twice", p.host);
        }
    }
    Ok(())
}

/// Relays one TCP port of the container to the guest (TAP mode); run with
/// `python3 -c RELAY LISTENPORT GUESTADDR GUESTPORT`.
const RELAY: &str = r#"
import socket, sys, threading
port, addr, gport = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(c):
    try:
        g = socket.create_connection((addr, gport), timeout=10)
        g.settimeout(None)
    except OSError:
        c.close()
        return
    t = threading.Thread(target=pipe, args=(c, g), daemon=True)
    t.start()
    pipe(g, c)
    t.join()
    c.close()
    g.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// The container port that carries host port `p.host` (the same number).
fn container_port(p: &Publish) -> u16 {
    p.host
}

/// The shell script that sets the network up in the container and then
/// execs QEMU (`"$@"`, the argv) with the NIC added. `romfile=`: no boot
/// ROM (iPXE) for the NIC; nothing here boots from the network, and QEMU
/// then has no ROM file to load at start-up.
pub fn setup_script(publish: &[Publish]) -> String {
    let relays: String = publish
        .iter()
        .map(|p| format!("  python3 -c \"$RELAY\" {} {GUEST_ADDR} {} &\n", container_port(p), p.guest))
        .collect();
    let hostfwd: String = publish
        .iter()
        .map(|p| format!(",hostfwd=tcp::{}-{GUEST_ADDR}:{}", container_port(p), p.guest))
        .collect();
    let published: String = publish.iter().map(|p| format!(" 127.0.0.1:{}->guest:{}", p.host, p.guest)).collect();
    format!(
        r#"if err=$(ip tuntap add dev {TAP_NAME} mode tap 2>&1 && ip addr add {HOST_ADDR}/24 dev {TAP_NAME} 2>&1 && ip link set {TAP_NAME} up 2>&1); then
  echo "embctl: network: TAP {TAP_NAME}, host side {HOST_ADDR}/24, guest {GUEST_ADDR}{published_note}" >&2
{relays}  NETDEV=tap,id=n0,ifname={TAP_NAME},script=no,downscript=no
else
  echo "embctl: network: no TAP device here ($err); falling back to QEMU user-mode networking (slirp): the guest is {GUEST_ADDR} behind {HOST_ADDR}, reachable only through --publish ports{published_note}" >&2
  NETDEV=user,id=n0,net=10.0.2.0/24,host={HOST_ADDR},dhcpstart={GUEST_ADDR},restrict=on{hostfwd}
fi
exec "$@" -netdev "$NETDEV" -device virtio-net-pci,netdev=n0,mac={GUEST_MAC},romfile=
"#,
        published_note = if published.is_empty() { String::new() } else { format!(";{published}") },
    )
}

/// Turns the QEMU container into a networked one: the command runs through
/// [`setup_script`], the published ports are bound on the host's loopback,
/// and forwarding is off in its network namespace.
pub fn apply(spec: &mut ContainerSpec, publish: &[Publish]) {
    let qemu_argv = std::mem::take(&mut spec.cmd);
    spec.cmd = vec!["sh".into(), "-c".into(), setup_script(publish), "sh".into()];
    spec.cmd.extend(qemu_argv);
    spec.env.push(format!("RELAY={RELAY}"));
    spec.published_tcp = publish.iter().map(|p| (p.host, container_port(p))).collect();
    spec.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    spec.sysctls.insert("net.ipv4.conf.all.forwarding".into(), "0".into());
    spec.sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "1".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_parses_and_rejects_bad_ports() {
        assert_eq!(Publish::parse("2323:23").unwrap(), Publish { host: 2323, guest: 23 });
        for bad in ["23", "0:23", "2323:0", "x:23", "70000:23", "2323:"] {
            let err = Publish::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--publish"), "{bad}: {err}");
        }
        let twice = [Publish { host: 1, guest: 2 }, Publish { host: 1, guest: 3 }];
        assert!(check_publishes(&twice).is_err());
    }

    #[test]
    fn script_sets_up_tap_with_slirp_fallback_and_execs_qemu() {
        let s = setup_script(&[Publish { host: 2323, guest: 23 }]);
        assert!(s.contains("ip tuntap add dev embtap0 mode tap"));
        assert!(s.contains("ip addr add 10.0.2.10/24 dev embtap0"));
        assert!(s.contains("python3 -c \"$RELAY\" 2323 10.0.2.16 23 &"));
        assert!(s.contains("restrict=on,hostfwd=tcp::2323-10.0.2.16:23"));
        assert!(s.contains("falling back to QEMU user-mode networking"));
        assert!(s.trim_end().ends_with("-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile="));
    }

    #[test]
    fn apply_publishes_on_loopback_only_and_turns_forwarding_off() {
        let mut spec = ContainerSpec { cmd: vec!["qemu-system-i386".into(), "-m".into(), "128".into()], ..Default::default() };
        apply(&mut spec, &[Publish { host: 8080, guest: 80 }]);
        assert_eq!(&spec.cmd[..2], ["sh", "-c"]);
        assert_eq!(&spec.cmd[3..], ["sh", "qemu-system-i386", "-m", "128"]);
        assert_eq!(spec.published_tcp, vec![(8080, 8080)]);
        assert_eq!(spec.sysctls.get("net.ipv4.ip_forward").map(String::as_str), Some("0"));
        assert!(spec.env.iter().any(|e| e.starts_with("RELAY=")));
    }
}
