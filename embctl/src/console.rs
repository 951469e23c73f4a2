//! Scripted console sessions: the logic of `embctl run --cmd`, over bytes.
//!
//! A [`Script`] reads the kernel's serial output as it arrives, recognises
//! the `embox> ` prompt, says what to type next (each command, then
//! `poweroff`), and judges the run when QEMU exits or time runs out. It does
//! no I/O and keeps no clock: the caller feeds bytes, types what it is told,
//! and restarts its timer whenever the script moves to a new phase.

use std::fmt;

use crate::qemu::QemuExit;

/// The kernel shell's prompt. It counts at the start of a line, or when it is
/// the last thing received (a program's output without a final newline runs
/// into it); the echo of the line we typed is skipped, so a command that
/// contains `embox> ` does not end itself.
pub const PROMPT: &[u8] = b"embox> ";
/// Typed after the last command to end the run with QEMU exit 33.
pub const POWEROFF: &str = "poweroff";

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first prompt.
    Booting,
    /// Command `index` (0-based) was typed; waiting for the prompt to return.
    Running(usize),
    /// With status checks: `echo $?` was typed after command `index`.
    Status(usize),
    /// Every command finished (or one failed its status check); `poweroff` was typed.
    PoweringOff,
}

/// Typed after a command when statuses are checked; its output is the status.
const STATUS_PROBE: &str = "echo $?";

/// A scripted session over one kernel run.
#[derive(Debug)]
pub struct Script {
    commands: Vec<String>,
    phase: Phase,
    transcript: Vec<u8>,
    /// Where to look for the next prompt: just past the last one found.
    scan_from: usize,
    /// Prompts cannot start before this: the bytes before it were searched
    /// (so each byte of a long output is searched once, not once per read).
    searched: usize,
    /// A line was typed and its echo (up to the first newline) is not in yet.
    awaiting_echo: bool,
    /// Read each command's exit status (`echo $?`) and stop at the first non-zero.
    check_status: bool,
    /// The command (index) that failed its status check, and its status.
    failed: Option<(usize, i32)>,
}

impl Script {
    pub fn new(commands: Vec<String>) -> Self {
        Self { commands, phase: Phase::Booting, transcript: Vec::new(), scan_from: 0, searched: 0, awaiting_echo: false, check_status: false, failed: None }
    }

    /// After each command, type `echo $?`; a non-zero status ends the run
    /// (powers off) and fails it.
    pub fn checking_status(mut self) -> Self {
        self.check_status = true;
        self
    }

    #[cfg(test)]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Takes console output. Returns the line to type (with its newline)
    /// when a prompt arrived; the phase has then moved on.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<String> {
        self.transcript.extend_from_slice(bytes);
        if self.awaiting_echo {
            let newline = self.transcript[self.scan_from..].iter().position(|&b| b == b'\n')?;
            self.scan_from += newline + 1;
            self.awaiting_echo = false;
        }
        let Some(at) = find_prompt(&self.transcript, self.scan_from.max(self.searched)) else {
            // Every start with a whole prompt's room after it was looked at
            // (a match there, not at a line start, never becomes a prompt).
            self.searched = self.transcript.len().saturating_sub(PROMPT.len() - 1);
            return None;
        };
        let output_start = self.scan_from;
        self.scan_from = at + PROMPT.len();
        self.awaiting_echo = true;
        let next = match self.phase {
            Phase::Booting => 0,
            Phase::Running(i) if self.check_status => {
                self.phase = Phase::Status(i);
                return Some(format!("{STATUS_PROBE}\n"));
            }
            Phase::Running(i) => i + 1,
            Phase::Status(i) => match parse_status(&self.transcript[output_start..at]) {
                Some(0) => i + 1,
                status => {
                    self.failed = Some((i, status.unwrap_or(-1)));
                    self.commands.len()
                }
            },
            // A prompt after poweroff: the kernel did not power off. Keep
            // waiting; the timeout reports it.
            Phase::PoweringOff => return None,
        };
        match self.commands.get(next) {
            Some(cmd) => {
                self.phase = Phase::Running(next);
                Some(format!("{cmd}\n"))
            }
            None => {
                self.phase = Phase::PoweringOff;
                Some(format!("{POWEROFF}\n"))
            }
        }
    }

    /// What the session was waiting for, for a timeout message.
    pub fn waiting_for(&self) -> String {
        match self.phase {
            Phase::Booting => format!("the first `{}` prompt", prompt_text()),
            Phase::Running(i) => format!(
                "command {}/{} `{}` to finish (the prompt to come back)",
                i + 1,
                self.commands.len(),
                self.commands[i]
            ),
            Phase::Status(i) => format!("the exit status of command {}/{} `{}`", i + 1, self.commands.len(), self.commands[i]),
            Phase::PoweringOff => "the kernel to power off after `poweroff`".into(),
        }
    }

    /// Judges the run. `exit` is QEMU's decoded status, or `None` when the
    /// caller stopped it after a timeout of `timeout_secs`.
    pub fn verdict(&self, exit: Option<QemuExit>, timeout_secs: u64) -> Verdict {
        let Some(exit) = exit else {
            return Verdict::Failed(format!("timed out after {timeout_secs} s waiting for {}", self.waiting_for()));
        };
        let last_command_is_final = |i: usize| {
            i + 1 == self.commands.len() && matches!(self.commands[i].split_whitespace().next(), Some("poweroff" | "reboot"))
        };
        match (self.phase, exit) {
            (Phase::PoweringOff, QemuExit::PowerOff) => match self.failed {
                None => Verdict::Passed,
                Some((i, status)) => Verdict::Failed(format!(
                    "command {}/{} `{}` exited with status {}",
                    i + 1,
                    self.commands.len(),
                    self.commands[i],
                    if status < 0 { "?: `echo $?` printed no number".to_string() } else { status.to_string() }
                )),
            },
            // The script itself ended the run with its last command.
            (Phase::Running(i), QemuExit::PowerOff | QemuExit::Shutdown) if last_command_is_final(i) => Verdict::Passed,
            (Phase::PoweringOff, other) => {
                Verdict::Failed(format!("every command finished, but `poweroff` did not end the run cleanly: {other}"))
            }
            (_, other) => Verdict::Failed(format!("the run ended while waiting for {}: {other}", self.waiting_for())),
        }
    }

    /// The last `n` lines of console output, `\r` removed, for error reports.
    pub fn tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.transcript).replace('\r', "");
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The outcome of a scripted session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Passed => write!(f, "all commands finished"),
            Verdict::Failed(why) => f.write_str(why),
        }
    }
}

fn prompt_text() -> &'static str {
    std::str::from_utf8(PROMPT).expect("ASCII prompt").trim_end()
}

/// The status in the output of `echo $?`: the last line that is a number
/// (the first line is the echoed command).
fn parse_status(output: &[u8]) -> Option<i32> {
    String::from_utf8_lossy(output).lines().rev().find_map(|l| l.trim().parse().ok())
}

/// The offset of the first prompt at or after `from` that starts a line or
/// ends the transcript.
fn find_prompt(transcript: &[u8], from: usize) -> Option<usize> {
    let mut start = from;
    while start + PROMPT.len() <= transcript.len() {
        let rel = transcript[start..].windows(PROMPT.len()).position(|w| w == PROMPT)?;
        let at = start + rel;
        let line_start = at == 0 || matches!(transcript[at - 1], b'\n' | b'\r');
        if line_start || at + PROMPT.len() == transcript.len() {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(cmds: &[&str]) -> Script {
        Script::new(cmds.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn types_each_command_after_each_prompt_then_poweroff() {
        let mut s = script(&["echo hi", "ls /"]);
        assert_eq!(s.feed(b"[0.001] boot\r\n"), None);
        assert_eq!(s.phase(), Phase::Booting);
        assert_eq!(s.feed(b"embox> ").as_deref(), Some("echo hi\n"));
        assert_eq!(s.phase(), Phase::Running(0));
        assert_eq!(s.feed(b"echo hi\r\nhi\r\n"), None);
        assert_eq!(s.feed(b"embox> ").as_deref(), Some("ls /\n"));
        assert_eq!(s.feed(b"ls /\r\nbin\r\nembox> ").as_deref(), Some("poweroff\n"));
        assert_eq!(s.phase(), Phase::PoweringOff);
        assert_eq!(s.verdict(Some(QemuExit::PowerOff), 5), Verdict::Passed);
    }

    #[test]
    fn prompt_split_across_reads_is_found_once() {
        let mut s = script(&["a"]);
        assert_eq!(s.feed(b"boot\nemb"), None);
        assert_eq!(s.feed(b"ox"), None);
        assert_eq!(s.feed(b"> ").as_deref(), Some("a\n"));
        // The same prompt is not counted again.
        assert_eq!(s.feed(b"a"), None);
        assert_eq!(s.phase(), Phase::Running(0));
    }

    #[test]
    fn prompt_mid_line_does_not_count() {
        let mut s = script(&["echo 'embox> '", "true"]);
        s.feed(b"embox> ").unwrap();
        // The echo of the typed line arrives in pieces; none of it is a prompt.
        assert_eq!(s.feed(b"echo 'embox> "), None, "the echoed command line is not a prompt");
        assert_eq!(s.feed(b"'\r\n"), None);
        assert_eq!(s.feed(b"x embox> \r\n"), None, "output containing the prompt mid-line is not a prompt");
        assert_eq!(s.feed(b"embox> ").as_deref(), Some("true\n"));
    }

    #[test]
    fn long_output_in_small_reads_is_searched_once() {
        let mut s = script(&["cat big"]);
        s.feed(b"embox> ").unwrap();
        assert_eq!(s.feed(b"cat big\r\n"), None);
        let line = b"line abcdefghijklmnopqrstuvwxyz0123456789 embox\r\n";
        for _ in 0..20_000 {
            assert_eq!(s.feed(line), None);
        }
        assert!(s.searched > 20_000 * line.len() - PROMPT.len(), "the search resumes where it stopped");
        assert_eq!(s.feed(b"emb"), None);
        assert_eq!(s.feed(b"ox> ").as_deref(), Some("poweroff\n"), "a prompt split across reads is still found");
    }

    #[test]
    fn prompt_after_output_without_newline_counts() {
        let mut s = script(&["load_app printf_no_newline"]);
        s.feed(b"embox> ").unwrap();
        assert_eq!(s.feed(b"load_app printf_no_newline\r\n"), None);
        assert_eq!(s.feed(b"no newline hereembox> ").as_deref(), Some("poweroff\n"));
    }

    #[test]
    fn no_commands_means_boot_then_poweroff() {
        let mut s = script(&[]);
        assert_eq!(s.feed(b"\r\nembox> ").as_deref(), Some("poweroff\n"));
        assert_eq!(s.verdict(Some(QemuExit::PowerOff), 5), Verdict::Passed);
    }

    #[test]
    fn timeouts_name_what_was_awaited() {
        let mut s = script(&["sleep 100"]);
        let boot = s.verdict(None, 7).to_string();
        assert!(boot.contains("timed out after 7 s") && boot.contains("first `embox>` prompt"), "{boot}");
        s.feed(b"embox> ");
        let cmd = s.verdict(None, 7).to_string();
        assert!(cmd.contains("command 1/1 `sleep 100`"), "{cmd}");
    }

    #[test]
    fn kernel_fault_mid_command_fails_with_reason() {
        let mut s = script(&["crash", "echo after"]);
        s.feed(b"embox> ");
        s.feed(b"crash\r\nKERNEL PANIC: page fault\r\n");
        let v = s.verdict(Some(QemuExit::KernelFault), 5);
        let msg = v.to_string();
        assert!(msg.contains("`crash`") && msg.contains("kernel fault"), "{msg}");
        assert!(s.tail(1).contains("KERNEL PANIC"), "{}", s.tail(1));
    }

    #[test]
    fn poweroff_as_last_command_passes_but_not_mid_script() {
        let mut s = script(&["echo x", "poweroff"]);
        s.feed(b"embox> ");
        s.feed(b"x\nembox> ");
        assert_eq!(s.verdict(Some(QemuExit::PowerOff), 5), Verdict::Passed);
        let mut s = script(&["poweroff", "echo never"]);
        s.feed(b"embox> ");
        assert!(matches!(s.verdict(Some(QemuExit::PowerOff), 5), Verdict::Failed(_)));
    }

    #[test]
    fn prompt_after_poweroff_is_not_success() {
        let mut s = script(&[]);
        s.feed(b"embox> ");
        assert_eq!(s.feed(b"poweroff\r\nunknown command\r\nembox> "), None);
        assert!(s.verdict(None, 3).to_string().contains("power off"));
        assert!(matches!(s.verdict(Some(QemuExit::Shutdown), 3), Verdict::Failed(_)));
    }

    #[test]
    fn status_checks_probe_after_each_command_and_stop_at_failure() {
        let mut s = script(&["true", "cat /nope", "echo never"]).checking_status();
        assert_eq!(s.feed(b"embox> ").as_deref(), Some("true\n"));
        assert_eq!(s.feed(b"true\r\nembox> ").as_deref(), Some("echo $?\n"));
        assert_eq!(s.phase(), Phase::Status(0));
        assert_eq!(s.feed(b"echo $?\r\n0\r\nembox> ").as_deref(), Some("cat /nope\n"));
        assert_eq!(s.feed(b"cat /nope\r\ncat: /nope: not found\r\nembox> ").as_deref(), Some("echo $?\n"));
        assert!(s.waiting_for().contains("exit status of command 2/3"));
        assert_eq!(s.feed(b"echo $?\r\n1\r\nembox> ").as_deref(), Some("poweroff\n"));
        let v = s.verdict(Some(QemuExit::PowerOff), 5).to_string();
        assert_eq!(v, "command 2/3 `cat /nope` exited with status 1");
    }

    #[test]
    fn status_checks_pass_when_all_zero() {
        let mut s = script(&["true"]).checking_status();
        assert_eq!(s.feed(b"embox> ").as_deref(), Some("true\n"));
        assert_eq!(s.feed(b"\nembox> ").as_deref(), Some("echo $?\n"));
        assert_eq!(s.feed(b"echo $?\n0\nembox> ").as_deref(), Some("poweroff\n"));
        assert_eq!(s.verdict(Some(QemuExit::PowerOff), 5), Verdict::Passed);
        assert_eq!(parse_status(b"echo $?\r\n"), None);
    }

    #[test]
    fn tail_keeps_last_lines_without_carriage_returns() {
        let mut s = script(&[]);
        s.feed(b"one\r\ntwo\r\nthree\r\n");
        assert_eq!(s.tail(2), "two\nthree");
        assert_eq!(s.tail(10), "one\ntwo\nthree");
    }
}
