//! A scripted `embctl run --net` in the background, its console collected
//! while the test talks to the guest from the run container and the host
//! (kernel_net.rs for the kernel's own stack, lkl_net.rs for LKL's).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::embctl;

pub struct GuestRun {
    child: Child,
    console: Arc<Mutex<String>>,
}

impl GuestRun {
    /// Spawns `embctl run ARGS` (the caller gives `--net`, the template,
    /// `--cmd`s...) and waits up to `boot` for the shell; the run must have
    /// got a TAP, which is what these tests are about.
    pub fn spawn(args: &[String], boot: Duration) -> GuestRun {
        let mut cmd = embctl();
        cmd.arg("run").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn embctl run");
        let console = Arc::new(Mutex::new(String::new()));
        for pipe in [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let console = console.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("| {line}");
                    console.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let run = GuestRun { child, console };
        run.wait_for("shell: ready", boot);
        assert!(run.text().contains("network: TAP embtap0"), "the run did not get a TAP (see the console above)");
        run
    }

    /// The console so far.
    pub fn text(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Waits until the console shows `what`; returns the console then.
    pub fn wait_for(&self, what: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < end, "no {what:?} on the console within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The QEMU container of this run.
    pub fn container(&self) -> String {
        let out = Command::new("docker")
            .args(["ps", "--filter", "label=org.embctl.role=qemu", "--filter"])
            .arg(format!("name=embctl-{}-", self.child.id()))
            .args(["--format", "{{.Names}}"])
            .output()
            .expect("docker ps");
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!name.is_empty(), "no running QEMU container for embctl pid {}", self.child.id());
        name
    }

    /// Runs python3 `code` in the QEMU container and returns its stdout
    /// (`detach`: in the background, returning at once).
    pub fn python(&self, code: &str, detach: bool) -> String {
        let mut cmd = Command::new("docker");
        cmd.arg("exec");
        if detach {
            cmd.arg("-d");
        }
        let out = cmd.args([&self.container(), "python3", "-c", code]).output().expect("docker exec");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("python in container: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "python3 in the container failed");
        stdout
    }

    /// Round-trip times in microseconds of the echo replies from `addr` to
    /// `count` raw ICMP echo requests sent from the container.
    pub fn ping(&self, addr: &str, count: u32) -> Vec<u64> {
        let code = PING.replace("COUNT", &count.to_string()).replace("ADDR", addr);
        self.python(&code, false)
            .lines()
            .filter_map(|l| l.strip_prefix("reply "))
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect()
    }

    /// Waits for the run to end (its scripted `poweroff`) and returns the
    /// console; the run must have succeeded without a kernel panic.
    pub fn finish(mut self) -> String {
        let status = self.child.wait().expect("wait embctl");
        std::thread::sleep(Duration::from_millis(300));
        let text = self.text();
        assert!(status.success(), "embctl run failed: {status:?}");
        assert!(!text.contains("kernel panic"), "the kernel panicked");
        assert!(text.contains("the kernel powered off") || text.contains("poweroff"), "no poweroff");
        text
    }
}

/// The host as a client of a guest echo server (`netprog server`) through
/// `--publish`: 200 000 bytes to 127.0.0.1:`port` come back unchanged.
pub fn echo_through_published_port(port: u16, read_timeout: Duration) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(read_timeout)).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert!(back == data, "the echo through --publish differs ({} of {} bytes)", back.len(), data.len());
}

/// ICMP echo from the container to ADDR: prints `reply SEQ MICROS` lines
/// (only replies from ADDR with our id, sequence and payload count).
const PING: &str = r#"
import socket, struct, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(3)
for seq in range(COUNT):
    payload = b"embox-net-test" * 4
    hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), 0x4242, seq) + payload
    t0 = time.perf_counter()
    s.sendto(pkt, ("ADDR", 0))
    while True:
        try:
            data, (src, _) = s.recvfrom(2048)
        except socket.timeout:
            print("timeout", seq); break
        icmp = data[(data[0] & 15) * 4:]
        if src == "ADDR" and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (0x4242, seq) and icmp[8:] == payload:
            print("reply", seq, int((time.perf_counter() - t0) * 1e6)); break
    time.sleep(0.05)
"#;
