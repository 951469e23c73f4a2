//! The `embox>` shell on the console: reads a line with the line editor,
//! splits it into words (quotes, `$?`), and runs the command from the
//! registry. Built-in commands are in [`commands`]; other parts of the
//! kernel add theirs with [`register`] (the Linux-compat layer adds
//! `load_app` this way).

mod commands;

use crate::hal::sync::IrqMutex;
use crate::{print, println, tty};
use alloc::string::String;
use alloc::vec::Vec;
use embox_shell::{parse_line, Key, LineEditor};

/// The prompt, printed at the start of a line.
pub const PROMPT: &str = "embox> ";

/// Exit status of a command that does not exist (as in POSIX shells).
pub const STATUS_NOT_FOUND: i32 = 127;
/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const STATUS_INTERRUPTED: i32 = 130;
/// Exit status of a usage error.
pub const STATUS_USAGE: i32 = 2;

/// A shell command: `run` gets the arguments after the command name and
/// returns the exit status that `$?` will show.
#[derive(Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    /// True when the command takes the line's `< FILE`/`> FILE` from
    /// [`Shell::redirects`]; for the others the shell refuses them.
    pub redirects: bool,
    pub run: fn(&mut Shell, &[String]) -> i32,
}

/// The files a command line's unquoted `< FILE` and `> FILE` name, as
/// absolute paths.
#[derive(Debug, Clone, Default)]
pub struct Redirects {
    pub stdin: Option<String>,
    pub stdout: Option<String>,
}

static REGISTERED: IrqMutex<Vec<Command>> = IrqMutex::new(Vec::new());

/// Adds a command (replacing a registered one of the same name).
pub fn register(command: Command) {
    let mut cmds = REGISTERED.lock();
    cmds.retain(|c| c.name != command.name);
    cmds.push(command);
}

/// Every command, built-in first, sorted by name within each group.
pub fn all_commands() -> Vec<Command> {
    let mut out: Vec<Command> = commands::BUILTINS.to_vec();
    let mut extra = REGISTERED.lock().clone();
    extra.sort_by_key(|c| c.name);
    out.extend(extra);
    out
}

fn find(name: &str) -> Option<Command> {
    commands::BUILTINS.iter().copied().find(|c| c.name == name).or_else(|| REGISTERED.lock().iter().copied().find(|c| c.name == name))
}

/// The shell's state.
pub struct Shell {
    /// Status of the last command (`$?`).
    pub last_status: i32,
    /// Working directory for relative paths.
    pub cwd: String,
    /// Set by `exit`/`logout`: the session ends after this command.
    pub exit_requested: bool,
    /// The running command line's redirections (for commands that take them).
    pub redirects: Redirects,
}

impl Default for Shell {
    fn default() -> Self {
        Self::new()
    }
}

impl Shell {
    pub fn new() -> Self {
        Self { last_status: 0, cwd: String::from("/"), exit_requested: false, redirects: Redirects::default() }
    }

    /// An absolute path for an argument.
    pub fn path(&self, arg: &str) -> String {
        embox_fs::normalize(&self.cwd, arg)
    }

    /// Runs one command line and records its status.
    pub fn run_line(&mut self, line: &str) {
        let parsed = match parse_line(line, self.last_status) {
            Ok(parsed) => parsed,
            Err(e) => {
                println!("embox: syntax error: {e}");
                self.last_status = STATUS_USAGE;
                return;
            }
        };
        let Some((name, args)) = parsed.words.split_first() else {
            if parsed.stdin.is_some() || parsed.stdout.is_some() {
                println!("embox: syntax error: a redirection needs a command");
                self.last_status = STATUS_USAGE;
            }
            return; // empty line: $? unchanged, as in sh
        };
        let redirected = parsed.stdin.is_some() || parsed.stdout.is_some();
        self.redirects = Redirects { stdin: parsed.stdin.map(|f| self.path(&f)), stdout: parsed.stdout.map(|f| self.path(&f)) };
        self.last_status = match find(name) {
            Some(cmd) if redirected && !cmd.redirects => {
                println!("embox: {name}: takes no < or > redirection (load_app does; quote '<' or '>' to pass it as an argument)");
                STATUS_USAGE
            }
            Some(cmd) => (cmd.run)(self, args),
            None => {
                println!("embox: {name}: command not found (type 'help' for the list)");
                STATUS_NOT_FOUND
            }
        };
    }

    /// Prompt, read, run, forever (the console's shell: `exit` does not end it).
    pub fn run(mut self) -> ! {
        loop {
            self.run_session();
            if tty::on_console() {
                println!("embox: this is the console shell; `poweroff` stops the kernel");
                self.exit_requested = false;
            }
        }
    }

    /// Prompt, read, run, until the terminal closes or `exit` is typed.
    pub fn run_session(&mut self) {
        let mut editor = LineEditor::new();
        while !self.exit_requested {
            // The prompt starts a line even after output without a final newline.
            if !tty::at_line_start() {
                println!();
            }
            print!("{PROMPT}");
            let line = loop {
                let Some(byte) = tty::read() else { return };
                match editor.feed(byte) {
                    Key::None => {}
                    Key::Echo(bytes) => tty::write(&bytes),
                    Key::Line(line) => break line,
                    Key::Cancel => {
                        tty::write(b"^C");
                        self.last_status = STATUS_INTERRUPTED;
                        break String::new();
                    }
                    Key::TooLong(typed) => {
                        println!();
                        print!("embox: line of {typed} bytes refused (at most {}); nothing was run", embox_shell::MAX_LINE);
                        self.last_status = STATUS_USAGE;
                        break String::new();
                    }
                }
            };
            println!();
            self.run_line(&line);
        }
    }
}
