//! Getting the pinned archive into the cache: a verified cached copy is reused
//! with no network; `--lkl-zip` is verified and copied in; otherwise it is
//! downloaded with reqwest (timeouts, retries with backoff, proxy variables and
//! the host CA bundle) into a `.part` file renamed only after verification.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{debug, info, warn};

use super::source::Pin;
use super::verify::{self, Digests, Hasher, Strength};
use super::LklSource;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence tolerated inside one download before the attempt is abandoned.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// A verified archive in the cache.
#[derive(Debug)]
pub struct Archive {
    pub path: PathBuf,
    pub digests: Digests,
}

/// `$XDG_CACHE_HOME/embctl/lkl` (or the platform's cache dir).
pub fn cache_dir() -> Result<PathBuf> {
    let base = dirs::cache_dir().ok_or_else(|| anyhow!("no cache directory: set XDG_CACHE_HOME or HOME"))?;
    Ok(base.join("embctl").join("lkl"))
}

pub fn cached_archive_path(pin: &Pin) -> Result<PathBuf> {
    Ok(cache_dir()?.join(pin.archive_name()))
}

/// Returns the verified archive, taking it from `--lkl-zip`, the cache or the network.
pub async fn obtain(pin: &Pin, src: &LklSource) -> Result<Archive> {
    let cached = cached_archive_path(pin)?;
    let cache = cached.parent().expect("cache path has a parent").to_path_buf();
    std::fs::create_dir_all(&cache).with_context(|| format!("cannot create the cache directory {}", cache.display()))?;

    if let Some(local) = &src.zip {
        let archive = verify_local(pin, local)?;
        copy_into_cache(local, &cached)?;
        info!("verified {} and stored it in the cache {}", local.display(), cached.display());
        return Ok(Archive { path: cached, ..archive });
    }

    if cached.is_file() {
        match verify_local(pin, &cached) {
            Ok(archive) => {
                info!("using the verified cached archive {} (no download)", cached.display());
                return Ok(archive);
            }
            Err(err) => {
                // Only our own cache file is at stake here; a fresh download replaces it.
                warn!("the cached archive {} failed verification, downloading again: {err:#}", cached.display());
                std::fs::remove_file(&cached).with_context(|| format!("cannot remove {}", cached.display()))?;
            }
        }
    }

    remove_stale_parts(&cache, &cached);
    let url = src.mirror.clone().unwrap_or_else(|| pin.url.clone());
    download_verified(pin, &url, &cached).await
}

/// Verifies a file already on disk (digests, then zip comment).
pub fn verify_local(pin: &Pin, path: &Path) -> Result<Archive> {
    if !path.is_file() {
        bail!("the LKL archive {} does not exist; pass an existing zip with --lkl-zip", path.display());
    }
    let digests = verify::digest_file(path)?;
    let strength = verify::check_digests(pin, &digests, &path.display().to_string())?;
    verify::check_zip_comment(pin, path)?;
    report_strength(pin, &digests, strength);
    Ok(Archive { path: path.to_path_buf(), digests })
}

/// Until `embctl lkl pin` has recorded the SHA-256, say what we computed and how to pin it.
fn report_strength(pin: &Pin, digests: &Digests, strength: Strength) {
    if strength == Strength::Md5Only {
        warn!(
            "verified by MD5 only: {} has no sha256 yet. The archive's SHA-256 is {}; \
             record it with `embctl lkl pin` (or write sha256 = \"{}\" into that file)",
            pin.file.display(),
            digests.sha256,
            digests.sha256
        );
    }
}

fn copy_into_cache(local: &Path, cached: &Path) -> Result<()> {
    if local.canonicalize().ok() == cached.canonicalize().ok() {
        return Ok(());
    }
    let dir = cached.parent().expect("cache path has a parent");
    let part = tempfile::Builder::new()
        .prefix(&format!("{}.", file_name(cached)))
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    std::fs::copy(local, part.path())
        .with_context(|| format!("cannot copy {} into the cache {}", local.display(), dir.display()))?;
    part.persist(cached).with_context(|| format!("cannot rename into {}", cached.display()))?;
    Ok(())
}

/// `.part` files of a killed embctl. A live download writes at least every
/// READ_TIMEOUT, so a part untouched for twice that long is abandoned.
fn remove_stale_parts(cache: &Path, cached: &Path) {
    let prefix = format!("{}.", file_name(cached));
    let Ok(entries) = std::fs::read_dir(cache) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let idle = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if name.starts_with(&prefix) && name.ends_with(".part") && idle.is_some_and(|d| d > READ_TIMEOUT * 2) {
            debug!("removing the abandoned download {}", entry.path().display());
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn http_client() -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("embctl/", env!("CARGO_PKG_VERSION")));
    // Behind a TLS-inspecting proxy the host's bundle holds the proxy's CA.
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")))
        .filter(|p| p.is_file());
    if let Some(bundle) = bundle {
        let pem = std::fs::read(&bundle).with_context(|| format!("cannot read the CA bundle {}", bundle.display()))?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) => {
                debug!("trusting {} certificates from {}", certs.len(), bundle.display());
                builder = builder.tls_certs_merge(certs);
            }
            Err(err) => warn!("ignoring the CA bundle {}: {err}", bundle.display()),
        }
    }
    for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        if let Ok(value) = std::env::var(var) {
            if !value.is_empty() {
                debug!("proxy from {var}: {value}");
            }
        }
    }
    builder.build().context("cannot set up the HTTP client (TLS roots or proxy settings)")
}

/// Whether another attempt may succeed.
enum Failure {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// The bytes received so far, across attempts: a retry asks the server for
/// the rest (HTTP Range) and starts over only when the server will not resume.
struct Partial {
    part: tempfile::NamedTempFile,
    hasher: Hasher,
    received: u64,
}

impl Partial {
    fn restart(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.part.as_file_mut().set_len(0)?;
        self.part.as_file_mut().rewind()?;
        self.hasher = Hasher::default();
        self.received = 0;
        Ok(())
    }
}

async fn download_verified(pin: &Pin, url: &str, cached: &Path) -> Result<Archive> {
    let client = http_client()?;
    let dir = cached.parent().expect("cache path has a parent");
    // Removed on every error path when dropped.
    let part = tempfile::Builder::new()
        .prefix(&format!("{}.", file_name(cached)))
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a download file in {}", dir.display()))?;
    let mut partial = Partial { part, hasher: Hasher::default(), received: 0 };
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = None;
    for attempt in 1..=ATTEMPTS {
        info!("downloading {url} (attempt {attempt} of {ATTEMPTS})");
        match download_once(&client, url, &mut partial).await {
            Ok(()) => {
                let Partial { part, hasher, .. } = partial;
                let digests = hasher.finish();
                let strength = verify::check_digests(pin, &digests, url)?;
                verify::check_zip_comment(pin, part.path())?;
                report_strength(pin, &digests, strength);
                part.persist(cached).with_context(|| format!("cannot rename the download into {}", cached.display()))?;
                info!("verified and cached as {}", cached.display());
                return Ok(Archive { path: cached.to_path_buf(), digests });
            }
            Err(Failure::Fatal(err)) => return Err(err.context(download_advice(pin, url))),
            Err(Failure::Retry(err)) => {
                if attempt < ATTEMPTS {
                    warn!("download attempt {attempt} failed: {err:#}; retrying in {}s", backoff.as_secs());
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                last_error = Some(err);
            }
        }
    }
    let err = last_error.expect("at least one attempt ran");
    Err(err.context(format!("{ATTEMPTS} download attempts failed. {}", download_advice(pin, url))))
}

fn download_advice(pin: &Pin, url: &str) -> String {
    format!(
        "could not download the LKL archive from {url}: check the network and proxy variables \
         (HTTPS_PROXY, NO_PROXY), use a mirror with --lkl-mirror URL, or download {} elsewhere and \
         pass it with --lkl-zip PATH (or EMBCTL_LKL_ZIP)",
        pin.archive_name()
    )
}

async fn download_once(client: &reqwest::Client, url: &str, partial: &mut Partial) -> Result<(), Failure> {
    let disk = |e: std::io::Error| Failure::Fatal(anyhow!(e).context("cannot write the download (disk full?)"));
    let mut request = client.get(url);
    if partial.received > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={}-", partial.received));
    }
    let response = request.send().await.map_err(|e| {
        let untrusted = error_chain_mentions(&e, "certificate");
        let err = anyhow!(e).context(format!("GET {url}"));
        if untrusted {
            // Retrying cannot fix trust; say where trust comes from instead.
            Failure::Fatal(err.context(
                "the server's TLS certificate is not trusted; behind a TLS-inspecting proxy, point SSL_CERT_FILE \
                 at a CA bundle that holds the proxy's CA (default /etc/ssl/certs/ca-certificates.crt)",
            ))
        } else {
            Failure::Retry(err)
        }
    })?;
    let status = response.status();
    let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
        && resume_offset(&response) == Some(partial.received)
        && partial.received > 0;
    if !resumed {
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE || status == reqwest::StatusCode::PARTIAL_CONTENT {
            partial.restart().map_err(disk)?;
            return Err(Failure::Retry(anyhow!("GET {url}: the server could not resume the download")));
        }
        if !status.is_success() {
            let err = anyhow!("GET {url}: the server answered {status}");
            let retryable = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
            return Err(if retryable { Failure::Retry(err) } else { Failure::Fatal(err) });
        }
        if partial.received > 0 {
            info!("the server does not resume downloads; starting over");
        }
        partial.restart().map_err(disk)?;
    } else {
        info!("resuming after {} bytes", partial.received);
    }
    let expected_len = response.content_length().map(|len| len + partial.received);
    let progress = progress_bar(expected_len);
    progress.set_position(partial.received);
    let started = Instant::now();
    let first_byte = partial.received;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::Retry(anyhow!(e).context(format!("connection to {url} broke after {} bytes", partial.received)))
        })?;
        partial.part.as_file_mut().write_all(&chunk).map_err(disk)?;
        partial.hasher.update(&chunk);
        partial.received += chunk.len() as u64;
        progress.set_position(partial.received);
    }
    progress.finish_and_clear();
    if let Some(expected) = expected_len {
        if partial.received != expected {
            return Err(Failure::Retry(anyhow!(
                "{url}: received {} of {expected} bytes (truncated download)",
                partial.received
            )));
        }
    }
    let file = partial.part.as_file_mut();
    file.flush().and_then(|_| file.sync_all()).map_err(disk)?;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    info!("downloaded {:.1} MiB in {secs:.1}s", (partial.received - first_byte) as f64 / (1 << 20) as f64);
    Ok(())
}

/// The first byte a 206 answer carries, from `Content-Range: bytes FIRST-LAST/TOTAL`.
fn resume_offset(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

fn error_chain_mentions(err: &(dyn std::error::Error + 'static), needle: &str) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.to_string().to_lowercase().contains(needle) {
            return true;
        }
        current = e.source();
    }
    false
}

/// A byte progress bar on a terminal; hidden otherwise (the log lines above and
/// below it say what happened).
fn progress_bar(len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{spinner} LKL archive [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{spinner} LKL archive {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    /// embctl/Cargo.toml pins idna_adapter to 1.1 (the unicode-rs mapping, not
    /// ICU4X, for compile time): an internationalized mirror host still works.
    #[test]
    fn mirror_urls_map_international_host_names() {
        let url = reqwest::Url::parse("https://bücher.example/lkl.zip").unwrap();
        assert_eq!(url.host_str(), Some("xn--bcher-kva.example"));
        assert!(reqwest::Url::parse("https://a\u{200B}b\u{0301}\u{FFFF}.example/").is_err(), "a disallowed code point is refused");
    }
}
