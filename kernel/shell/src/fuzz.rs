//! Fuzz targets (bolero). `cargo test` runs each on its seed corpus in
//! `src/__fuzz__/` and one second of random inputs; `cargo bolero test
//! embox_shell::fuzz::fuzz_line_editor` fuzzes with libFuzzer.

use alloc::string::String;

use crate::{split_words, Key, LineEditor, MAX_LINE};

/// Any byte stream typed at the prompt: no panic, lines within the limit.
#[test]
fn fuzz_line_editor() {
    bolero::check!().for_each(|typed: &[u8]| {
        let mut editor = LineEditor::new();
        for &byte in typed {
            if let Key::Line(line) = editor.feed(byte) {
                assert!(line.len() <= MAX_LINE * 3, "a line longer than the limit (lossy UTF-8 at most triples)");
            }
            assert!(editor.current().len() <= MAX_LINE);
        }
    });
}

/// Any line given to the word splitter: words or a syntax error.
#[test]
fn fuzz_split_words() {
    bolero::check!().for_each(|line: &[u8]| {
        let line = String::from_utf8_lossy(line);
        if let Ok(words) = split_words(&line, 130) {
            assert!(words.iter().map(String::len).sum::<usize>() <= line.len() * 3 + 8);
        }
    });
}
