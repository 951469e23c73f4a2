//! Path arithmetic on `/`-separated strings.

use alloc::string::String;
use alloc::vec::Vec;

/// Resolves `path` against the absolute directory `cwd` into an absolute
/// path without `.`, `..` or repeated slashes (`..` at `/` stays at `/`).
pub fn normalize(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') { [path, ""] } else { [cwd, path] };
    for piece in joined.iter().flat_map(|p| p.split('/')) {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut out = String::from("/");
    out.push_str(&parts.join("/"));
    out
}

/// `path` made absolute against the absolute directory `cwd`, keeping its
/// `.`, `..` and trailing slash for the tree to resolve: `..` after a
/// symbolic link or a file is not the lexical parent, and `file/` is
/// ENOTDIR (what system calls need; [`normalize`] is for the shell).
pub fn join(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        return String::from(path);
    }
    let mut out = String::from(cwd);
    if !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(path);
    out
}

/// Splits an absolute normalized path into parent and last component
/// (`"/a/b"` → `("/a", "b")`; `"/"` → `None`).
pub(crate) fn split_last(path: &str) -> Option<(&str, &str)> {
    let idx = path.rfind('/')?;
    let name = &path[idx + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if idx == 0 { "/" } else { &path[..idx] }, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_relative_and_dotted_paths() {
        assert_eq!(normalize("/", "etc/motd"), "/etc/motd");
        assert_eq!(normalize("/tmp", "../etc//./motd"), "/etc/motd");
        assert_eq!(normalize("/", "/../.."), "/");
        assert_eq!(normalize("/a/b", ""), "/a/b");
    }

    #[test]
    fn join_keeps_dots_and_trailing_slashes() {
        assert_eq!(join("/", "a/../b/"), "/a/../b/");
        assert_eq!(join("/tmp", "x"), "/tmp/x");
        assert_eq!(join("/tmp", "/etc/"), "/etc/");
    }

    #[test]
    fn splits_parent_and_name() {
        assert_eq!(split_last("/a/b"), Some(("/a", "b")));
        assert_eq!(split_last("/a"), Some(("/", "a")));
        assert_eq!(split_last("/"), None);
    }
}
