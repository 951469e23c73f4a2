//! A Linux process as our kernel runs it: one task in ring 3 with its own
//! address space, descriptor table, working directory, signal dispositions
//! (recorded; we deliver no asynchronous signals) and TLS descriptors.

use alloc::string::String;

use embox_abi::types::{KernelSigaction, StackT, UserDesc};
use embox_hal::gdt::TLS_ENTRIES;

use super::files::FdTable;
use super::memory::ProcessMemory;

pub struct Process {
    pub pid: u32,
    /// The program's name as `load_app` was given it, for log lines.
    pub name: String,
    pub memory: ProcessMemory,
    pub files: FdTable,
    /// Absolute, normalized.
    pub cwd: String,
    pub sigactions: [KernelSigaction; 64],
    pub sigmask: u64,
    /// Signals sent while blocked; acted on when unblocked.
    pub pending: u64,
    pub altstack: StackT,
    /// `set_tid_address`: cleared (and futex-woken) at exit on Linux.
    pub clear_child_tid: u32,
    /// The `user_desc` of each GDT TLS entry, for `get_thread_area`.
    pub tls: [Option<UserDesc>; TLS_ENTRIES],
    /// Monotonic time at load, for the CPU-time clocks.
    pub started_ns: u64,
    /// Set by `exit`/`exit_group` or a fatal fault: the task ends after the
    /// current trap with this status.
    pub exit_status: Option<i32>,
    /// xorshift state for `getrandom` and `AT_RANDOM`.
    pub rng: u64,
    /// Log every syscall (`load_app --strace`).
    pub trace: bool,
    /// File-creation mask (`umask`), applied by open/creat/mkdir.
    pub umask: u32,
    /// Forward the `Lkl` rows of the syscall table to LKL (LKL was up
    /// when the process started).
    pub lkl: bool,
}

impl Process {
    pub fn new(pid: u32, name: String, memory: ProcessMemory, rng_seed: u64, started_ns: u64) -> Self {
        Process {
            pid,
            name,
            memory,
            files: FdTable::with_console(),
            cwd: String::from("/"),
            sigactions: [KernelSigaction::default(); 64],
            sigmask: 0,
            pending: 0,
            altstack: StackT { ss_sp: 0, ss_flags: embox_abi::consts::signal::SS_DISABLE, ss_size: 0 },
            clear_child_tid: 0,
            tls: [None; TLS_ENTRIES],
            started_ns,
            exit_status: None,
            rng: rng_seed | 1,
            trace: false,
            umask: 0o022,
            lkl: false,
        }
    }

    /// The next 64 pseudo-random bits (xorshift64*; seeded from the TSC).
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Resolves `path` against the working directory.
    pub fn absolute(&self, path: &str) -> String {
        embox_fs::normalize(&self.cwd, path)
    }
}
