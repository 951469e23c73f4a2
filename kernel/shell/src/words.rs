//! Splits a command line into words the way a POSIX shell does, for the
//! subset our shell needs: blanks separate words; `'…'` keeps everything
//! literally; `"…"` keeps blanks and lets `\` escape `$ \` " and newline;
//! `\` outside quotes escapes any character; `$?` expands to the last exit
//! status outside single quotes; `#` at the start of a word starts a comment.
//! [`parse_line`] also takes redirections: an unquoted `<` or `>` word
//! names the file in the next word; a quoted one (`">"`, `'<'`, `\>`) is
//! an ordinary argument, as in sh.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    UnterminatedSingleQuote,
    UnterminatedDoubleQuote,
    TrailingBackslash,
    /// `<` or `>` (the operator given) with no file name after it.
    MissingRedirectTarget(char),
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let SplitError::MissingRedirectTarget(op) = self {
            return write!(f, "'{op}' needs a file name after it");
        }
        f.write_str(match self {
            SplitError::UnterminatedSingleQuote => "unterminated single quote",
            SplitError::UnterminatedDoubleQuote => "unterminated double quote",
            SplitError::TrailingBackslash => "backslash at the end of the line",
            SplitError::MissingRedirectTarget(_) => unreachable!(),
        })
    }
}

/// A command line: its words, and the files its unquoted `< FILE` and
/// `> FILE` name (the last of each wins, as in sh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub words: Vec<String>,
    pub stdin: Option<String>,
    pub stdout: Option<String>,
}

/// Splits `line` into words, expanding `$?` to `last_status`; `<` and `>`
/// stay words whether quoted or not (see [`parse_line`] for redirections).
pub fn split_words(line: &str, last_status: i32) -> Result<Vec<String>, SplitError> {
    Ok(tokens(line, last_status)?.into_iter().map(|(word, _)| word).collect())
}

/// Splits `line` into words and redirections, expanding `$?`.
pub fn parse_line(line: &str, last_status: i32) -> Result<Line, SplitError> {
    let mut parsed = Line::default();
    let mut tokens = tokens(line, last_status)?.into_iter();
    while let Some((word, quoted)) = tokens.next() {
        let target = match word.as_str() {
            "<" if !quoted => &mut parsed.stdin,
            ">" if !quoted => &mut parsed.stdout,
            _ => {
                parsed.words.push(word);
                continue;
            }
        };
        let op = word.chars().next().unwrap_or('>');
        let (file, _) = tokens.next().ok_or(SplitError::MissingRedirectTarget(op))?;
        *target = Some(file);
    }
    Ok(parsed)
}

/// The words of `line`, each with whether any part of it was quoted or
/// escaped.
fn tokens(line: &str, last_status: i32) -> Result<Vec<(String, bool)>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any character or quote was seen ("" is a word).
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push((core::mem::take(&mut word), quoted));
                    in_word = false;
                    quoted = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                quoted = true;
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
                quoted = true;
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
                quoted = true;
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
        words.push((word, quoted));
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
    fn only_unquoted_angle_brackets_redirect() {
        let line = parse_line(r#"load_app prog ">" '<' \> "a > b" < in.txt > out.txt"#, 0).unwrap();
        assert_eq!(line.words, ["load_app", "prog", ">", "<", ">", "a > b"]);
        assert_eq!(line.stdin.as_deref(), Some("in.txt"));
        assert_eq!(line.stdout.as_deref(), Some("out.txt"));
        let line = parse_line("prog > first > second", 0).unwrap();
        assert_eq!(line.stdout.as_deref(), Some("second"), "the last one wins");
        assert_eq!(parse_line("prog >", 0), Err(SplitError::MissingRedirectTarget('>')));
        assert_eq!(parse_line("prog < ", 0).unwrap_err().to_string(), "'<' needs a file name after it");
        assert_eq!(parse_line(r#"prog ">""#, 0).unwrap().stdout, None);
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
