//! The shell's hardware-independent parts, unit-tested on the host: the
//! [`LineEditor`] (what each typed byte does to the line and what to echo)
//! and [`parse_line`]/[`split_words`] (POSIX-style quoting, `$?`, and
//! unquoted `<`/`>` redirections).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod line;
mod words;

pub use line::{Key, LineEditor, MAX_LINE};
pub use words::{parse_line, split_words, Line, SplitError};

#[cfg(test)]
mod fuzz;
