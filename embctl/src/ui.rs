//! All user-facing output: logging setup, error reports, progress.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `EMBCTL_LOG` (`target=level` directives, comma-separated, e.g.
/// `embctl=debug,warn`) wins; otherwise -v/-q pick the level.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    let fallback = || format!("embctl={default},warn").parse::<Targets>().expect("a valid filter");
    let (filter, bad) = match std::env::var("EMBCTL_LOG") {
        Ok(text) if !text.trim().is_empty() => match text.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(err) => (fallback(), Some(format!("EMBCTL_LOG={text:?} is not a filter ({err}); write target=level pairs such as `embctl=debug,warn`"))),
        },
        _ => (fallback(), None),
    };
    let output = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr)
        // No colour escapes in CI logs and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry().with(output).with(filter).init();
    if let Some(why) = bad {
        tracing::warn!("{why}");
    }
}

/// Prints an error with its chain of causes on one line each: what went wrong,
/// where, and (from the context added at the failure site) what to do.
pub fn report_error(err: &anyhow::Error) {
    note_line(format_args!("error: {err}"));
    for cause in err.chain().skip(1) {
        note_line(format_args!("  caused by: {cause}"));
    }
}

/// The terminal in raw mode (for an interactive container's TTY); restored on drop
/// and by the signal handler (`restore_terminal`), so a killed session never leaves
/// the user's terminal unusable.
pub struct RawTerminal {
    _private: (),
}

static RAW_MODE_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl RawTerminal {
    pub fn enable() -> anyhow::Result<RawTerminal> {
        crossterm::terminal::enable_raw_mode().map_err(|e| anyhow::anyhow!("cannot put the terminal in raw mode: {e}"))?;
        RAW_MODE_ON.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(RawTerminal { _private: () })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Leaves raw mode if we entered it; harmless otherwise.
pub fn restore_terminal() {
    if RAW_MODE_ON.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// The terminal size as (rows, cols), when stdout is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    crossterm::terminal::size().ok().filter(|&(cols, rows)| cols > 0 && rows > 0).map(|(cols, rows)| (rows, cols))
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Long work (image build, debootstrap): on a terminal a spinner showing the
/// current line, with `Step …` lines kept above it; otherwise (CI, pipes) plain
/// lines on stderr. Silent with -q.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    /// The last lines, shown when the work fails (the spinner only showed one at a time).
    tail: std::sync::Mutex<std::collections::VecDeque<String>>,
}

/// Lines of output kept for [`Progress::fail`].
const PROGRESS_TAIL: usize = 25;

impl Progress {
    pub fn new(what: &str) -> Progress {
        use std::io::IsTerminal;
        let quiet = QUIET.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!("{what}");
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar, started: std::time::Instant::now(), tail: Default::default() }
    }

    /// One line of output from the work.
    pub fn line(&self, line: &str) {
        if QUIET.load(std::sync::atomic::Ordering::Relaxed) || line.trim().is_empty() {
            return;
        }
        if self.bar.is_some() {
            let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == PROGRESS_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
        }
        match &self.bar {
            Some(bar) if line.starts_with("Step ") => bar.println(line),
            Some(bar) => bar.set_message(line.trim().to_string()),
            None => eprintln!("  {line}"),
        }
    }

    /// Ends the display with a summary line (with the elapsed time).
    pub fn finish(&self, summary: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        tracing::info!("{summary} in {:.1}s", self.started.elapsed().as_secs_f64());
    }
}

impl Progress {
    /// Ends the display after a failure; on a terminal the last lines of output
    /// are printed, so the error has its context.
    pub fn fail(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            for line in self.tail.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                eprintln!("  {line}");
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Our stdin, read on a plain thread (a blocked read must not keep the runtime
/// from shutting down when the session ends).
pub fn stdin_chunks() -> tokio::sync::mpsc::Receiver<bytes::Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(bytes::Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// A line of a command's result on stdout. A closed pipe (`embctl image ls | head -1`)
/// is not an error worth a panic: the reader has what it wanted.
pub fn print_line(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A line for the user on stderr that is not a log record: an error's
/// report, how to attach or quit, what a signal made us clean up. Written
/// even when stderr is gone (a closed pipe is ignored, as for stdout).
pub fn note_line(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
