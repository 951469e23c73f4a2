//! The kernel's network, for real: `embctl run --net` boots the kernel under
//! TCG with a virtio-net NIC on a TAP inside the QEMU container. All traffic
//! stays on this machine: the guest (10.0.2.16), the container (10.0.2.10)
//! and the host's 127.0.0.1 through `--publish`.
//!
//! - ping the guest from inside the run container (raw ICMP from python3);
//! - telnet sessions through the published port: `uname -a`, two sessions at
//!   once that do not see each other's output, `exit` logs out;
//! - bad input: random frames injected on the TAP and a port scan leave the
//!   kernel answering and the run ends with `poweroff`;
//! - Debian's busybox in the guest: `wget` fetches a file from an HTTP server
//!   in the container, `nc` talks to an echo server there;
//! - busybox `httpd` as a daemon in the guest (a child forked per
//!   connection) serves the host through --publish, also several at once.
//! - a program asking for more listening sockets than the kernel heap holds
//!   gets ENOMEM, and the heap is whole again after it exits.
//!
//! Needs a Docker engine that grants NET_ADMIN and /dev/net/tun (the run
//! falls back to user-mode networking otherwise, and these tests say so and
//! fail: they test the TAP setup).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use common::guest::GuestRun;
use common::{embctl, run_ok};

fn build_once() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        run_ok(embctl().arg("build"));
    });
}

/// A free TCP port on the host's loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Boots the guest with `embctl run --net`; it stays up for `seconds` (a
/// `sleep` at the prompt), then shows `ifconfig` and `netstat` and powers off.
fn start(publish: &[(u16, u16)], seconds: u32) -> GuestRun {
    start_with(publish, seconds, &[])
}

/// Like [`start`], with more `embctl run` arguments (e.g. `--add`).
fn start_with(publish: &[(u16, u16)], seconds: u32, extra: &[String]) -> GuestRun {
    build_once();
    let mut args: Vec<String> = ["--no-build", "--no-kvm", "--net", "--timeout", "120"].map(String::from).to_vec();
    args.extend_from_slice(extra);
    for (host, guest) in publish {
        args.extend(["--publish".to_string(), format!("{host}:{guest}")]);
    }
    for cmd in [format!("sleep {seconds}"), "ifconfig".to_string(), "netstat".to_string()] {
        args.extend(["--cmd".to_string(), cmd]);
    }
    GuestRun::spawn(&args, Duration::from_secs(120))
}

/// A telnet client on the published port: skips option negotiation, reads
/// until a marker.
struct Telnet {
    stream: TcpStream,
    seen: Vec<u8>,
}

impl Telnet {
    fn connect(port: u16) -> Telnet {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the published telnet port");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut t = Telnet { stream, seen: Vec::new() };
        t.read_until("embox> ");
        t
    }

    /// Reads until `marker`; returns the text read (CR removed).
    fn read_until(&mut self, marker: &str) -> String {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&self.seen).replace('\r', "");
            if let Some(at) = text.find(marker) {
                let cut = text[..at + marker.len()].to_string();
                let rest = text[at + marker.len()..].as_bytes().to_vec();
                self.seen = rest;
                return cut;
            }
            let n = self.stream.read(&mut buf).unwrap_or_else(|e| panic!("waiting for {marker:?}: {e}; got {text:?}"));
            assert!(n > 0, "connection closed while waiting for {marker:?}; got {text:?}");
            let data: Vec<u8> = strip_negotiation(&buf[..n]);
            self.seen.extend_from_slice(&data);
        }
    }

    fn send_line(&mut self, line: &str) {
        self.stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    }

    fn command(&mut self, line: &str) -> String {
        self.stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.read_until("embox> ")
    }
}

fn strip_negotiation(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 255 && i + 2 < bytes.len() + 1 {
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn the_guest_answers_ping_from_the_run_container() {
    let run = start(&[], 25);
    let rtts = run.ping("10.0.2.16", 5);
    assert_eq!(rtts.len(), 5, "every echo request gets its reply");
    let console = run.finish();
    assert!(console.contains("inet 10.0.2.16/24"), "ifconfig shows the template's address");
}

#[test]
fn telnet_sessions_through_the_published_port() {
    let port = free_port();
    let run = start(&[(port, 23)], 30);
    let mut a = Telnet::connect(port);
    let out = a.command("uname -a");
    assert!(out.contains("Embox embox"), "uname -a over telnet: {out:?}");
    // A second session at the same time: each sees only its own output.
    let mut b = Telnet::connect(port);
    for i in 0..5 {
        let oa = a.command(&format!("echo session-a-{i}"));
        let ob = b.command(&format!("echo session-b-{i}"));
        assert!(oa.contains(&format!("session-a-{i}")) && !oa.contains("session-b"), "session a got {oa:?}");
        assert!(ob.contains(&format!("session-b-{i}")) && !ob.contains("session-a"), "session b got {ob:?}");
    }
    b.stream.write_all(b"exit\r\n").unwrap();
    let bye = b.read_until("logout");
    assert!(bye.contains("logout"));
    a.stream.write_all(b"logout\r\n").unwrap();
    a.read_until("logout");
    let mut rest = Vec::new();
    let _ = a.stream.read_to_end(&mut rest);
    let console = run.finish();
    assert!(!console.contains("session-a-") && !console.contains("session-b-"), "session output leaked to the console");
    let started = console.lines().filter(|l| l.contains("telnet: session from") && l.contains("(pid")).count();
    let ended = console.lines().filter(|l| l.contains("telnet: session from") && l.trim_end().ends_with("ended")).count();
    assert_eq!((started, ended), (2, 2), "two sessions started and both ended");
}

/// Random frames on the TAP (to the guest's MAC and to broadcast, some with
/// an IPv4 or ARP type and random bodies), then a TCP connect scan of ports
/// 1-1024: the kernel must still answer ping and telnet.
const GARBAGE: &str = r#"
import os, random, socket
random.seed(1234)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("embtap0", 0))
guest = bytes.fromhex("525400123456")
src = bytes.fromhex("02aabbccddee")
sent = 0
for i in range(3000):
    dst = guest if i % 3 else b"\xff" * 6
    etype = random.choice([b"\x08\x00", b"\x08\x06", b"\x86\xdd", os.urandom(2)])
    body = bytearray(os.urandom(random.randint(0, 1500)))
    if etype == b"\x08\x00" and len(body) >= 20 and i % 2:
        body[0] = 0x45; body[12:16] = bytes([10, 0, 2, 10]); body[16:20] = bytes([10, 0, 2, 16])
    s.send(dst + src + etype + bytes(body))
    sent += 1
s.send(guest + src + b"\x08\x00")  # runt frame
print("frames", sent)
open_ports = []
for port in range(1, 1025):
    c = socket.socket(); c.settimeout(0.5)
    try:
        c.connect(("10.0.2.16", port)); open_ports.append(port)
    except OSError:
        pass
    c.close()
print("open", open_ports)
"#;

/// TCP SYNs to the telnet port from a raw socket in the container (the host
/// leaves their checksum to us, so the frame comes unvouched even with the
/// NIC's checksum offload): one with a wrong checksum must go unanswered,
/// one with the right checksum gets a SYN-ACK.
const SYN_CHECKSUMS: &str = r#"
import socket, struct, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src, dst = socket.inet_aton("10.0.2.10"), socket.inet_aton("10.0.2.16")
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP); r.settimeout(0.5)
def syn(sport, good):
    hdr = struct.pack("!HHIIBBHHH", sport, 23, 1000, 0, 5 << 4, 0x02, 8192, 0, 0)
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(hdr)) + hdr) ^ (0 if good else 0x5555)
    r.sendto(hdr[:16] + struct.pack("!H", c) + hdr[18:], ("10.0.2.16", 0))
    end = time.time() + 3
    while time.time() < end:
        try: d = r.recv(2048)
        except socket.timeout: continue
        t = d[(d[0] & 15) * 4:]
        if d[12:16] == dst and struct.unpack("!HH", t[:4]) == (23, sport) and t[13] & 0x12 == 0x12: return True
    return False
print("wrong checksum answered", syn(40001, False))
print("right checksum answered", syn(40002, True))
"#;

#[test]
fn random_frames_and_a_port_scan_leave_the_kernel_alive() {
    let port = free_port();
    let run = start(&[(port, 23)], 45);
    let out = run.python(GARBAGE, false);
    assert!(out.contains("frames 3000"));
    assert!(out.contains("open [23]"), "only the telnet port is open: {out}");
    let out = run.python(SYN_CHECKSUMS, false);
    assert!(out.contains("wrong checksum answered False"), "a SYN with a wrong TCP checksum was answered: {out}");
    assert!(out.contains("right checksum answered True"), "a SYN with the right TCP checksum went unanswered: {out}");
    assert_eq!(run.ping("10.0.2.16", 3).len(), 3, "ping still answered after the garbage");
    let mut t = Telnet::connect(port);
    assert!(t.command("uname").contains("Embox"));
    t.stream.write_all(b"exit\r\n").unwrap();
    let console = run.finish();
    assert!(!console.contains("kernel panic"));
}

/// `embctl/tests/net/netprog.c`, static i386 glibc.
fn netprog() -> std::path::PathBuf {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("netprog");
    let src = common::workspace_root().join("embctl/tests/net/netprog.c");
    let status = Command::new("gcc")
        .args(["-m32", "-static", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run gcc (gcc-multilib is needed for -m32)");
    assert!(status.success(), "gcc -m32 -static {} failed", src.display());
    out
}

/// smoltcp allocates a TCP socket's buffers whole when it is created, and a
/// listening socket's pool before any connection comes: a program asking
/// for more listeners than the heap holds gets ENOMEM, not a kernel panic
/// (session 9 found main's kernel panicking at the fourth `listen(s, 8)`:
/// "memory allocation of 131072 bytes failed"), and all of it comes back
/// when the program exits.
#[test]
fn listeners_past_the_heap_get_enomem_and_the_heap_comes_back() {
    build_once();
    let netprog = netprog().display().to_string();
    let mut args: Vec<String> = ["run", "--no-build", "--no-kvm", "--net", "--timeout", "120", "--add", &netprog].map(String::from).to_vec();
    // 40 listening sockets of backlog 8 need about 130 MiB: more than the
    // guest's RAM, whatever heap the template gives the kernel.
    for cmd in ["free", "load_app netprog listeners 6000 40 8", "load_app netprog listeners 6000 40 8", "free"] {
        args.extend(["--cmd".to_string(), cmd.to_string()]);
    }
    let out = common::stdout(&run_ok(embctl().args(&args)));
    assert!(!out.contains("kernel panic"), "{out}");
    let runs: Vec<&str> = out.lines().filter(|l| l.contains("listeners: ")).collect();
    assert_eq!(runs.len(), 2, "{out}");
    assert_eq!(runs[0], runs[1], "the second run found less memory than the first: {out}");
    assert!(runs[0].contains("listening") && !runs[0].contains(" 0 refused"), "40 listeners of backlog 8 fit the heap? {out}");
    assert!(out.contains("Cannot allocate memory"), "{out}");
    let heap_used: Vec<u64> =
        out.lines().filter(|l| l.starts_with("heap ")).filter_map(|l| l.split_whitespace().nth(2)?.parse().ok()).collect();
    assert_eq!(heap_used.len(), 2, "{out}");
    assert!(heap_used[1] <= heap_used[0] + 64, "heap used {} KiB before, {} KiB after the programs: {out}", heap_used[0], heap_used[1]);
}

/// A TCP echo server in the QEMU container on 10.0.2.10:PORT, one connection.
const CONTAINER_ECHO: &str = r#"
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.2.10", PORT)); s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d)
c.close()
"#;

#[test]
fn linux_programs_talk_tcp_and_udp() {
    let (telnet, published) = (free_port(), free_port());
    let extra = [String::from("--add"), netprog().display().to_string()];
    let run = start_with(&[(telnet, 23), (published, 8080)], 60, &extra);
    let mut a = Telnet::connect(telnet);
    let mut b = Telnet::connect(telnet);

    // A static glibc TCP echo pair over 127.0.0.1.
    a.send_line("load_app netprog server 7777 1");
    a.read_until("listening on port 7777");
    let out = b.command("load_app netprog client 127.0.0.1 7777 hello 2000");
    assert!(out.contains("echo ok: sent 10000, received 10000, 0 wrong"), "{out}");
    let out = a.read_until("embox> ");
    assert!(out.contains("connection from 127.0.0.1") && out.contains("served 10000 bytes"), "{out}");

    // UDP over 127.0.0.1, the client waiting in poll().
    a.send_line("load_app netprog udp-echo 7000 1");
    a.read_until("udp on port 7000");
    let out = b.command("load_app netprog udp-ping 127.0.0.1 7000 hi-udp");
    assert!(out.contains("udp answer: hi-udp"), "{out}");
    assert!(a.read_until("embox> ").contains("udp echoed 1"));

    // The guest as a client of a server in the run container.
    let container = run.container();
    let status = Command::new("docker")
        .args(["exec", "-d", &container, "python3", "-c", &CONTAINER_ECHO.replace("PORT", "9000")])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_secs(1));
    let out = b.command("load_app netprog client 10.0.2.10 9000 abcdefgh 4096");
    assert!(out.contains("echo ok: sent 32768, received 32768, 0 wrong"), "{out}");

    // The host as a client of a guest server, through --publish.
    a.send_line("load_app netprog server 8080 1");
    a.read_until("listening on port 8080");
    common::guest::echo_through_published_port(published, Duration::from_secs(20));
    assert!(a.read_until("embox> ").contains("served 200000 bytes"));

    a.send_line("exit");
    b.send_line("exit");
    let console = run.finish();
    assert!(!console.contains("kernel panic"));
    // Over the TAP the NIC offloads checksums and segmentation, and the TCP
    // above went both ways in frames larger than the link's (ifconfig's
    // counters at the end of the run).
    assert!(console.contains("offloads: rx checksum on tx checksum on large receive on segmentation on"), "{console}");
    let large = |prefix: &str| -> u64 {
        let line = console.lines().find(|l| l.trim_start().starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} line: {console}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "large").expect("a large counter");
        words[at + 1].parse().unwrap()
    };
    assert!(large("TX packets") > 0, "no TCP segment went to the NIC whole: {console}");
    assert!(large("RX packets") > 0, "no coalesced TCP segment came from the host: {console}");
}

/// An HTTP server in the QEMU container on 10.0.2.10:8000 serving
/// /tmp/www/data.bin (300 000 bytes of a fixed pattern); prints nothing.
const CONTAINER_HTTP: &str = r#"
import functools, http.server, os
os.makedirs("/tmp/www", exist_ok=True)
with open("/tmp/www/data.bin", "wb") as f:
    f.write(bytes((i * 7 + 3) % 256 for i in range(300000)))
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/tmp/www")
http.server.ThreadingHTTPServer(("10.0.2.10", 8000), handler).serve_forever()
"#;

#[test]
fn busybox_wget_and_nc_talk_to_the_container() {
    let busybox = common::debian_busybox("net-test");
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("message.txt");
    std::fs::write(&message, "hello from busybox nc\n").unwrap();
    let telnet = free_port();
    let extra = [
        String::from("--add"),
        format!("{}:/bin/busybox", busybox.display()),
        String::from("--add"),
        format!("{}:/etc/message.txt", message.display()),
    ];
    let run = start_with(&[(telnet, 23)], 60, &extra);
    let container = run.container();
    for (code, port) in [(CONTAINER_HTTP, "8000"), (CONTAINER_ECHO, "9000")] {
        let status = Command::new("docker")
            .args(["exec", "-d", &container, "python3", "-c", &code.replace("PORT", port)])
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::thread::sleep(Duration::from_secs(2));
    let data: Vec<u8> = (0..300_000u32).map(|i| ((i * 7 + 3) % 256) as u8).collect();
    let want: String = {
        use md5::Digest;
        md5::Md5::digest(&data).iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut t = Telnet::connect(telnet);
    let out = t.command("load_app busybox wget -q -O /tmp/data.bin http://10.0.2.10:8000/data.bin");
    let status = t.command("echo wget=$?");
    assert!(status.contains("wget=0"), "busybox wget failed: {out}{status}");
    let out = t.command("load_app busybox md5sum /tmp/data.bin");
    assert!(out.contains(&want), "the fetched file differs from the served one (md5 {want}): {out}");
    let out = t.command("load_app busybox nc -w 5 10.0.2.10 9000 < /etc/message.txt");
    assert!(out.contains("hello from busybox nc"), "no echo through busybox nc: {out}");
    t.stream.write_all(b"exit\r\n").unwrap();
    let console = run.finish();
    assert!(!console.contains("kernel panic"));
}

/// `GET path` over HTTP/1.0 to 127.0.0.1:port: (status line, body).
fn http_get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect to the published HTTP port");
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(format!("GET {path} HTTP/1.0\r\nHost: embox\r\n\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap_or_else(|e| panic!("reading the answer to GET {path}: {e}"));
    let head_end = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no HTTP header in {:?}", String::from_utf8_lossy(&reply)));
    let status = String::from_utf8_lossy(&reply[..head_end]).lines().next().unwrap_or("").to_string();
    (status, reply[head_end + 4..].to_vec())
}

/// busybox `httpd` as a daemon in the guest: it forks a child per
/// connection, which serves it on the accepted socket while the parent
/// closes its copy and accepts the next (sockets survive fork, and only the
/// last close ends the connection). The host fetches through --publish,
/// one after another and several at once.
#[test]
fn busybox_httpd_in_the_guest_serves_the_host() {
    let busybox = common::debian_busybox("net-test");
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| ((i * 13 + 5) % 256) as u8).collect();
    std::fs::write(www.join("data.bin"), &data).unwrap();
    std::fs::write(www.join("index.html"), "<h1>embox httpd</h1>\n").unwrap();
    let (telnet, http) = (free_port(), free_port());
    let extra = [
        String::from("--add"),
        format!("{}:/bin/busybox", busybox.display()),
        String::from("--add"),
        format!("{}:/www", www.display()),
    ];
    let run = start_with(&[(telnet, 23), (http, 80)], 60, &extra);
    let mut t = Telnet::connect(telnet);
    // Without -f httpd daemonizes: the shell gets its prompt back.
    let out = t.command("load_app busybox httpd -p 80 -h /www");
    let status = t.command("echo httpd=$?");
    assert!(status.contains("httpd=0"), "busybox httpd did not start: {out}{status}");

    for round in 0..3 {
        let (status, body) = http_get(http, "/data.bin");
        assert!(status.contains(" 200 "), "round {round}: {status}");
        assert!(body == data, "round {round}: the fetched file differs ({} of {} bytes)", body.len(), data.len());
    }
    let (status, body) = http_get(http, "/index.html");
    assert!(status.contains(" 200 ") && body == b"<h1>embox httpd</h1>\n", "{status}: {:?}", String::from_utf8_lossy(&body));
    let (status, _) = http_get(http, "/missing.txt");
    assert!(status.contains(" 404 "), "a missing file: {status}");

    // Four at once: four children serving at the same time.
    let fetches: Vec<_> = (0..4).map(|_| std::thread::spawn(move || http_get(http, "/data.bin"))).collect();
    for (i, f) in fetches.into_iter().enumerate() {
        let (status, body) = f.join().unwrap();
        assert!(status.contains(" 200 ") && body == data, "concurrent fetch {i}: {status}, {} of {} bytes", body.len(), data.len());
    }

    // The kernel lives on: ping, the shell, and httpd still answers.
    assert_eq!(run.ping("10.0.2.16", 2).len(), 2, "ping after the fetches");
    assert!(t.command("uname").contains("Embox"));
    assert!(http_get(http, "/index.html").0.contains(" 200 "));
    t.stream.write_all(b"exit\r\n").unwrap();
    let console = run.finish();
    assert!(!console.contains("kernel panic"));
}
