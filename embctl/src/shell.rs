//! `embctl shell`: an interactive shell in the build image (TTY in raw mode,
//! resized with the terminal, detach with ctrl-_), or `embctl shell -- CMD…`,
//! which runs CMD without a TTY, streams its output and exits with its status.
//! Either way the workspace is /ws, the user is the invoking uid:gid, and the
//! container is removed on exit, Ctrl-C, SIGTERM and SIGHUP.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::{AttachedContainer, Engine};
use crate::workspace::Workspace;

/// Detach key as in Embox's docker recipe (ctrl-p, Docker's default, is readline's "previous line").
pub const DETACH_KEYS: &str = "ctrl-_";

pub async fn shell(ws: &Workspace, command: &[String]) -> Result<ExitCode> {
    let engine = Engine::connect().await?;
    let image = crate::image::ensure(&engine, ws).await?;
    let code = if command.is_empty() {
        interactive(&engine, ws, &image).await?
    } else {
        run_command(&engine, ws, &image, command).await?
    };
    Ok(exit_code(code))
}

/// A container exit status as ours: 0–255 as is, anything else 1.
fn exit_code(code: i64) -> ExitCode {
    u8::try_from(code).map(ExitCode::from).unwrap_or(ExitCode::FAILURE)
}

/// CMD without a TTY; our stdin is forwarded when it is not a terminal (a pipe or file).
async fn run_command(engine: &Engine, ws: &Workspace, image: &str, command: &[String]) -> Result<i64> {
    let mut spec = crate::image::workspace_spec(ws, image, command.to_vec());
    spec.open_stdin = !std::io::stdin().is_terminal();
    engine.run(&spec).await
}

async fn interactive(engine: &Engine, ws: &Workspace, image: &str) -> Result<i64> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "an interactive shell needs a terminal on stdin and stdout; to run a command use `embctl shell -- CMD ARGS…`"
        );
    }
    let mut spec = crate::image::workspace_spec(ws, image, vec!["bash".into(), "-l".into()]);
    spec.tty = true;
    spec.open_stdin = true;
    spec.detach_keys = Some(DETACH_KEYS.into());
    spec.env.push(format!(
        "TERM={}",
        std::env::var("TERM").unwrap_or_else(|_| "xterm".into())
    ));
    let mut container = engine.start_attached(&spec).await?;
    crate::ui::note_line(format_args!("embctl: shell in {image}, workspace at /ws; `exit` ends it, {DETACH_KEYS} detaches"));
    let raw = crate::ui::RawTerminal::enable()?;
    let pumped = pump_tty(&mut container).await;
    drop(raw);
    pumped?;
    if container.is_running().await.unwrap_or(false) {
        let name = container.name().to_string();
        container.keep();
        crate::ui::note_line(format_args!(
            "embctl: detached; container {name} keeps running: `docker attach --detach-keys={DETACH_KEYS} {name}` \
             returns to it, `docker rm -f {name}` removes it"
        ));
        return Ok(0);
    }
    let code = container.wait().await?;
    container.remove().await?;
    Ok(code)
}

/// Terminal ↔ container until the container's output ends (exit or detach),
/// with the TTY sized now and on every SIGWINCH.
async fn pump_tty(container: &mut AttachedContainer) -> Result<()> {
    let (mut input, mut output) = container.take_io();
    if let Some((rows, cols)) = crate::ui::terminal_size() {
        container.resize(rows, cols).await?;
    }
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("cannot watch terminal resizes (SIGWINCH)")?;
    let mut keys = crate::ui::stdin_chunks();
    let mut stdin_open = true;
    let mut stdout = tokio::io::stdout();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(chunk) => {
                    stdout.write_all(&chunk?).await?;
                    stdout.flush().await?;
                }
                None => return Ok(()),
            },
            key = keys.recv(), if stdin_open => match key {
                Some(bytes) => input.write_all(&bytes).await.context("cannot send input to the container")?,
                None => {
                    stdin_open = false;
                    let _ = input.shutdown().await;
                }
            },
            _ = winch.recv() => {
                if let Some((rows, cols)) = crate::ui::terminal_size() {
                    let _ = container.resize(rows, cols).await;
                }
            }
        }
    }
}
