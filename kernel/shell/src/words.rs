//! Splits a command line into words the way a POSIX shell does, for the
//! subset our shell needs: blanks separate words; `'…'` keeps everything
//! literally; `"…"` keeps blanks and lets `\` escape `$ \` " and newline;
//! `\` outside quotes escapes any character; `$?` expands to the last exit
//! status outside single quotes; `#` at the start of a word starts a comment.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    UnterminatedSingleQuote,
    UnterminatedDoubleQuote,
    TrailingBackslash,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitError::UnterminatedSingleQuote => "unterminated single quote",
            SplitError::UnterminatedDoubleQuote => "unterminated double quote",
            SplitError::TrailingBackslash => "backslash at the end of the line",
        })
    }
}

/// Splits `line` into words, expanding `$?` to `last_status`.
pub fn split_words(line: &str, last_status: i32) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any character or quote was seen ("" is a word).
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedSingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedDoubleQuote),
                        },
                        Some('$') if chars.peek() == Some(&'?') => {
                            chars.next();
                            push_status(&mut word, last_status);
                        }
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedDoubleQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            '$' if chars.peek() == Some(&'?') => {
                chars.next();
                in_word = true;
                push_status(&mut word, last_status);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn push_status(word: &mut String, status: i32) {
    use core::fmt::Write;
    let _ = write!(word, "{status}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_words(line, 0).unwrap()
    }

    #[test]
    fn blanks_separate_words() {
        assert_eq!(split("  echo   a\tb  "), ["echo", "a", "b"]);
        assert!(split("   ").is_empty());
    }

    #[test]
    fn quotes_keep_blanks_and_join_adjacent_parts() {
        assert_eq!(split(r#"echo "Hello, World!" 'a  b'c"#), ["echo", "Hello, World!", "a  bc"]);
        assert_eq!(split(r#"echo "" ''"#), ["echo", "", ""]);
    }

    #[test]
    fn backslash_rules_differ_inside_double_quotes() {
        assert_eq!(split(r#"echo a\ b "x\"y" "\n" '\n'"#), ["echo", "a b", "x\"y", "\\n", "\\n"]);
    }

    #[test]
    fn dollar_question_expands_except_in_single_quotes() {
        assert_eq!(split_words(r#"echo $? "[$?]" '$?' $x"#, 42).unwrap(), ["echo", "42", "[42]", "$?", "$x"]);
    }

    #[test]
    fn comments_start_only_at_a_word_boundary() {
        assert_eq!(split("echo a#b # c d"), ["echo", "a#b"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert_eq!(split_words("echo 'abc", 0), Err(SplitError::UnterminatedSingleQuote));
        assert_eq!(split_words("echo \"abc", 0), Err(SplitError::UnterminatedDoubleQuote));
        assert_eq!(split_words("echo abc\\", 0), Err(SplitError::TrailingBackslash));
    }
}
