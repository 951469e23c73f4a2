//! Containers: create from a [`ContainerSpec`], run to completion (streamed or
//! captured), or start attached for a caller that drives the I/O. Every container
//! is named before it is created and removed on every path out (see `cleanup`).

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, PortBinding};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ResizeContainerTTYOptions, WaitContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{cleanup, engine_err, ContainerSpec, Engine, Privileges, MANAGED_LABEL};

/// Output of a container run with [`Engine::run_capture`].
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Captured {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Bytes written to the container's stdin.
pub type ContainerInput = Pin<Box<dyn AsyncWrite + Send>>;
/// The container's stdout and stderr, merged, as they arrive (with a TTY there is one stream).
pub type ContainerOutput = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// Where [`Engine::run_with`] puts a container's output.
enum Sink<'a> {
    /// Our stdout and stderr.
    Terminal,
    Capture(&'a mut Captured),
}

impl Sink<'_> {
    async fn write(&mut self, chunk: LogOutput) -> std::io::Result<()> {
        match (self, chunk) {
            (Sink::Terminal, LogOutput::StdErr { message }) => {
                let mut err = tokio::io::stderr();
                err.write_all(&message).await?;
                err.flush().await
            }
            (Sink::Terminal, other) => {
                let mut out = tokio::io::stdout();
                out.write_all(&other.into_bytes()).await?;
                out.flush().await
            }
            (Sink::Capture(c), LogOutput::StdErr { message }) => {
                c.stderr.extend_from_slice(&message);
                Ok(())
            }
            (Sink::Capture(c), other) => {
                c.stdout.extend_from_slice(&other.into_bytes());
                Ok(())
            }
        }
    }
}

/// bollard's output items, stdout and stderr apart.
type RawOutput = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started container whose I/O the caller drives. Removed by [`AttachedContainer::remove`],
/// or on drop, or by the signal handler.
pub struct AttachedContainer {
    guard: ContainerGuard,
    io: Option<(ContainerInput, ContainerOutput)>,
}

impl AttachedContainer {
    /// The container's name (`embctl-…`).
    pub fn name(&self) -> &str {
        &self.guard.name
    }

    /// Takes the container's stdin writer and merged output stream. Call once.
    pub fn take_io(&mut self) -> (ContainerInput, ContainerOutput) {
        self.io.take().expect("AttachedContainer::take_io called twice")
    }

    /// Sets the container's TTY size (only meaningful with `tty: true`).
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let opts = ResizeContainerTTYOptions {
            h: rows.into(),
            w: cols.into(),
        };
        self.guard
            .engine
            .docker
            .resize_container_tty(&self.guard.name, opts)
            .await
            .map_err(|e| engine_err(format!("cannot resize the TTY of container {}", self.guard.name), e))
    }

    /// Waits for the container to stop and returns its exit code.
    pub async fn wait(&self) -> Result<i64> {
        wait_exit(&self.guard.engine, &self.guard.name).await
    }

    /// Whether the container is still running (after the output ended: a detach).
    pub async fn is_running(&self) -> Result<bool> {
        let info = self
            .guard
            .engine
            .docker
            .inspect_container(&self.guard.name, None)
            .await
            .map_err(|e| engine_err(format!("cannot inspect container {}", self.guard.name), e))?;
        Ok(info.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// Leaves the container running and no longer removes it (after a detach).
    pub fn keep(mut self) {
        self.guard.removed = true;
        cleanup::unregister(&self.guard.name);
    }

    /// Stops (kills) and removes the container now.
    pub async fn remove(self) -> Result<()> {
        self.guard.remove().await
    }
}

/// Removes its container when dropped unless [`ContainerGuard::remove`] ran.
struct ContainerGuard {
    engine: Engine,
    name: String,
    removed: bool,
}

impl ContainerGuard {
    async fn remove(mut self) -> Result<()> {
        self.removed = true;
        cleanup::remove(&self.engine.docker, &self.name)
            .await
            .map_err(|e| engine_err(format!("cannot remove container {}", self.name), e))
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if !self.removed {
            cleanup::remove_blocking(&self.name, &self.engine.api_version);
        }
    }
}

impl Engine {
    /// Creates and starts a container, streams its stdout/stderr to ours, waits, and
    /// removes it (also on error, drop, Ctrl-C, SIGTERM, SIGHUP). Returns the exit code.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<i64> {
        self.run_with(spec, &mut Sink::Terminal).await
    }

    /// Like [`Engine::run`], with stdout and stderr captured instead of shown.
    pub async fn run_capture(&self, spec: &ContainerSpec) -> Result<Captured> {
        let mut captured = Captured::default();
        captured.exit_code = self.run_with(spec, &mut Sink::Capture(&mut captured)).await?;
        Ok(captured)
    }

    /// Creates, attaches to (stdin, stdout, stderr) and starts a container; the caller
    /// drives its I/O through [`AttachedContainer::take_io`].
    pub async fn start_attached(&self, spec: &ContainerSpec) -> Result<AttachedContainer> {
        let (guard, io) = self.start_attached_raw(spec).await?;
        let (input, raw) = io.expect("fresh");
        let name = guard.name.clone();
        let output: ContainerOutput = Box::pin(raw.map(move |item| {
            item.map(LogOutput::into_bytes)
                .map_err(|e| engine_err(format!("reading the output of container {name} failed"), e))
        }));
        Ok(AttachedContainer {
            guard,
            io: Some((input, output)),
        })
    }

    /// Creates, attaches, starts; feeds each output chunk to `sink`; waits; removes.
    async fn run_with(&self, spec: &ContainerSpec, sink: &mut Sink<'_>) -> Result<i64> {
        let mut container = self.start_attached_raw(spec).await?;
        let result = async {
            let (input, mut output) = container.1.take().expect("fresh");
            let stdin_task = spec.open_stdin.then(|| tokio::spawn(forward_stdin(input)));
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(|e| {
                    engine_err(
                        format!("reading the output of container {} failed", container.0.name),
                        e,
                    )
                })?;
                sink.write(chunk).await.context("cannot write the container's output")?;
            }
            if let Some(task) = stdin_task {
                task.abort();
            }
            wait_exit(self, &container.0.name).await
        }
        .await;
        cleanup::park_if_interrupted().await;
        let removed = container.0.remove().await;
        let code = result?;
        removed?;
        Ok(code)
    }

    /// `start_attached` with bollard's raw output items (so stdout and stderr stay apart).
    async fn start_attached_raw(
        &self,
        spec: &ContainerSpec,
    ) -> Result<(ContainerGuard, Option<(ContainerInput, RawOutput)>)> {
        let started = self.create_attach_start(spec).await;
        if started.is_err() {
            // The signal task removed the container under us: its exit code wins.
            cleanup::park_if_interrupted().await;
        }
        started
    }

    async fn create_attach_start(
        &self,
        spec: &ContainerSpec,
    ) -> Result<(ContainerGuard, Option<(ContainerInput, RawOutput)>)> {
        let guard = self.create(spec).await?;
        let opts = AttachContainerOptions {
            stdin: spec.open_stdin,
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            detach_keys: spec.detach_keys.clone(),
        };
        let attached = self
            .docker
            .attach_container(&guard.name, Some(opts))
            .await
            .map_err(|e| engine_err(format!("cannot attach to container {}", guard.name), e))?;
        self.start(&guard.name).await?;
        Ok((guard, Some((attached.input, attached.output))))
    }

    async fn start(&self, name: &str) -> Result<()> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| engine_err(format!("cannot start container {name}"), e))
    }

    /// Creates the container described by `spec`, registered for cleanup first.
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerGuard> {
        let name = unique_name();
        cleanup::register(&self.docker, &name);
        let guard = ContainerGuard {
            engine: self.clone(),
            name,
            removed: false,
        };
        let mut labels = spec.labels.clone();
        labels.insert(MANAGED_LABEL.to_string(), "true".to_string());
        labels.extend(super::orphans::owner_labels());
        let (privileged, cap_add, devices) = match &spec.privileges {
            Privileges::None => (None, None, None),
            Privileges::Privileged => (Some(true), None, None),
            Privileges::Devices { cap_add, devices } => (
                None,
                Some(cap_add.clone()),
                Some(
                    devices
                        .iter()
                        .map(|d| DeviceMapping {
                            path_on_host: Some(d.clone()),
                            path_in_container: Some(d.clone()),
                            cgroup_permissions: Some("rwm".into()),
                        })
                        .collect(),
                ),
            ),
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            working_dir: spec.workdir.clone(),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            user: spec.user.clone(),
            tty: Some(spec.tty),
            open_stdin: Some(spec.open_stdin),
            stdin_once: Some(spec.open_stdin),
            attach_stdin: Some(spec.open_stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            labels: Some(labels.into_iter().collect()),
            host_config: Some(HostConfig {
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                privileged,
                cap_add,
                devices,
                init: spec.init.then_some(true),
                network_mode: spec.network_mode.clone(),
                security_opt: spec.no_new_privileges.then(|| vec!["no-new-privileges".to_string()]),
                port_bindings: (!spec.published_tcp.is_empty()).then(|| {
                    spec.published_tcp
                        .iter()
                        .map(|(host, container)| {
                            let binding = PortBinding {
                                host_ip: Some("127.0.0.1".into()),
                                host_port: Some(host.to_string()),
                            };
                            (format!("{container}/tcp"), Some(vec![binding]))
                        })
                        .collect()
                }),
                sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
                ..Default::default()
            }),
            exposed_ports: (!spec.published_tcp.is_empty())
                .then(|| spec.published_tcp.iter().map(|(_, container)| format!("{container}/tcp")).collect()),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(guard.name.clone()),
            platform: String::new(),
        };
        let created = self.docker.create_container(Some(opts), body).await;
        cleanup::create_returned(&guard.name);
        created.map_err(|e| engine_err(format!("cannot create a container from image {}", spec.image), e))?;
        tracing::debug!("created container {} from {}: {:?}", guard.name, spec.image, spec.cmd);
        Ok(guard)
    }
}

/// Waits for `name` to stop; bollard reports a non-zero exit as an error, which is
/// an exit code here, not a failure.
async fn wait_exit(engine: &Engine, name: &str) -> Result<i64> {
    let result = wait_exit_inner(engine, name).await;
    cleanup::park_if_interrupted().await;
    result
}

async fn wait_exit_inner(engine: &Engine, name: &str) -> Result<i64> {
    let mut waits = engine.docker.wait_container(
        name,
        Some(WaitContainerOptions {
            condition: "not-running".into(),
        }),
    );
    match waits.next().await {
        Some(Ok(resp)) => Ok(resp.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(engine_err(format!("waiting for container {name} failed"), e)),
        None => anyhow::bail!("the engine closed the wait for container {name} without an exit code"),
    }
}

/// Copies our stdin to the container until EOF, then closes its stdin.
async fn forward_stdin(mut input: ContainerInput) {
    let mut chunks = crate::ui::stdin_chunks();
    while let Some(bytes) = chunks.recv().await {
        if input.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = input.shutdown().await;
}

/// `embctl-<pid>-<n>`: unique per process, recognisable in `docker ps`.
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "embctl-{}-{}-{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}
