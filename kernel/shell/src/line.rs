//! A line editor for a serial terminal: printable bytes are appended and
//! echoed; Backspace (0x7f or 0x08) erases one character; Ctrl-U erases the
//! line; Ctrl-C drops it; Enter (CR or LF, and a CR LF pair counts once)
//! ends it. Up and Down (`ESC [ A` / `ESC [ B`) walk the history of entered
//! lines; other escape sequences (arrows, function keys) are swallowed
//! rather than typed.

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
    /// Ctrl-C: the line is dropped (echo `^C` and a newline, prompt again).
    Cancel,
    /// Enter after a line longer than [`MAX_LINE`] bytes: the line is
    /// dropped, not run cut short (holds the length typed).
    TooLong(usize),
}

/// Longest line the editor keeps, in bytes.
pub const MAX_LINE: usize = 4096;
const MAX_HISTORY: usize = 64;

/// Where we are in an escape sequence.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// After `ESC [` (CSI) or `ESC O` (SS3): parameters until a final byte.
    Sequence,
}

#[derive(Debug, Default)]
pub struct LineEditor {
    /// Bytes typed so far (UTF-8 is kept whole when erasing).
    buf: Vec<u8>,
    last_was_cr: bool,
    escape: Escape,
    /// Entered lines, oldest first.
    history: Vec<Vec<u8>>,
    /// Index into `history` while browsing it (`history.len()` = the new line).
    browsing: usize,
    /// Bytes typed past [`MAX_LINE`] on this line (dropped; the line is refused).
    overflow: usize,
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
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' { Escape::Sequence } else { Escape::None };
                return Key::None;
            }
            Escape::Sequence => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                    return match byte {
                        b'A' => self.recall(-1),
                        b'B' => self.recall(1),
                        _ => Key::None,
                    };
                }
                return Key::None;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => Key::None,
            b'\r' | b'\n' if self.overflow > 0 => {
                let typed = self.buf.len() + core::mem::take(&mut self.overflow);
                self.buf.clear();
                self.browsing = self.history.len();
                Key::TooLong(typed)
            }
            b'\r' | b'\n' => {
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                let entered = core::mem::take(&mut self.buf);
                if !entered.iter().all(u8::is_ascii_whitespace) && self.history.last() != Some(&entered) {
                    if self.history.len() == MAX_HISTORY {
                        self.history.remove(0);
                    }
                    self.history.push(entered);
                }
                self.browsing = self.history.len();
                Key::Line(line)
            }
            0x1b => {
                self.escape = Escape::Start;
                Key::None
            }
            0x7f | 0x08 => {
                let n = self.erase_one();
                Key::Echo(erase_sequence(n))
            }
            0x03 => {
                self.buf.clear();
                self.overflow = 0;
                self.browsing = self.history.len();
                Key::Cancel
            }
            0x15 => {
                let n = self.char_count();
                self.buf.clear();
                self.overflow = 0;
                Key::Echo(erase_sequence(n))
            }
            b'\t' => self.insert(b' '),
            0x00..=0x1f => Key::None,
            _ => self.insert(byte),
        }
    }

    /// Replaces the line with the previous (`-1`) or next (`1`) history entry.
    fn recall(&mut self, step: isize) -> Key {
        let target = self.browsing as isize + step;
        if target < 0 || target as usize > self.history.len() {
            return Key::Echo(alloc::vec![0x07]);
        }
        self.browsing = target as usize;
        let mut out = erase_sequence(self.char_count());
        self.buf = self.history.get(self.browsing).cloned().unwrap_or_default();
        out.extend_from_slice(&self.buf);
        Key::Echo(out)
    }

    fn insert(&mut self, byte: u8) -> Key {
        if self.buf.len() >= MAX_LINE {
            // Bell once: the line is full and will be refused at Enter.
            self.overflow += 1;
            return if self.overflow == 1 { Key::Echo(alloc::vec![0x07]) } else { Key::None };
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
    fn up_and_down_walk_the_history() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, b"ls\recho hi\r\r");
        assert_eq!(ed.feed_all_for_test(b"\x1b[A"), Some(Key::Echo(b"echo hi".to_vec())));
        assert_eq!(ed.feed_all_for_test(b"\x1b[A"), Some(Key::Echo([b"\x08 \x08".repeat(7), b"ls".to_vec()].concat())));
        assert_eq!(ed.feed_all_for_test(b"\x1b[A"), Some(Key::Echo(vec![0x07])), "bell at the oldest");
        assert_eq!(ed.feed_all_for_test(b"\x1bOB"), Some(Key::Echo([b"\x08 \x08".repeat(2), b"echo hi".to_vec()].concat())));
        assert_eq!(ed.feed(b'\r'), Key::Line("echo hi".into()));
    }

    #[test]
    fn other_escape_sequences_are_swallowed() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, b"a\x1b[C\x1b[1;5Db\x1b[3~");
        assert_eq!(ed.current(), b"ab");
    }

    impl LineEditor {
        /// The last non-None key of a byte sequence.
        fn feed_all_for_test(&mut self, bytes: &[u8]) -> Option<Key> {
            bytes.iter().map(|&b| self.feed(b)).filter(|k| *k != Key::None).last()
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_not_cut_short() {
        let mut ed = LineEditor::new();
        let mut long = alloc::vec![b'x'; MAX_LINE + 10];
        long.push(b'\r');
        let keys = feed_all(&mut ed, &long);
        assert_eq!(keys.iter().filter(|k| **k == Key::Echo(alloc::vec![0x07])).count(), 1, "one bell");
        assert_eq!(keys.last(), Some(&Key::TooLong(MAX_LINE + 10)));
        assert_eq!(feed_all(&mut ed, b"ok\r").last(), Some(&Key::Line("ok".into())), "the next line is fine");
        let mut exact = alloc::vec![b'y'; MAX_LINE];
        exact.push(b'\r');
        assert!(matches!(feed_all(&mut ed, &exact).last(), Some(Key::Line(l)) if l.len() == MAX_LINE));
    }

    #[test]
    fn ctrl_c_cancels_the_line() {
        let mut ed = LineEditor::new();
        feed_all(&mut ed, b"rm -rf");
        assert_eq!(ed.feed(0x03), Key::Cancel);
        assert_eq!(ed.current(), b"");
        assert_eq!(feed_all(&mut ed, b"ls\r").last(), Some(&Key::Line("ls".into())));
    }

    #[test]
    fn control_bytes_are_ignored() {
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(0x1b), Key::None);
        assert_eq!(ed.feed(0x01), Key::None);
        assert_eq!(ed.current(), b"");
    }
}
