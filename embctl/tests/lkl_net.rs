//! LKL's own network stack on the NIC, for real (x86/lkl-qemu with a real
//! LKL tree, `EMBCTL_LKL_TREE`; skipped loudly without one): `embctl run
//! --net` boots the kernel under TCG on a TAP in the QEMU container; LKL's
//! eth0 is the guest at 10.0.2.16 and the kernel's own stack keeps
//! 10.0.2.17 on the same NIC (kernel/os/src/lkl/netdev.rs).
//!
//! - ping of 10.0.2.16 from the run container is answered by LKL, ping of
//!   10.0.2.17 by the kernel's smoltcp;
//! - a static glibc program's TCP echo with a server in the container, and
//!   busybox `wget` fetching a file from the container, both through LKL;
//! - a guest server (netprog under LKL) serving the host through --publish;
//! - busybox `ifconfig eth0` and /proc/net/dev, answered by LKL, show its
//!   card, its address and the frames it moved.
//!
//! Without a tree (CI) the device model itself is still tested:
//! `virtiommiotest` drives it in QEMU the way LKL's driver does, bad rings
//! and buffers included.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::guest::GuestRun;
use common::{embctl, run_ok};

/// The tests here build different templates into the same build/base: one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The device model LKL's card is made of, driven as LKL's driver drives
/// it, in the default template (no LKL needed).
#[test]
fn virtio_mmio_device_model_self_test_passes_in_qemu() {
    let _serial = one_at_a_time();
    run_ok(embctl().arg("build"));
    let out = common::run(embctl().args(["run", "--no-build", "--no-kvm", "--timeout", "120", "--check-status", "--cmd", "virtiommiotest"]));
    let text = common::stdout(&out);
    assert!(out.status.success(), "virtiommiotest failed:\n{text}\n{}", common::stderr(&out));
    for area in ["registers", "negotiation", "queues", "transmit", "receive", "bad driver"] {
        assert!(text.contains(&format!("virtiommiotest: {area}: ok")), "missing `{area}: ok`:\n{text}");
    }
    assert!(text.contains("virtiommiotest: all 6 areas passed"), "{text}");
}

/// `embctl/tests/net/netprog.c`, static i386 glibc.
fn netprog() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lkl-netprog");
    let src = common::workspace_root().join("embctl/tests/net/netprog.c");
    let status = Command::new("gcc").args(["-m32", "-static", "-O2", "-Wall", "-o"]).arg(&out).arg(&src).status().expect("run gcc -m32");
    assert!(status.success(), "gcc -m32 -static {} failed", src.display());
    out
}

/// Builds x86/lkl-qemu with LKL from `tree` and boots it with `embctl run
/// --net` and `args`.
fn start(tree: &Path, args: &[String]) -> GuestRun {
    run_ok(embctl().args(["build", "-t", "x86/lkl-qemu", "--lkl-tree"]).arg(tree));
    let mut all: Vec<String> = ["-t", "x86/lkl-qemu", "--no-build", "--no-kvm", "--net", "--timeout", "300"].map(String::from).to_vec();
    all.extend_from_slice(args);
    GuestRun::spawn(&all, Duration::from_secs(180))
}

/// A TCP echo server on 10.0.2.10:9000 and an HTTP server on 10.0.2.10:8000
/// serving /tmp/www/data.bin (300 000 bytes), in the container.
const SERVERS: &str = r#"
import functools, http.server, os, socket, threading
os.makedirs("/tmp/www", exist_ok=True)
with open("/tmp/www/data.bin", "wb") as f: f.write(bytes((i * 7 + 3) % 256 for i in range(300000)))
def echo():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.0.2.10", 9000)); s.listen(1)
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
threading.Thread(target=echo, daemon=True).start()
http.server.ThreadingHTTPServer(("10.0.2.10", 8000), functools.partial(http.server.SimpleHTTPRequestHandler, directory="/tmp/www")).serve_forever()
"#;

/// The whole path through LKL's stack: ping, TCP both ways, busybox wget,
/// and LKL's own view of its card.
#[test]
#[cfg_attr(not(lkl_tree), ignore = "needs a real LKL tree: set EMBCTL_LKL_TREE=DIR when building the tests (CI has none)")]
fn lkl_network_reaches_the_container_and_the_host() {
    let Some(tree) = common::lkl_tree("lkl_network_reaches_the_container_and_the_host") else { return };
    let _serial = one_at_a_time();
    let busybox = common::debian_busybox("lkl-net-test");
    let published = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut args = vec![
        "--add".to_string(),
        format!("{}:/bin/netprog", netprog().display()),
        "--add".to_string(),
        format!("{}:/bin/busybox", busybox.display()),
        "--publish".to_string(),
        format!("{published}:8080"),
    ];
    for cmd in [
        "sleep 30",
        "load_app netprog client 10.0.2.10 9000 abcdefgh 4096",
        "load_app busybox wget -q -O /tmp/data.bin http://10.0.2.10:8000/data.bin",
        "load_app busybox md5sum /tmp/data.bin",
        "load_app netprog server 8080 1",
        "load_app busybox ifconfig eth0",
        "load_app busybox cat /proc/net/dev",
        "dmesg",
    ] {
        args.extend(["--cmd".to_string(), cmd.to_string()]);
    }
    let run = start(&tree, &args);
    let boot = run.text();
    assert!(boot.contains("lkl: eth0 10.0.2.16/24"), "LKL's eth0 was not configured (see the console above)");
    assert!(boot.contains("net: eth0 10.0.2.17/24"), "the kernel's own stack did not move to 10.0.2.17");
    run.python(SERVERS, true);

    // Ping: LKL answers for 10.0.2.16, smoltcp for 10.0.2.17.
    assert_eq!(run.ping("10.0.2.16", 3).len(), 3, "LKL did not answer ping at 10.0.2.16");
    assert_eq!(run.ping("10.0.2.17", 3).len(), 3, "the kernel's own stack did not answer ping at 10.0.2.17");

    // The guest server under LKL, through --publish (to 10.0.2.16:8080).
    run.wait_for("listening on port 8080", Duration::from_secs(240));
    common::guest::echo_through_published_port(published, Duration::from_secs(60));

    let text = run.finish();
    assert!(text.contains("echo ok: sent 32768, received 32768, 0 wrong"), "the TCP echo with the container failed through LKL");
    let want: String = {
        use md5::Digest;
        let data: Vec<u8> = (0..300_000u32).map(|i| ((i * 7 + 3) % 256) as u8).collect();
        md5::Md5::digest(&data).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert!(text.contains(&format!("{want}  /tmp/data.bin")), "busybox wget through LKL did not fetch the file (md5 {want})");
    assert!(text.contains("connection from 10.0.2.10") && text.contains("served 200000 bytes"), "the guest server did not serve the host");
    // LKL's own view: its card, the address and MAC it has, and traffic.
    assert!(text.contains("inet addr:10.0.2.16") && text.contains("HWaddr 52:54:00:12:34:57"), "busybox ifconfig eth0 (LKL) shows no address");
    let eth0 = text.lines().find_map(|l| l.trim_start().strip_prefix("eth0:")).expect("eth0 in LKL's /proc/net/dev");
    let rx_packets: u64 = eth0.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(rx_packets > 100, "LKL's eth0 received only {rx_packets} frames: {eth0}");
    assert!(!text.contains("queue stopped"), "a virtqueue of LKL's card was stopped");
}
