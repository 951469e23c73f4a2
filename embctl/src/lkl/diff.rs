//! Comparing two trees (the clean patched tree and the build tree) as a
//! git-style unified diff, honouring the excludes list of build artefacts.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use diffy::{DiffOptions, PatchFormatter};

use super::archive::{ArchiveTree, Entry, Kind};
use super::patch::Changes;

/// Patterns from `lkl-diff-excludes.txt`: a pattern without `/` matches any
/// file or directory name (as `diff -X` does); one with `/` matches a path
/// relative to the tree root. `*` and `?` are wildcards.
#[derive(Debug, Default)]
pub struct Excludes {
    names: Vec<String>,
    paths: Vec<String>,
}

impl Excludes {
    pub fn load(file: &Path) -> Result<Self> {
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", file.display())),
        };
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let mut excludes = Self::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let pattern = line.trim_start_matches('/').trim_end_matches('/').to_string();
            if pattern.contains('/') {
                excludes.paths.push(pattern);
            } else {
                excludes.names.push(pattern);
            }
        }
        excludes
    }

    /// Whether `rel` or one of its parent directories is excluded.
    pub fn excludes_path(&self, rel: &Path) -> bool {
        rel.ancestors().filter(|a| !a.as_os_str().is_empty()).any(|a| self.matches(a))
    }

    /// The same patterns as git `:(exclude)` pathspecs.
    pub fn git_pathspecs(&self) -> Vec<String> {
        let mut specs = Vec::new();
        for name in &self.names {
            specs.push(format!(":(exclude,glob)**/{name}"));
            specs.push(format!(":(exclude,glob)**/{name}/**"));
        }
        for path in &self.paths {
            specs.push(format!(":(exclude,glob){path}"));
            specs.push(format!(":(exclude,glob){path}/**"));
        }
        specs
    }

    pub fn matches(&self, rel: &Path) -> bool {
        let name = rel.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let full = rel.to_string_lossy();
        self.names.iter().any(|p| wildcard(p.as_bytes(), name.as_bytes()))
            || self.paths.iter().any(|p| wildcard(p.as_bytes(), full.as_bytes()))
    }
}

/// Shell-style `*` and `?` matching.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&pattern[1..], text) || (!text.is_empty() && wildcard(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// Regular files of a tree (relative path → mode), excluded names pruned.
/// Symlinks are listed separately: unified diffs cannot carry them.
fn walk(root: &Path, excludes: &Excludes) -> Result<(BTreeMap<PathBuf, u32>, Vec<PathBuf>)> {
    let mut files = BTreeMap::new();
    let mut links = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let child = rel.join(entry.file_name());
            if excludes.matches(&child) {
                continue;
            }
            let meta = fs::symlink_metadata(entry.path()).with_context(|| format!("cannot stat {}", entry.path().display()))?;
            if meta.is_dir() {
                stack.push(child);
            } else if meta.is_file() {
                files.insert(child, meta.permissions().mode() & 0o777);
            } else if meta.file_type().is_symlink() {
                links.push(child);
            }
        }
    }
    Ok((files, links))
}

/// One changed file.
#[derive(Debug)]
pub struct FileDiff {
    pub path: PathBuf,
    /// The git-style text for this file (headers and hunks).
    pub text: Vec<u8>,
    pub insertions: usize,
    pub deletions: usize,
    pub binary: bool,
}

/// A tree-to-tree comparison.
#[derive(Debug, Default)]
pub struct TreeDiff {
    pub files: Vec<FileDiff>,
    /// Symlinks that differ: reported, but not representable in the patch.
    pub changed_links: Vec<PathBuf>,
}

fn git_mode(mode: u32) -> &'static str {
    if mode & 0o111 != 0 {
        "100755"
    } else {
        "100644"
    }
}

/// Diff from the clean tree (the archive with `changes` from the held
/// patches on top) to the work tree on disk.
pub fn diff_against_archive(clean: &ArchiveTree, changes: &Changes, work: &Path, excludes: &Excludes) -> Result<TreeDiff> {
    let mut old_files: BTreeMap<PathBuf, u32> = BTreeMap::new();
    let mut old_links: BTreeMap<PathBuf, &Entry> = BTreeMap::new();
    for (rel, entry) in &clean.entries {
        if excludes.excludes_path(rel) {
            continue;
        }
        match entry.kind {
            Kind::File => {
                old_files.insert(rel.clone(), entry.mode);
            }
            Kind::Symlink => {
                old_links.insert(rel.clone(), entry);
            }
        }
    }
    for (rel, change) in changes {
        match change {
            Some(data) if !excludes.excludes_path(rel) => {
                old_files.insert(rel.clone(), data.mode);
            }
            _ => {
                old_files.remove(rel);
            }
        }
    }
    let (new_files, new_links) = walk(work, excludes)?;

    let mut result = TreeDiff::default();
    let mut paths: Vec<&PathBuf> = old_files.keys().chain(new_files.keys()).collect();
    paths.sort();
    paths.dedup();
    for rel in paths {
        let new = match new_files.get(rel) {
            Some(mode) => {
                let path = work.join(rel);
                Some((fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?, *mode))
            }
            None => None,
        };
        let old = match old_files.get(rel) {
            None => None,
            Some(mode) => match changes.get(rel) {
                Some(Some(data)) => Some((data.bytes.clone(), *mode)),
                _ => {
                    let entry = &clean.entries[rel];
                    // Fast path: same size, mode and CRC-32 as stored in the archive.
                    if let Some((bytes, new_mode)) = &new {
                        if bytes.len() as u64 == entry.size
                            && git_mode(*new_mode) == git_mode(*mode)
                            && crc32fast::hash(bytes) == entry.crc32
                        {
                            continue;
                        }
                    }
                    Some((clean.read(entry)?, *mode))
                }
            },
        };
        if let Some(file) = diff_file(rel, old, new)? {
            result.files.push(file);
        }
    }
    let mut links: Vec<&PathBuf> = old_links.keys().chain(new_links.iter()).collect();
    links.sort();
    links.dedup();
    for rel in links {
        let old = old_links.get(rel).map(|entry| clean.read(entry)).transpose()?.map(|t| PathBuf::from(String::from_utf8_lossy(&t).into_owned()));
        if old != fs::read_link(work.join(rel)).ok() {
            result.changed_links.push(rel.clone());
        }
    }
    Ok(result)
}

fn diff_file(rel: &Path, old: Option<(Vec<u8>, u32)>, new: Option<(Vec<u8>, u32)>) -> Result<Option<FileDiff>> {
    let old_mode = old.as_ref().map(|(_, m)| git_mode(*m));
    let new_mode = new.as_ref().map(|(_, m)| git_mode(*m));
    let (had_old, had_new) = (old.is_some(), new.is_some());
    let old_bytes = old.map(|(b, _)| b).unwrap_or_default();
    let new_bytes = new.map(|(b, _)| b).unwrap_or_default();
    if had_old == had_new && old_bytes == new_bytes && old_mode == new_mode {
        return Ok(None);
    }
    let name = rel.to_string_lossy();
    let mut text = format!("diff --git a/{name} b/{name}\n").into_bytes();
    match (old_mode, new_mode) {
        (None, Some(mode)) => writeln!(text, "new file mode {mode}")?,
        (Some(mode), None) => writeln!(text, "deleted file mode {mode}")?,
        (Some(a), Some(b)) if a != b => writeln!(text, "old mode {a}\nnew mode {b}")?,
        _ => {}
    }
    let binary = old_bytes.contains(&0) || new_bytes.contains(&0);
    let (mut insertions, mut deletions) = (0, 0);
    if binary {
        writeln!(text, "Binary files a/{name} and b/{name} differ")?;
    } else if old_bytes != new_bytes {
        let mut options = DiffOptions::new();
        options.set_original_filename(if had_old { format!("a/{name}") } else { "/dev/null".into() });
        options.set_modified_filename(if had_new { format!("b/{name}") } else { "/dev/null".into() });
        let patch = options.create_patch_bytes(&old_bytes, &new_bytes);
        for hunk in patch.hunks() {
            for line in hunk.lines() {
                match line {
                    diffy::Line::Insert(_) => insertions += 1,
                    diffy::Line::Delete(_) => deletions += 1,
                    diffy::Line::Context(_) => {}
                }
            }
        }
        PatchFormatter::new().write_patch_into(&patch, &mut text)?;
    }
    Ok(Some(FileDiff { path: rel.to_path_buf(), text, insertions, deletions, binary }))
}

impl TreeDiff {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.changed_links.is_empty()
    }

    /// The whole diff as one patch.
    pub fn patch_text(&self) -> Vec<u8> {
        self.files.iter().flat_map(|f| f.text.iter().copied()).collect()
    }

    /// `git diff --stat` style summary.
    pub fn stat(&self) -> String {
        let width = self.files.iter().map(|f| f.path.to_string_lossy().len()).max().unwrap_or(0);
        let mut out = String::new();
        let (mut ins, mut del) = (0, 0);
        for file in &self.files {
            let changes = if file.binary {
                "Bin".to_string()
            } else {
                format!("{} {}{}", file.insertions + file.deletions, "+".repeat(file.insertions.min(40)), "-".repeat(file.deletions.min(40)))
            };
            out.push_str(&format!(" {:width$} | {changes}\n", file.path.to_string_lossy()));
            ins += file.insertions;
            del += file.deletions;
        }
        out.push_str(&format!(
            " {} file{} changed, {ins} insertion{}(+), {del} deletion{}(-)\n",
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            if ins == 1 { "" } else { "s" },
            if del == 1 { "" } else { "s" },
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_match_names_anywhere_and_paths_from_the_root() {
        let ex = Excludes::parse("# build artefacts\n*.o\n.builded\ntools/lkl/include/lkl/\n");
        assert!(ex.matches(Path::new("tools/lkl/lib/fs.o")));
        assert!(ex.matches(Path::new(".builded")));
        assert!(ex.matches(Path::new("tools/lkl/include/lkl")));
        assert!(!ex.matches(Path::new("tools/lkl/lib/fs.c")));
        assert!(!ex.matches(Path::new("include/lkl")));
    }
}
