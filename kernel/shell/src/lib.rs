//! The shell's hardware-independent parts, unit-tested on the host: the
//! [`LineEditor`] (what each typed byte does to the line and what to echo)
//! and [`split_words`] (POSIX-style quoting and `$?`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod line;
mod words;

pub use line::{Key, LineEditor, MAX_LINE};
pub use words::{split_words, SplitError};

#[cfg(test)]
mod fuzz;
