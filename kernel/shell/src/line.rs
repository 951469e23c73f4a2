//! A line editor for a serial terminal: printable bytes are appended and
//! echoed; Backspace (0x7f or 0x08) erases one character; Ctrl-U erases the
//! line; Enter (CR or LF, and a CR LF pair counts once) ends it.

use alloc::string::String;
use alloc::vec::Vec;

/// What the editor made of one byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Nothing to do (an ignored control byte).
    None,
    /// Print these bytes to the terminal (echo or erase sequences).
    Echo(Vec<u8>),
    /// The line is complete: echo a newline, then run it.
    Line(String),
}

const MAX_LINE: usize = 4096;

#[derive(Debug, Default)]
pub struct LineEditor {
    /// Bytes typed so far (UTF-8 is kept whole when erasing).
    buf: Vec<u8>,
    last_was_cr: bool,
}

impl LineEditor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The line typed so far.
    pub fn current(&self) -> &[u8] {
        &self.buf
    }

    /// Feeds one input byte.
    pub fn feed(&mut self, byte: u8) -> Key {
        let after_cr = core::mem::replace(&mut self.last_was_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => Key::None,
            b'\r' | b'\n' => {
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                self.buf.clear();
                Key::Line(line)
            }
            0x7f | 0x08 => {
                let n = self.erase_one();
                Key::Echo(erase_sequence(n))
            }
            0x15 => {
                let n = self.char_count();
                self.buf.clear();
                Key::Echo(erase_sequence(n))
            }
            b'\t' => self.insert(b' '),
            0x00..=0x1f => Key::None,
            _ => self.insert(byte),
        }
    }

    fn insert(&mut self, byte: u8) -> Key {
        if self.buf.len() >= MAX_LINE {
            return Key::Echo(alloc::vec![0x07]); // bell: line full
        }
        self.buf.push(byte);
        Key::Echo(alloc::vec![byte])
    }

    /// Removes the last character (all bytes of a UTF-8 sequence); returns
    /// how many terminal columns to erase (0 or 1).
    fn erase_one(&mut self) -> usize {
        if self.buf.is_empty() {
            return 0;
        }
        while let Some(b) = self.buf.pop() {
            if b & 0xc0 != 0x80 {
                break;
            }
        }
        1
    }

    fn char_count(&self) -> usize {
        self.buf.iter().filter(|&&b| b & 0xc0 != 0x80).count()
    }
}

/// "Move left, overwrite with a space, move left" once per column.
fn erase_sequence(columns: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(columns * 3);
    for _ in 0..columns {
        out.extend_from_slice(b"\x08 \x08");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(ed: &mut LineEditor, bytes: &[u8]) -> Vec<Key> {
        bytes.iter().map(|&b| ed.feed(b)).filter(|k| *k != Key::None).collect()
    }

    #[test]
    fn echoes_and_completes_on_cr_or_lf() {
        let mut ed = LineEditor::new();
        let keys = feed_all(&mut ed, b"ls\r");
        assert_eq!(keys, [Key::Echo(b"l".to_vec()), Key::Echo(b"s".to_vec()), Key::Line("ls".into())]);
        assert_eq!(feed_all(&mut ed, b"\nps\n"), [Key::Echo(b"p".to_vec()), Key::Echo(b"s".to_vec()), Key::Line("ps".into())]);
        assert_eq!(feed_all(&mut ed, b"\n"), [Key::Line(String::new())]);
    }

    #[test]
    fn backspace_erases_one_character_and_ignores_empty_line() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, b"lsx");
        assert_eq!(ed.feed(0x7f), Key::Echo(b"\x08 \x08".to_vec()));
        assert_eq!(ed.feed(0x08), Key::Echo(b"\x08 \x08".to_vec()));
        assert_eq!(ed.current(), b"l");
        ed.feed(0x7f);
        assert_eq!(ed.feed(0x7f), Key::Echo(Vec::new()));
        assert_eq!(ed.feed(b'\r'), Key::Line(String::new()));
    }

    #[test]
    fn backspace_removes_a_whole_utf8_character() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, "aé".as_bytes());
        ed.feed(0x7f);
        assert_eq!(ed.current(), b"a");
    }

    #[test]
    fn ctrl_u_erases_the_line() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, b"echo hi");
        assert_eq!(ed.feed(0x15), Key::Echo(b"\x08 \x08".repeat(7)));
        assert_eq!(feed_all(&mut ed, b"ok\r").last(), Some(&Key::Line("ok".into())));
    }

    #[test]
    fn control_bytes_are_ignored() {
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(0x1b), Key::None);
        assert_eq!(ed.feed(0x01), Key::None);
        assert_eq!(ed.current(), b"");
    }
}
