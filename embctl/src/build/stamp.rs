//! Build steps whose inputs did not change are not run again: starting a
//! container only for cargo or make to find nothing to do costs about a second
//! per step, most of a warm `embctl run`.
//!
//! A step's stamp (`build/base/stamps/<step>`) is a SHA-256 over the container
//! command (image, argv, environment, mounts), the path, size and mtime (ns) of
//! every input file, taken *before* the step ran, and the same of its outputs
//! *after* it ran. The step is skipped when the same digest, taken now, matches:
//! same image and command, no input touched (stricter than cargo, which only
//! looks for newer inputs), outputs as the step left them. A file edited while
//! the step ran changes the next digest, so it is built again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

pub struct Stamp {
    file: PathBuf,
    /// The digest of the command and the inputs, taken when the stamp was made.
    inputs: Sha256,
}

impl Stamp {
    /// The stamp of step `name` under `dir`, with `command` describing the
    /// container and `inputs` the files or trees it reads (now).
    /// Directories named `target` (cargo's output of host builds) are not inputs.
    pub fn new(dir: &Path, name: &str, command: &str, inputs: &[PathBuf]) -> Stamp {
        Self::skipping(dir, name, command, inputs, &["target"])
    }

    /// As [`Stamp::new`], with directories of the names in `skip` left out of the inputs.
    pub fn skipping(dir: &Path, name: &str, command: &str, inputs: &[PathBuf], skip: &[&str]) -> Stamp {
        let mut digest = Sha256::new();
        digest.update(command.as_bytes());
        digest.update([0]);
        for input in inputs {
            add_tree(&mut digest, input, skip);
        }
        Stamp { file: dir.join(name), inputs: digest }
    }

    fn with_outputs(&self, outputs: &[PathBuf]) -> String {
        let mut digest = self.inputs.clone();
        digest.update(b"outputs\0");
        for output in outputs {
            add_tree(&mut digest, output, &[]);
        }
        hex::encode(digest.finalize())
    }

    /// Whether the step already ran with these inputs and its outputs are untouched.
    pub fn is_current(&self, outputs: &[PathBuf]) -> bool {
        fs::read_to_string(&self.file).is_ok_and(|recorded| recorded.trim() == self.with_outputs(outputs))
    }

    /// Records a successful run (failing to is not an error: the step just runs next time).
    pub fn record(&self, outputs: &[PathBuf]) {
        let written = self.file.parent().map_or(Ok(()), fs::create_dir_all).and_then(|()| fs::write(&self.file, self.with_outputs(outputs) + "\n"));
        if let Err(e) = written {
            tracing::debug!("cannot write the build stamp {}: {e}", self.file.display());
        }
    }

    /// Forgets the stamp (a failed step).
    pub fn clear(&self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// Every file at or below `path`, sorted, as path, size and mtime; a missing
/// path counts as such. Directories named in `skip` are left out.
fn add_tree(digest: &mut Sha256, path: &Path, skip: &[&str]) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        digest.update(format!("missing {}\0", path.display()).as_bytes());
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = fs::read_dir(path) else {
            digest.update(format!("unreadable {}\0", path.display()).as_bytes());
            return;
        };
        let mut children: Vec<(PathBuf, bool)> =
            entries.filter_map(|e| e.ok()).map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir()))).collect();
        children.sort();
        for (child, _) in children.iter().filter(|(c, dir)| !(*dir && c.file_name().is_some_and(|n| skip.iter().any(|s| n == *s)))) {
            add_tree(digest, child, skip);
        }
        return;
    }
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    digest.update(format!("{} {} {mtime}\0", path.display(), meta.len()).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_current_until_an_input_an_output_or_the_command_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (src, out, stamps) = (dir.path().join("src"), dir.path().join("out"), dir.path().join("stamps"));
        fs::create_dir_all(src.join("target")).unwrap();
        fs::write(src.join("a.rs"), "fn a() {}").unwrap();
        fs::write(out.with_extension("bin"), "built").unwrap();
        let outputs = [out.with_extension("bin")];
        let stamp = || Stamp::new(&stamps, "kernel", "image cargo build", &[src.clone()]);
        assert!(!stamp().is_current(&outputs), "never built");
        stamp().record(&outputs);
        assert!(stamp().is_current(&outputs));

        fs::write(src.join("target/junk"), "host test output").unwrap();
        assert!(stamp().is_current(&outputs), "target/ is not an input");
        assert!(!Stamp::new(&stamps, "kernel", "other image cargo build", &[src.clone()]).is_current(&outputs));

        fs::write(src.join("a.rs"), "fn b() {}").unwrap();
        assert!(!stamp().is_current(&outputs), "an edited input");
        stamp().record(&outputs);
        fs::write(src.join("new.rs"), "").unwrap();
        assert!(!stamp().is_current(&outputs), "a new input");
        stamp().record(&outputs);
        fs::remove_file(&outputs[0]).unwrap();
        assert!(!stamp().is_current(&outputs), "a removed output");
    }

    #[test]
    fn an_input_edited_while_the_step_ran_is_built_again() {
        let dir = tempfile::tempdir().unwrap();
        let (src, stamps) = (dir.path().join("a.rs"), dir.path().join("stamps"));
        fs::write(&src, "v1").unwrap();
        let before = Stamp::new(&stamps, "kernel", "cmd", std::slice::from_ref(&src));
        // ... the step runs; meanwhile the user saves a change ...
        std::thread::sleep(std::time::Duration::from_millis(5));
        fs::write(&src, "v2").unwrap();
        before.record(&[]);
        assert!(!Stamp::new(&stamps, "kernel", "cmd", &[src]).is_current(&[]));
    }
}
