//! Boundaries the code promises in embctl/ARCHITECTURE.md, checked on the
//! source tree so that a change crossing one fails here.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_engine_module_calls_bollard() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let engine = src.join("engine");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "expected embctl's sources under {}, found {}", src.display(), files.len());
    assert!(files.iter().any(|f| f.starts_with(&engine)), "no src/engine/ files found");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&engine))
        .filter(|f| std::fs::read_to_string(f).expect("source file").contains("bollard"))
        .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these files reach the Docker engine past src/engine/ (give the engine a method instead): {offenders:?}"
    );
}

#[test]
fn only_ui_prints() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("ui.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("source file");
            ["println!", "print!(", "eprint!(", "eprintln!"].iter().any(|m| text.contains(m))
        })
        .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these files print past src/ui.rs (use ui::print_line for results, ui::note_line for messages, tracing for logs): {offenders:?}"
    );
}

/// Files other than these see only option structs, never clap's types.
const CLI_FILES: &[&str] = &["cli.rs", "cli_docs.rs", "commands.rs", "main.rs"];

#[test]
fn operations_take_options_not_clap_types() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !CLI_FILES.iter().any(|c| f.strip_prefix(&src).is_ok_and(|rel| rel == Path::new(c))))
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("source file");
            ["clap::", "use clap", "clap_complete", "clap_mangen", "crate::cli", "super::cli"].iter().any(|m| text.contains(m))
        })
        .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these operations name clap or the cli module's types (give them an options struct, converted in src/commands.rs): {offenders:?}"
    );
}

#[test]
fn the_engine_leaves_signals_temp_trees_and_the_terminal_to_interrupt_rs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("engine"), &mut files);
    assert!(files.len() > 3, "no src/engine/ files found");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("source file");
            ["tokio::signal", "libc::kill", "umount", "restore_terminal", "remove_dir_all", "TreeGuard"].iter().any(|m| text.contains(m))
        })
        .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "src/engine/ is only the Docker Engine API boundary; signals, temporary trees, unmounting and the terminal belong in src/interrupt.rs: {offenders:?}"
    );
}
