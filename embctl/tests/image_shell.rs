//! The build image, `embctl shell` and `embctl doctor` against the real Docker
//! engine. Tests that need the real image call `embctl image build`, which is
//! idempotent (and serialised between processes), so it is built at most once.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{embctl, run, run_ok, stderr, stdout, workspace_root};

const MANAGED: &str = "org.embctl.managed=true";

/// `docker …` output (trimmed stdout); the CLI is installed with the engine.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("the docker CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The real image for this checkout, built once for all tests.
fn real_image() -> String {
    let out = run_ok(embctl().args(["image", "build"]));
    stdout(&out).trim().to_string()
}

/// A scratch workspace: docker/ (copied from `docker_from`, or the given Dockerfile)
/// and an empty kernel/, so `--workspace` accepts it.
struct ScratchWorkspace {
    dir: tempfile::TempDir,
}

impl ScratchWorkspace {
    fn with_dockerfile(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        std::fs::create_dir_all(dir.path().join("kernel")).unwrap();
        std::fs::write(dir.path().join("docker/Dockerfile"), text).unwrap();
        ScratchWorkspace { dir }
    }

    /// Same docker/ as this checkout, so the real image (same content hash) is used.
    fn like_checkout() -> Self {
        let text = std::fs::read_to_string(workspace_root().join("docker/Dockerfile")).unwrap();
        let ws = Self::with_dockerfile(&text);
        for entry in std::fs::read_dir(workspace_root().join("docker")).unwrap() {
            let path = entry.unwrap().path();
            // fs::copy keeps the mode, which the content hash covers.
            std::fs::copy(&path, ws.path().join("docker").join(path.file_name().unwrap())).unwrap();
        }
        ws
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn embctl(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_embctl"));
        cmd.arg("--workspace").arg(self.path());
        cmd
    }
}

/// Removes the images a test made, whatever happens.
struct ImageCleanup(Vec<String>);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

const TINY_DOCKERFILE: &str = "ARG BASE\nFROM ${BASE}\n\
    RUN mkdir -p /usr/share/emdocker-lkl && dpkg-query -W -f '${Package}=${Version}\\n' | sort > /usr/share/emdocker-lkl/packages.lock\n";

#[test]
fn image_is_built_from_nothing_on_the_offline_path_then_reused_and_rebuilt_on_change() {
    let ws = ScratchWorkspace::with_dockerfile(TINY_DOCKERFILE);
    // A base tag nobody has: the base must really be made by debootstrap now.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let base = format!("emdocker-lkl-base:test-{}-{nanos:x}", std::process::id());
    let mut cleanup = ImageCleanup(vec![base.clone()]);

    let first = run(ws.embctl().env("EMBCTL_BASE_TAG", &base).args(["image", "build"]));
    assert!(first.status.success());
    let log = stderr(&first);
    assert!(
        log.contains("made by debootstrap and imported (offline path)"),
        "log must say which path was taken"
    );
    let tag = stdout(&first).trim().to_string();
    cleanup.0.insert(0, tag.clone());
    assert!(tag.starts_with("emdocker-lkl:"), "content-addressed tag, got {tag:?}");
    // Engines record imports as the host's platform; the userland is what matters.
    assert_eq!(
        docker(&["run", "--rm", &base, "dpkg", "--print-architecture"]),
        "i386",
        "an i386 base"
    );
    let labels = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &tag]);
    for key in [
        "org.embctl.context-hash",
        "org.embctl.base-id",
        "\"org.embctl.base-source\":\"debootstrap\"",
    ] {
        assert!(labels.contains(key), "label {key} missing in {labels}");
    }
    let lock = std::fs::read_to_string(ws.path().join("docker/packages.lock")).unwrap();
    assert!(
        lock.lines().any(|l| l.starts_with("dpkg=")),
        "packages.lock records versions:\n{lock}"
    );

    // Same inputs: reused, nothing built.
    let started = Instant::now();
    let again = run(ws.embctl().env("EMBCTL_BASE_TAG", &base).args(["-v", "image", "build"]));
    assert!(again.status.success());
    assert_eq!(stdout(&again).trim(), tag);
    assert!(!stderr(&again).contains("building"), "no rebuild when the hash matches");
    eprintln!("reuse took {:?}", started.elapsed());

    // A changed Dockerfile: a new image.
    std::fs::write(
        ws.path().join("docker/Dockerfile"),
        format!("{TINY_DOCKERFILE}RUN true\n"),
    )
    .unwrap();
    let changed = run(ws.embctl().env("EMBCTL_BASE_TAG", &base).args(["image", "build"]));
    assert!(changed.status.success());
    let new_tag = stdout(&changed).trim().to_string();
    cleanup.0.insert(0, new_tag.clone());
    assert_ne!(new_tag, tag);
    assert!(stderr(&changed).contains("building"), "the changed context is built");

    // A changed base (the base tag now names another image): a new image too.
    // `image build` always inspects the base, and records its new id for the warm path.
    docker(&["tag", &new_tag, &base]);
    let rebased = run(ws.embctl().env("EMBCTL_BASE_TAG", &base).args(["image", "build"]));
    assert!(rebased.status.success());
    let rebased_tag = stdout(&rebased).trim().to_string();
    cleanup.0.insert(0, rebased_tag.clone());
    assert_ne!(rebased_tag, new_tag, "a changed base gives a new image");
    assert!(
        stderr(&rebased).contains("building"),
        "the image is built on the new base"
    );
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.embctl.base-id\"}}",
            &rebased_tag
        ]),
        docker(&["image", "inspect", "-f", "{{.Id}}", &new_tag]),
        "the rebuilt image records the new base"
    );
    // The warm path of other commands uses the new base's image without building.
    let warm = run(ws
        .embctl()
        .env("EMBCTL_BASE_TAG", &base)
        .env("EMBCTL_LOG", "embctl=debug")
        .args(["shell", "--", "true"]));
    assert!(warm.status.success());
    assert!(
        stderr(&warm).contains(&format!("build image {rebased_tag} is current")),
        "the warm path reuses the image on the new base"
    );
}

/// `embctl-base-rootfs`, built next to this embctl (test-all.sh builds both;
/// a lone `cargo test -p embctl` may not have).
fn base_rootfs_tool() -> PathBuf {
    let tool = Path::new(env!("CARGO_BIN_EXE_embctl")).with_file_name("embctl-base-rootfs");
    if !tool.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run_ok(Command::new(cargo).current_dir(workspace_root()).args(["build", "--release", "-p", "embctl-base-rootfs"]));
    }
    tool
}

#[test]
fn the_image_built_in_the_background_by_setup_host_is_the_one_embctl_reuses() {
    // A base of our own (the checkout's base under a scratch tag: same id, no debootstrap).
    real_image();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let base = format!("emdocker-lkl-base:test-bg-{}-{nanos:x}", std::process::id());
    docker(&["tag", "emdocker-lkl-base:trixie", &base]);
    let mut cleanup = ImageCleanup(vec![base.clone()]);
    // A context nobody else builds.
    let ws = ScratchWorkspace::with_dockerfile(&format!("{TINY_DOCKERFILE}# {base}\n"));

    let prepared = run(Command::new(base_rootfs_tool())
        .env("EMBCTL_BASE_TAG", &base)
        .env("EMBCTL_BASE_ROOTFS_DIR", ws.path().join("prepared"))
        .args(["prepare", "--image"])
        .arg(ws.path().join("docker")));
    let log = stderr(&prepared);
    assert!(prepared.status.success(), "{log}");
    let tag = log.lines().find_map(|l| l.strip_prefix("embctl-base-rootfs: built ")).and_then(|l| l.split(' ').next()).expect("built line").to_string();
    cleanup.0.insert(0, tag.clone());
    assert!(log.contains("recorded") && std::fs::read_to_string(ws.path().join("docker/packages.lock")).unwrap().contains("dpkg="), "{log}");
    assert!(!std::path::Path::new(&std::env::temp_dir()).join(format!("embctl-{}.lock", tag.replace(':', "_"))).exists(), "no lock file left");

    // embctl finds it: same tag, labels that match its own hash, nothing built.
    let again = run(ws.embctl().env("EMBCTL_BASE_TAG", &base).args(["-v", "image", "build"]));
    assert!(again.status.success());
    assert_eq!(stdout(&again).trim(), tag, "embctl computes the same tag");
    assert!(!stderr(&again).contains("building"), "embctl reuses the background build");
    let labels = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &tag]);
    for key in ["\"org.embctl.managed\":\"true\"", "org.embctl.base-id", "org.embctl.context-dir", "\"org.embctl.image\":\"emdocker-lkl\""] {
        assert!(labels.contains(key), "label {key} missing in {labels}");
    }
    // Run again, the tool has nothing to do.
    let twice = run(Command::new(base_rootfs_tool()).env("EMBCTL_BASE_TAG", &base).args(["prepare", "--image"]).arg(ws.path().join("docker")));
    assert!(stderr(&twice).contains("exists already"), "{}", stderr(&twice));
}

/// A Unix-socket relay in front of the real engine that keeps every byte its
/// clients send, so a test can count the API requests embctl really makes.
struct EngineRelay {
    dir: tempfile::TempDir,
    /// What each connection sent, in order of connection.
    sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl EngineRelay {
    fn start() -> Self {
        use std::io::{Read, Write};
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("engine.sock")).unwrap();
        let upstream = engine_socket();
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let log = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let mut server = UnixStream::connect(&upstream).expect("the engine socket");
                let (mut client_rx, mut server_rx) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let slot = {
                    let mut log = log.lock().unwrap();
                    log.push(Vec::new());
                    log.len() - 1
                };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    // Record before forwarding: the engine answers only what it received.
                    while let Ok(n @ 1..) = client_rx.read(&mut buf) {
                        log.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_rx, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        EngineRelay { dir, sent }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.path().join("engine.sock").display())
    }

    /// Request lines (`GET /v1.47/images/…/json HTTP/1.1`) sent so far.
    fn requests(&self) -> Vec<String> {
        let methods = ["GET ", "POST ", "PUT ", "DELETE ", "HEAD "];
        self.sent
            .lock()
            .unwrap()
            .iter()
            .flat_map(|bytes| {
                String::from_utf8_lossy(bytes)
                    .split("\r\n")
                    .filter(|l| methods.iter().any(|m| l.starts_with(m)) && l.ends_with(" HTTP/1.1"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The engine's socket path (DOCKER_HOST when it is a unix socket).
fn engine_socket() -> PathBuf {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    PathBuf::from(host.strip_prefix("unix://").unwrap_or("/var/run/docker.sock"))
}

#[test]
fn a_current_image_is_reused_after_one_engine_call_for_images() {
    real_image();
    let relay = EngineRelay::start();
    // The base id is recorded per engine address; `image build` (which always
    // inspects the base) records it for the relay's address.
    run_ok(
        embctl()
            .env("DOCKER_HOST", relay.docker_host())
            .args(["image", "build"]),
    );
    let before = relay.requests().len();
    run_ok(
        embctl()
            .env("DOCKER_HOST", relay.docker_host())
            .args(["shell", "--", "true"]),
    );
    let requests = relay.requests().split_off(before);
    eprintln!("engine requests of `embctl shell -- true`:\n{}", requests.join("\n"));
    assert!(
        requests.iter().any(|r| r.contains("/containers/create")),
        "the relay saw the run: {requests:?}"
    );
    let image_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.contains("/images") || r.contains("/build"))
        .collect();
    assert_eq!(
        image_requests.len(),
        1,
        "one image call on the warm path: {image_requests:?}"
    );
    let only = image_requests[0];
    assert!(
        only.starts_with("GET ") && only.contains("/images/emdocker-lkl:") && only.contains("/json "),
        "the one call inspects the build image: {only}"
    );
}

#[test]
fn shell_command_exits_with_the_command_status() {
    real_image();
    assert_eq!(run(embctl().args(["shell", "--", "false"])).status.code(), Some(1));
    assert_eq!(
        run(embctl().args(["shell", "--", "sh", "-c", "exit 7"])).status.code(),
        Some(7)
    );
    let out = run_ok(embctl().args(["shell", "--", "sh", "-c", "pwd; echo to-stderr >&2"]));
    assert_eq!(stdout(&out).trim(), "/ws");
    assert!(stderr(&out).contains("to-stderr"));
}

#[test]
fn shell_forwards_piped_stdin() {
    real_image();
    let mut child = embctl()
        .args(["shell", "--", "wc", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a\nb\nc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}

/// The gid of the engine socket, so a non-root user can be given access to it.
fn socket_gid() -> u32 {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let path = host
        .strip_prefix("unix://")
        .unwrap_or("/var/run/docker.sock")
        .to_string();
    std::fs::metadata(path).expect("the engine socket").gid()
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn files_not_owned_by(path: &Path, uid: u32) -> Vec<PathBuf> {
    let mut bad = Vec::new();
    if std::fs::symlink_metadata(path).unwrap().uid() != uid {
        bad.push(path.to_path_buf());
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            bad.extend(files_not_owned_by(&entry.unwrap().path(), uid));
        }
    }
    bad
}

#[test]
fn file_created_in_ws_by_a_non_root_user_is_owned_by_that_user() {
    real_image();
    const UID: u32 = 1000;
    let ws = ScratchWorkspace::like_checkout();
    std::fs::create_dir_all(ws.path().join("home")).unwrap();
    chown_tree(ws.path(), UID, UID);
    std::fs::set_permissions(ws.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A copy of embctl the user can execute (the target dir may be under /root).
    let bin = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exe = bin.path().join("embctl");
    std::fs::copy(env!("CARGO_BIN_EXE_embctl"), &exe).unwrap();

    let as_user = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &UID.to_string(),
            "--regid",
            &UID.to_string(),
            "--groups",
            &socket_gid().to_string(),
        ])
        .arg(&exe)
        .arg("--workspace")
        .arg(ws.path())
        .args(args)
        .env("HOME", ws.path().join("home"))
        .env_remove("XDG_CACHE_HOME");
        run(&mut cmd)
    };
    let out = as_user(&[
        "shell",
        "--",
        "sh",
        "-c",
        "id -u; mkdir -p out && echo made > out/by-user",
    ]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).lines().next(),
        Some("1000"),
        "the command runs as the invoking uid"
    );
    let made = ws.path().join("out/by-user");
    let meta = std::fs::metadata(&made).expect("the file was created");
    assert_eq!((meta.uid(), meta.gid()), (UID, UID));
    let bad = files_not_owned_by(ws.path(), UID);
    assert!(bad.is_empty(), "files not owned by the user: {bad:?}");

    // The uid has a name in the container (the image's entrypoint adds it), and
    // the entrypoint keeps the command's exit status.
    let out = as_user(&["shell", "--", "sh", "-c", "id -un; whoami; id -gn; getent passwd $(id -u) | cut -d: -f6,7"]);
    assert!(out.status.success(), "whoami finds the user");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        !lines[0].is_empty() && !lines[0].chars().all(|c| c.is_ascii_digit()),
        "a name: {text}"
    );
    assert_eq!(lines[1], lines[0], "whoami agrees with id -un");
    assert!(
        !lines[2].chars().all(|c| c.is_ascii_digit()),
        "the gid has a name: {text}"
    );
    assert_eq!(lines[3], "/tmp/home:/bin/bash", "home and shell of the entry");
    assert_eq!(as_user(&["shell", "--", "sh", "-c", "exit 7"]).status.code(), Some(7));
}

#[test]
fn doctor_without_an_engine_fails_with_the_address_and_what_to_do() {
    let out = run(embctl().env("DOCKER_HOST", "unix:///nonexistent.sock").arg("doctor"));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("engine")).expect("an engine line");
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains("unix:///nonexistent.sock"), "names the address: {line}");
    assert!(
        line.contains("start dockerd") && line.contains("DOCKER_HOST"),
        "says what to do: {line}"
    );
    assert!(!stderr(&out).contains("panicked"));

    // Any other command: one error line, exit 1.
    let out = run(embctl()
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .args(["shell", "--", "true"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("cannot reach the Docker engine at unix:///nonexistent.sock"));
}

#[test]
fn sigint_during_shell_command_leaves_no_container() {
    real_image();
    let child = embctl()
        .args(["shell", "--", "sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Our containers are named embctl-<pid>-…: wait until this one runs.
    let filter = format!("name=embctl-{}-", child.id());
    let ours = || {
        docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label={MANAGED}"),
            "--filter",
            &filter,
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ours().is_empty() {
        assert!(Instant::now() < deadline, "the container never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "128 + SIGINT");
    assert_eq!(ours(), "", "the container was removed");
}

#[test]
fn doctor_reports_kvm_from_the_probe_and_privileges() {
    real_image();
    let out = run(embctl().arg("doctor"));
    let text = stdout(&out);
    for check in [
        "engine",
        "disk",
        "/dev/net/tun",
        "build image",
        "debootstrap",
        "kvm",
        "privileged",
    ] {
        assert!(
            text.lines().any(|l| l.contains(check)),
            "doctor checks {check}:\n{text}"
        );
    }
    let kvm = text.lines().find(|l| l.contains(" kvm ")).unwrap();
    // On these machines KVM hangs in ring 3: the probe must say so, not trust /dev/kvm.
    if kvm.starts_with("warn") {
        assert!(kvm.contains("TCG will be used"), "{kvm}");
    }
    assert!(out.status.success(), "warnings only on a healthy host");
}

#[test]
fn interactive_shell_gets_a_tty_and_exits_with_the_shell_status() {
    real_image();
    // script(1) gives embctl a pseudo-terminal; the lines typed go to the shell.
    let line = format!(
        "{} --workspace {} shell",
        env!("CARGO_BIN_EXE_embctl"),
        workspace_root().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo tty=$(tty) user=$(id -u)\nexit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(text.contains("tty=/dev/pts/"), "the shell has a terminal");
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    assert!(text.contains(&format!("user={uid}")), "runs as the invoking uid");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn cargo_in_the_image_reaches_the_crates_registry_with_host_trust() {
    real_image();
    // A fresh CARGO_HOME, so the index and the crate really come over TLS now.
    let script = "set -e; export CARGO_HOME=$(mktemp -d); cd $(mktemp -d); cargo new -q probe; cd probe; \
                  cargo add -q itoa@1; cargo fetch -q; ls $CARGO_HOME/registry/cache/*/ | grep itoa";
    let out = run_ok(embctl().args(["shell", "--", "sh", "-c", script]));
    assert!(stdout(&out).contains("itoa-1."), "the crate was downloaded");
}

#[test]
fn sigint_during_debootstrap_leaves_no_partial_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = ScratchWorkspace::with_dockerfile(TINY_DOCKERFILE);
    let base = format!("emdocker-lkl-base:interrupted-{}", std::process::id());
    let _cleanup = ImageCleanup(vec![base.clone()]);
    let child = ws
        .embctl()
        .env("TMPDIR", tmp.path())
        .env("EMBCTL_BASE_TAG", &base)
        .env("EMBCTL_OFFLINE", "1")
        .args(["image", "build"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tree = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with("embctl-debootstrap-"))
            .map(|e| e.path())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = loop {
        match tree() {
            Some(dir) if dir.join("rootfs").exists() => break dir,
            _ => assert!(Instant::now() < deadline, "debootstrap never started"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    eprintln!("{}", stderr(&out));
    assert_eq!(out.status.code(), Some(130));
    assert!(!dir.exists(), "{} was removed", dir.display());
    assert_eq!(docker(&["images", "-q", &base]), "", "no half-made base image");
}
