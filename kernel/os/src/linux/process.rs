//! A Linux process as our kernel runs it: a thread group. Each thread is a
//! task in ring 3 with a [`Process`] of its own (its tid, signal mask, TLS
//! descriptors, clear-child-tid address, registers at a call); the address
//! space, descriptor table, working directory and signal dispositions are
//! shared by every thread of the group (`clone(CLONE_VM|CLONE_FILES|
//! CLONE_FS|CLONE_SIGHAND|CLONE_THREAD)`), each behind its own lock.
//! Signals: the mask and a pending set are per thread; signals sent to the
//! process wait in a set its threads share. Delivered by [`super::signal`].

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use embox_abi::Errno;
use embox_hal::trap::TrapFrame;

use embox_abi::types::{KernelSigaction, StackT, UserDesc};
use embox_hal::gdt::TLS_ENTRIES;

use crate::hal::sync::IrqMutex;

use super::files::{FdTable, Files};
use super::memory::ProcessMemory;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `exit`/`exit_group` with this status (low 8 bits).
    Exited(u8),
    /// Killed by this signal.
    Killed(u32),
}

impl Ending {
    /// The status `wait4` reports (Linux's encoding).
    pub fn wait_status(self) -> u32 {
        match self {
            Ending::Exited(code) => (code as u32) << 8,
            Ending::Killed(sig) => sig & 0x7f,
        }
    }

    /// The status a shell reports (`$?`): the code, or 128+signal.
    pub fn shell_status(self) -> i32 {
        match self {
            Ending::Exited(code) => code as i32,
            Ending::Killed(sig) => 128 + sig as i32,
        }
    }
}

/// State the threads of a group share, behind a lock taken for one short
/// step at a time (never across a block). It carries a version that
/// changes whenever the state may have changed, so what is derived from
/// it (the signals that interrupt a thread, computed on every syscall's
/// way out) is recomputed only then.
pub struct Shared<T>(Arc<SharedState<T>>);

struct SharedState<T> {
    value: IrqMutex<T>,
    /// 32 bits: on i686 a 64-bit atomic load is an SSE `movq`, and this one
    /// is read on every slow syscall's way out, where the first SSE
    /// instruction costs a #NM trap, an `fxsave` of the program's FPU state
    /// and an `fxrstor` before it resumes (every forwarded LKL call paid it).
    version: AtomicU32,
}

/// Versions of every [`Shared`], unique kernel-wide: a new state does not
/// repeat the version of one that went away until 2^32 changes later.
static NEXT_VERSION: AtomicU32 = AtomicU32::new(1);

fn next_version() -> u32 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

impl<T: Clone + Send> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared(Arc::new(SharedState { value: IrqMutex::new(value), version: AtomicU32::new(next_version()) }))
    }

    /// Changes whenever the state may have changed ([`Shared::with`],
    /// [`Shared::set`]); never the same for two states.
    pub fn version(&self) -> u32 {
        self.0.version.load(Ordering::Relaxed)
    }

    /// Reads the state without changing its version.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.value.lock())
    }

    /// The same state, for another thread of the group.
    pub fn share(&self) -> Self {
        Shared(self.0.clone())
    }

    pub fn get(&self) -> T {
        self.0.value.lock().clone()
    }

    pub fn set(&self, value: T) {
        let mut state = self.0.value.lock();
        *state = value;
        self.0.version.store(next_version(), Ordering::Relaxed);
    }

    /// Runs `f` on the state (it must not block).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut state = self.0.value.lock();
        let result = f(&mut state);
        self.0.version.store(next_version(), Ordering::Relaxed);
        result
    }
}

/// One thread of a process (a thread group), with handles on what the
/// group shares.
pub struct Process {
    /// The process id: the thread group's id (the first thread's tid).
    pub pid: u32,
    /// This thread's id (its task's pid; `pid` for the first thread).
    pub tid: u32,
    /// The program's name as `load_app` was given it, for log lines.
    pub name: String,
    /// The executable's absolute path (`/proc/self/exe`).
    pub exe: String,
    pub memory: ProcessMemory,
    pub files: Files,
    /// Absolute, normalized.
    pub cwd: Shared<String>,
    pub sigactions: Shared<[KernelSigaction; 64]>,
    pub sigmask: u64,
    /// Signals taken in and not yet acted on (blocked ones wait here).
    pub pending: u64,
    /// The `siginfo` of each pending standard signal.
    pub siginfo: [super::signal::SigInfo; 64],
    /// The queued real-time signals (shared with the thread's table entry)
    /// and the process's RLIMIT_SIGPENDING.
    pub rt_queue: super::signal::RtQueue,
    /// The signals sent to the process as a whole, shared by its threads
    /// (Linux's shared_pending): any thread that does not block one takes it.
    pub shared_pending: super::signal::SharedPending,
    /// The mask to restore once sigsuspend's temporary mask has let a
    /// signal through (the handler's frame saves this one).
    pub saved_mask: Option<u64>,
    pub altstack: StackT,
    /// `set_tid_address`: cleared (and futex-woken) at exit on Linux.
    pub clear_child_tid: u32,
    /// The `user_desc` of each GDT TLS entry, for `get_thread_area`.
    pub tls: [Option<UserDesc>; TLS_ENTRIES],
    /// Monotonic time at load, for the CPU-time clocks.
    pub started_ns: u64,
    /// Set by `exit`/`exit_group` or a fatal signal: the task ends after the
    /// current trap.
    pub exit_status: Option<Ending>,
    /// `exit` (not `exit_group`): only this thread ends.
    pub exit_thread_only: bool,
    /// `set_robust_list(head, len)`: given back by get_robust_list, walked
    /// when the thread ends ([`super::futex::release_robust_list`]).
    pub robust_list: (u32, u32),
    /// xorshift state for `getrandom` and `AT_RANDOM`.
    pub rng: u64,
    /// Log every syscall (`load_app --strace`).
    pub trace: bool,
    /// File-creation mask (`umask`), applied by open/creat/mkdir.
    pub umask: u32,
    /// Forward the `Lkl` rows of the syscall table to LKL (LKL was up
    /// when the process started).
    pub lkl: bool,
    /// The user registers at the call, for the calls that need them (fork,
    /// vfork, execve): set before the handler runs; what the handler leaves
    /// here is what the program resumes with.
    pub user_regs: Option<TrapFrame>,
    /// Unknown syscall numbers already logged (one bit each; numbers past
    /// the end share the last bit).
    unknown_logged: [u64; 8],
}

impl Process {
    pub fn new(pid: u32, name: String, memory: ProcessMemory, rng_seed: u64, started_ns: u64) -> Self {
        let limit = super::signal::SigPendingLimit::new(super::signal::MAX_QUEUED_SIGNALS, super::signal::MAX_QUEUED_SIGNALS);
        Process {
            pid,
            tid: pid,
            name,
            exe: String::new(),
            memory,
            files: Files::new(FdTable::with_console()),
            cwd: Shared::new(String::from("/")),
            sigactions: Shared::new([KernelSigaction::default(); 64]),
            sigmask: 0,
            pending: 0,
            siginfo: [super::signal::SigInfo::default(); 64],
            rt_queue: super::signal::RtQueue::new(limit.clone()),
            shared_pending: super::signal::SharedPending::new(limit),
            saved_mask: None,
            altstack: StackT { ss_sp: 0, ss_flags: embox_abi::consts::signal::SS_DISABLE, ss_size: 0 },
            clear_child_tid: 0,
            tls: [None; TLS_ENTRIES],
            started_ns,
            exit_status: None,
            exit_thread_only: false,
            robust_list: (0, 0),
            rng: rng_seed | 1,
            trace: false,
            umask: 0o022,
            lkl: false,
            user_regs: None,
            unknown_logged: [0; 8],
        }
    }

    /// The child of `fork`: a copy-on-write copy of the memory, the same
    /// open files (sharing their offsets), working directory, handlers,
    /// mask, alternate stack and TLS entries; nothing pending.
    pub fn fork(&mut self, pid: u32, started_ns: u64) -> Result<Process, Errno> {
        let memory = self.memory.fork()?;
        let seed = self.next_random();
        let mut child = Process::new(pid, self.name.clone(), memory, seed, started_ns);
        child.files = self.files.fork();
        child.cwd = Shared::new(self.cwd.get());
        child.exe = self.exe.clone();
        child.sigactions = Shared::new(self.sigactions.get());
        child.sigmask = self.sigmask;
        let (cur, max) = self.rt_queue.limit.get();
        let limit = super::signal::SigPendingLimit::new(cur, max);
        child.rt_queue = super::signal::RtQueue::new(limit.clone());
        child.shared_pending = super::signal::SharedPending::new(limit);
        child.altstack = self.altstack;
        child.tls = self.tls;
        child.trace = self.trace;
        child.umask = self.umask;
        child.lkl = self.lkl;
        Ok(child)
    }

    /// A new thread `tid` of this process (clone with CLONE_THREAD): the
    /// same memory, files, working directory and dispositions; its own
    /// copy of the signal mask, alternate stack and TLS entries; nothing
    /// pending.
    pub fn new_thread(&mut self, tid: u32) -> Process {
        let seed = self.next_random();
        let mut thread = Process::new(self.pid, self.name.clone(), self.memory.share(), seed, self.started_ns);
        thread.tid = tid;
        thread.exe = self.exe.clone();
        thread.files = self.files.share();
        thread.cwd = self.cwd.share();
        thread.sigactions = self.sigactions.share();
        thread.sigmask = self.sigmask;
        thread.rt_queue = super::signal::RtQueue::new(self.rt_queue.limit.clone());
        thread.shared_pending = self.shared_pending.share();
        thread.tls = self.tls;
        thread.trace = self.trace;
        thread.umask = self.umask;
        thread.lkl = self.lkl;
        thread
    }

    /// What execve resets: caught signals go back to their default action
    /// (ignored ones stay ignored), no alternate stack, no TLS entries, no
    /// clear-child-tid address.
    pub fn reset_for_exec(&mut self) {
        const SIG_IGN: u32 = 1;
        // The group has one thread left (execve ended the others), but the
        // dispositions are no longer shared with anyone after exec.
        let mut actions = self.sigactions.get();
        for action in actions.iter_mut() {
            if action.sa_handler > SIG_IGN {
                *action = KernelSigaction::default();
            }
        }
        self.sigactions = Shared::new(actions);
        self.altstack = StackT { ss_sp: 0, ss_flags: embox_abi::consts::signal::SS_DISABLE, ss_size: 0 };
        self.tls = [None; TLS_ENTRIES];
        self.clear_child_tid = 0;
        self.robust_list = (0, 0);
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

    /// True the first time this program calls unknown syscall `nr`.
    pub fn first_unknown(&mut self, nr: u32) -> bool {
        let bit = (nr as usize).min(8 * 64 - 1);
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let first = self.unknown_logged[word] & mask == 0;
        self.unknown_logged[word] |= mask;
        first
    }

    /// `path` made absolute against the working directory; `.`, `..` and a
    /// trailing slash stay for the file tree to resolve (not lexically).
    pub fn absolute(&self, path: &str) -> String {
        embox_fs::join(&self.cwd.get(), path)
    }
}
