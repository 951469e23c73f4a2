//! All user-facing output: logging setup, error reports, progress.

use tracing_subscriber::EnvFilter;

/// `EMBCTL_LOG` (a tracing filter) wins; otherwise -v/-q pick the level.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("EMBCTL_LOG").unwrap_or_else(|_| EnvFilter::new(format!("embctl={default},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
}

/// Prints an error with its chain of causes on one line each: what went wrong,
/// where, and (from the context added at the failure site) what to do.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
