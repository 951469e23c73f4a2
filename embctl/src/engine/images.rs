//! Image operations on the engine: inspect, list by label, remove, build from an
//! in-memory context, import a root filesystem tarball, pull with a deadline.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{engine_err, Engine};

/// What embctl needs to know of one image (the engine's own types stay in `engine/`).
#[derive(Debug, Clone, Default)]
pub struct ImageInfo {
    /// Full id (`sha256:...`); empty when the engine gave none.
    pub id: String,
    /// `repo:tag` references, without `<none>:<none>`.
    pub repo_tags: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Size in bytes.
    pub size: i64,
    /// Creation time, seconds since the epoch (from listings; 0 from `inspect_image`).
    pub created: i64,
}

impl Engine {
    /// The image's metadata, or `None` when no image has that reference.
    pub async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        match self.docker.inspect_image(reference).await {
            Ok(info) => Ok(Some(ImageInfo {
                id: info.id.unwrap_or_default(),
                repo_tags: info.repo_tags.unwrap_or_default().into_iter().filter(|t| t != "<none>:<none>").collect(),
                labels: info.config.and_then(|c| c.labels).unwrap_or_default(),
                size: info.size.unwrap_or_default(),
                // Inspect gives an RFC 3339 string; nothing needs it from here.
                created: 0,
            })),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(engine_err(format!("cannot inspect image {reference}"), e)),
        }
    }

    /// Images carrying `label` (`key` or `key=value`).
    pub async fn images_with_label(&self, label: &str) -> Result<Vec<ImageInfo>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let images = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|e| engine_err(format!("cannot list images labelled {label}"), e))?;
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                repo_tags: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                labels: i.labels,
                size: i.size,
                created: i.created,
            })
            .collect())
    }

    /// Gives image `source` the extra reference `target` (`repo:tag`).
    pub async fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        let (repo, tag) = target.split_once(':').unwrap_or((target, "latest"));
        let opts = TagImageOptions {
            repo: Some(repo.into()),
            tag: Some(tag.into()),
        };
        self.docker
            .tag_image(source, Some(opts))
            .await
            .map_err(|e| engine_err(format!("cannot tag {source} as {target}"), e))
    }

    /// Removes an image by tag or id (untags only when other tags remain).
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        let opts = RemoveImageOptions {
            force,
            noprune: false,
            platforms: None,
        };
        match self.docker.remove_image(reference, Some(opts), None).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) => {
                bail!("cannot remove image {reference}: {message}; remove the containers using it first")
            }
            Err(e) => Err(engine_err(format!("cannot remove image {reference}"), e)),
        }
    }

    /// Builds `tag` from an in-memory tar context with the classic builder; every
    /// output line goes to `on_line`. Fails with the builder's own message.
    pub async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        build_args: HashMap<String, String>,
        labels: HashMap<String, String>,
        no_cache: bool,
        mut on_line: impl FnMut(&str),
    ) -> Result<()> {
        let opts = BuildImageOptions {
            dockerfile: "Dockerfile".into(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            nocache: no_cache,
            buildargs: Some(build_args),
            labels: Some(labels),
            ..Default::default()
        };
        let mut stream = self
            .docker
            .build_image(opts, None, Some(bollard::body_full(Bytes::from(context_tar))));
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    bail!("building {tag} failed: {}", error.trim())
                }
                Err(e) => return Err(engine_err(format!("building {tag} failed"), e)),
            };
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                bail!("building {tag} failed: {}", detail.trim());
            }
            if let Some(text) = info.stream.or(info.status) {
                pending.push_str(&text);
                while let Some(nl) = pending.find('\n') {
                    let line: String = pending.drain(..=nl).collect();
                    on_line(line.trim_end());
                }
            }
        }
        if !pending.trim().is_empty() {
            on_line(pending.trim_end());
        }
        Ok(())
    }

    /// Imports a root filesystem tarball streamed from `tar` as `repo:tag`
    /// (the Engine API's `POST /images/create?fromSrc=-`, i.e. `docker import`).
    pub async fn import_rootfs<S>(&self, repo: &str, tag: &str, changes: Vec<String>, tar: S) -> Result<String>
    where
        S: Stream<Item = Bytes> + Send + 'static,
    {
        let opts = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            changes,
            ..Default::default()
        };
        let mut stream = self
            .docker
            .create_image(Some(opts), Some(bollard::body_stream(tar)), None);
        let mut last_status = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| engine_err(format!("importing {repo}:{tag} failed"), e))?;
            if let Some(status) = info.status {
                last_status = status;
            }
        }
        let reference = format!("{repo}:{tag}");
        let info = self.inspect_image(&reference).await?.ok_or_else(|| {
            anyhow!("the engine accepted the import of {reference} but has no such image ({last_status})")
        })?;
        Ok(if info.id.is_empty() { reference } else { info.id })
    }

    /// Pulls `reference`. Gives up when the registry has not answered within
    /// `first_answer` (air-gapped machines: we do not wait for the engine's own
    /// timeout); once it answers, the pull may take as long as it needs.
    pub async fn pull_image(&self, reference: &str, first_answer: Duration) -> Result<()> {
        let opts = CreateImageOptions {
            from_image: Some(reference.into()),
            ..Default::default()
        };
        let mut stream = self.docker.create_image(Some(opts), None, None);
        let first = match tokio::time::timeout(first_answer, stream.next()).await {
            Ok(first) => first,
            Err(_) => bail!(
                "no registry answered within {}s while pulling {reference}",
                first_answer.as_secs()
            ),
        };
        let mut next = first;
        while let Some(item) = next {
            let info = item.map_err(|e| engine_err(format!("cannot pull {reference}"), e))?;
            if let Some(status) = info.status {
                tracing::debug!("pull {reference}: {status}");
            }
            next = stream.next().await;
        }
        Ok(())
    }
}
