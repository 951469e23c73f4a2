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

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files under `src/<below>` (relative to `src/`) that are not
/// `allowed` and contain one of `markers`.
fn files_mentioning(below: &str, allowed: impl Fn(&Path) -> bool, markers: &[&str]) -> Vec<String> {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src.join(below), &mut files);
    assert!(files.len() > 3, "expected embctl's sources under {}/{below}, found {}", src.display(), files.len());
    files
        .iter()
        .map(|f| f.strip_prefix(&src).expect("under src/").to_path_buf())
        .filter(|rel| !allowed(rel))
        .filter(|rel| {
            let text = std::fs::read_to_string(src.join(rel)).expect("source file");
            markers.iter().any(|m| text.contains(m))
        })
        .map(|rel| rel.display().to_string())
        .collect()
}

#[test]
fn only_the_engine_module_calls_bollard() {
    assert!(src().join("engine/mod.rs").is_file(), "no src/engine/ found");
    let offenders = files_mentioning("", |rel| rel.starts_with("engine"), &["bollard"]);
    assert!(
        offenders.is_empty(),
        "these files reach the Docker engine past src/engine/ (give the engine a method instead): {offenders:?}"
    );
}

#[test]
fn only_ui_prints() {
    let offenders = files_mentioning("", |rel| rel == Path::new("ui.rs"), &["println!", "print!(", "eprint!(", "eprintln!"]);
    assert!(
        offenders.is_empty(),
        "these files print past src/ui.rs (use ui::print_line for results, ui::note_line for messages, tracing for logs): {offenders:?}"
    );
}

/// Files other than these see only option structs, never clap's types.
const CLI_FILES: &[&str] = &["cli.rs", "cli_docs.rs", "commands.rs", "main.rs"];

#[test]
fn operations_take_options_not_clap_types() {
    let offenders = files_mentioning(
        "",
        |rel| CLI_FILES.iter().any(|c| rel == Path::new(c)),
        &["clap::", "use clap", "clap_complete", "clap_mangen", "crate::cli", "super::cli"],
    );
    assert!(
        offenders.is_empty(),
        "these operations name clap or the cli module's types (give them an options struct, converted in src/commands.rs): {offenders:?}"
    );
}

#[test]
fn the_engine_leaves_signals_temp_trees_and_the_terminal_to_interrupt_rs() {
    let offenders = files_mentioning(
        "engine",
        |_| false,
        &["tokio::signal", "libc::kill", "umount", "restore_terminal", "remove_dir_all", "TreeGuard"],
    );
    assert!(
        offenders.is_empty(),
        "src/engine/ is only the Docker Engine API boundary; signals, temporary trees, unmounting and the terminal belong in src/interrupt.rs: {offenders:?}"
    );
}

/// Where `text` indexes a raw syscall argument array: `a[N]` with a digit
/// (the registers before the table decoded them), as (line, text) pairs.
fn raw_argument_indexing(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        for i in 0..bytes.len().saturating_sub(2) {
            let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if starts_word && bytes[i] == b'a' && bytes[i + 1] == b'[' && bytes[i + 2].is_ascii_digit() {
                found.push((n + 1, line.trim().to_string()));
                break;
            }
        }
    }
    found
}

#[test]
fn raw_argument_indexing_is_recognised() {
    assert_eq!(raw_argument_indexing("let fd = a[0];\nlet x = data[1];\n// a[2] in a comment\n").len(), 1);
    assert!(raw_argument_indexing("let (fd, buf) = (a[0], UserSlice::new(a[1], a[2]));").len() == 1);
    assert!(raw_argument_indexing("fn read(p: &mut Process, fd: Fd, buf: UserSlice)").is_empty());
}

/// kernel/ARCHITECTURE.md: syscall handlers take typed arguments (`Fd`,
/// `UserPtr`/`UserSlice`/`UserString`, integers) that the table decodes once
/// (`syscall/args.rs`); none takes or indexes the raw registers. (Two
/// decoders read them by a computed index: `args.rs` itself, and
/// `forward::forward`, which stages each register as LKL's route table says;
/// `forward::forward_rw` names the six registers by destructuring.)
#[test]
fn syscall_handlers_do_not_index_raw_arguments() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/os/src/syscall");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() > 10, "expected the syscall handlers under {}, found {}", dir.display(), files.len());
    let mut offenders = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let text = std::fs::read_to_string(file).expect("source file");
        for (line, code) in raw_argument_indexing(&text) {
            offenders.push(format!("{name}:{line}: {code}"));
        }
        if ["Process, a: &Args)", "Process, _a: &Args)"].iter().any(|raw| text.contains(raw)) {
            offenders.push(format!("{name}: a handler takes the raw `&Args` (name its arguments' types instead)"));
        }
    }
    assert!(
        offenders.is_empty(),
        "syscall handlers index raw argument registers; give the handler typed parameters \
         (Fd, UserPtr<T>, UserSlice, UserString, u32/i32/usize, Off64) and wrap it in sys!(...) in the table:\n{}",
        offenders.join("\n")
    );
}
