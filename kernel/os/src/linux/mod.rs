//! Running unmodified Linux i386 programs: `load_app` loads an ELF from the
//! file tree into a fresh address space ([`loader`]), starts it in ring 3
//! as a task of its own, serves its `int 0x80` calls
//! ([`crate::syscall`]) and turns its faults into signals ([`fault`]).
//!
//! Each program's [`Process`] lives in [`PROCESSES`] keyed by task pid. A
//! trap from the program takes it out for the duration of the call (so the
//! handler runs with interrupts enabled and no lock held) and puts it back;
//! only the program's own task ever touches it.

pub mod devproc;
pub mod env;
pub mod exec;
pub mod fault;
pub mod files;
pub mod loader;
pub mod memory;
pub mod pipe;
pub mod process;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use embox_abi::Errno;

use crate::hal::sync::IrqMutex;
use crate::hal::trap::{self, TrapFrame};
use crate::hal::{cpu, idt};
use crate::shell::{self, Command, Shell};
use crate::sync::WaitQueue;
use crate::{println, sched};
use memory::FaultResolution;
use process::{Ending, Process};

/// A process in the table: running, or a zombie waiting for its parent.
struct Entry {
    pid: sched::Pid,
    /// Its page directory: CR3 tells whose trap this is without asking the
    /// scheduler (0 once it has ended).
    directory: u64,
    /// `None` while a trap of that program has it out, and once it ended.
    process: Option<Box<Process>>,
    /// The parent: a process of this table, or (for the program `load_app`
    /// started, and orphans) a task that is not a Linux process.
    ppid: sched::Pid,
    /// Set when it ended, until the parent reaps it with wait4/waitid.
    zombie: Option<Ending>,
    /// A signal that ends it at its next entry into the kernel (Ctrl-C, kill).
    kill: Option<u32>,
    /// A parent suspended in vfork until this child execs or ends.
    vfork_parent: Option<sched::Pid>,
}

static PROCESSES: IrqMutex<Vec<Entry>> = IrqMutex::new(Vec::new());

/// Woken whenever a process ends or execs: parents in wait4/waitid and vfork.
static CHILD_EVENTS: WaitQueue = WaitQueue::new();

/// Most processes (running and zombies) at once, as RLIMIT_NPROC: past it
/// fork fails with EAGAIN. Each needs a kernel stack (256 slots in all).
pub const MAX_PROCESSES: usize = 64;

/// The pid orphans are given as their parent (Linux's init; here the shell).
pub const INIT_PID: sched::Pid = 1;

/// True when a signal is waiting to end the running program (sleeps and
/// blocking calls end early).
pub fn interrupted() -> bool {
    let pid = sched::current_pid();
    PROCESSES.lock().iter().any(|e| e.pid == pid && e.kill.is_some())
}

/// Asks process `pid` to end with `sig` at its next entry into the kernel:
/// one running in ring 3 is made to fault at its next instruction by
/// revoking its pages' user access; one blocked in a call is woken.
/// False when there is no such (live) process.
fn post_kill(table: &mut [Entry], pid: sched::Pid, sig: u32) -> bool {
    let Some(entry) = table.iter_mut().find(|e| e.pid == pid && e.zombie.is_none()) else {
        return false;
    };
    if entry.kill.is_none() {
        entry.kill = Some(sig);
    }
    if let Some(process) = entry.process.as_deref_mut() {
        process.memory.revoke_user_access();
    }
    sched::wake(pid);
    true
}

/// `kill(pid, sig)` for another process (default action: it ends). False
/// when there is no such process.
pub fn kill_other(pid: sched::Pid, sig: u32) -> bool {
    let found = post_kill(&mut PROCESSES.lock(), pid, sig);
    CHILD_EVENTS.wake_all();
    found
}

/// True when a live process `pid` exists.
pub fn exists(pid: sched::Pid) -> bool {
    PROCESSES.lock().iter().any(|e| e.pid == pid && e.zombie.is_none())
}

/// The parent of process `pid`.
pub fn parent_of(pid: sched::Pid) -> sched::Pid {
    PROCESSES.lock().iter().find(|e| e.pid == pid).map_or(INIT_PID, |e| e.ppid)
}

/// The tty's Ctrl-C hook (interrupt context): every program ends with
/// SIGINT (the console's foreground job is all of them).
fn on_ctrl_c() {
    let mut table = PROCESSES.lock();
    let live: Vec<sched::Pid> = table.iter().filter(|e| e.zombie.is_none()).map(|e| e.pid).collect();
    for pid in live {
        post_kill(&mut table, pid, embox_abi::consts::signal::SIGINT);
    }
}

/// The signal that should end `pid` now, if any (taken: reported once).
fn take_kill(pid: sched::Pid) -> Option<u32> {
    PROCESSES.lock().iter_mut().find(|e| e.pid == pid).and_then(|e| e.kill.take())
}

/// Ends the running program if a signal asked for it.
fn stop_if_killed(pid: sched::Pid, process: Box<Process>) -> Box<Process> {
    if let Some(sig) = take_kill(pid) {
        if sig == embox_abi::consts::signal::SIGINT {
            fault::report_interrupt(&process);
        } else {
            fault::report_killed(&process, sig);
        }
        finish(pid, process, Ending::Killed(sig));
    }
    process
}

/// Exit status when the program cannot be found (as in POSIX shells).
const STATUS_NOT_FOUND: i32 = 127;
/// Exit status when the file is there but cannot be run.
const STATUS_CANNOT_EXECUTE: i32 = 126;

/// The environment every program starts with.
const ENVIRONMENT: [&[u8]; 4] = [b"PATH=/bin:/", b"HOME=/", b"TERM=vt100", b"SHELL=/bin/sh"];

/// Opens the syscall gate, takes the user-fault vectors, adds `load_app`.
pub fn init() {
    trap::set_syscall_handler(syscall_trap);
    idt::set_user_gate(idt::SYSCALL_VECTOR);
    // int3 and into from ring 3 raise their own exceptions (SIGTRAP,
    // SIGSEGV), as on Linux, instead of a general protection fault.
    idt::set_user_gate(3);
    idt::set_user_gate(4);
    trap::set_user_fault_handler(fault_trap);
    crate::tty::set_interrupt_hook(on_ctrl_c);
    shell::register(Command {
        name: "load_app",
        usage: "load_app [--strace] PROGRAM [ARGS...] [< INPUT] [> OUTPUT]",
        summary: "run a Linux i386 program (bare names are looked up in / and /bin)",
        run: load_app_command,
    });
}

fn take_current() -> Option<(sched::Pid, Box<Process>)> {
    let directory = cpu::cr3() as u64;
    let mut table = PROCESSES.lock();
    let entry = table.iter_mut().find(|e| e.directory == directory && e.process.is_some())?;
    entry.process.take().map(|p| (entry.pid, p))
}

/// Puts the process back after its trap (its directory may be new: execve).
fn put_back(pid: sched::Pid, process: Box<Process>) {
    let mut table = PROCESSES.lock();
    if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
        entry.directory = process.memory.directory();
        entry.process = Some(process);
    }
}

/// `int 0x80` from ring 3 (called by the trap stub, interrupts masked).
extern "C" fn syscall_trap(frame: &mut TrapFrame) {
    let args = [frame.ebx, frame.ecx, frame.edx, frame.esi, frame.edi, frame.ebp];
    if crate::syscall::is_quick(frame.eax) {
        // Short calls that never block or exit: served in place, under one
        // lock with interrupts masked (the null-syscall path).
        let directory = cpu::cr3() as u64;
        let mut table = PROCESSES.lock();
        if let Some(entry) = table.iter_mut().find(|e| e.directory == directory && e.kill.is_none()) {
            if let Some(process) = entry.process.as_deref_mut() {
                frame.eax = crate::syscall::dispatch(process, frame.eax, &args);
                return;
            }
        }
    }
    let Some((pid, process)) = take_current() else {
        frame.eax = embox_abi::Errno::ENOSYS.to_ret() as u32;
        return;
    };
    let mut process = stop_if_killed(pid, process);
    let needs_regs = crate::syscall::needs_registers(frame.eax);
    if needs_regs {
        process.user_regs = Some(*frame);
    }
    cpu::enable_interrupts();
    let result = crate::syscall::dispatch(&mut process, frame.eax, &args);
    cpu::disable_interrupts();
    if needs_regs {
        if let Some(regs) = process.user_regs.take() {
            *frame = regs;
        }
    }
    frame.eax = result;
    let process = stop_if_killed(pid, process);
    if let Some(ending) = process.exit_status {
        finish(pid, process, ending);
    }
    if !frame.repair_user_segments() {
        // Its stack segment lost its descriptor: iretd would fault.
        fault::report_bad_stack_segment(&process, frame.user_ss);
        finish(pid, process, Ending::Killed(embox_abi::consts::signal::SIGSEGV));
    }
    put_back(pid, process);
}

/// A CPU exception in ring 3: demand paging, copy on write, or a fatal signal.
fn fault_trap(frame: &mut TrapFrame) {
    let Some((pid, process)) = take_current() else {
        trap::fatal_trap(frame);
    };
    let mut process = stop_if_killed(pid, process);
    match fault::try_demand_page(&mut process, frame) {
        FaultResolution::Mapped => {
            put_back(pid, process);
            return;
        }
        FaultResolution::OutOfMemory => {
            fault::report_out_of_memory(&process, frame);
            finish(pid, process, Ending::Killed(embox_abi::consts::signal::SIGKILL))
        }
        FaultResolution::Violation => {}
    }
    let sig = fault::signal_for(frame.vector);
    fault::report_signal(&process, sig, Some(frame));
    finish(pid, process, Ending::Killed(sig))
}

/// Ends the running program: releases its files and memory, leaves a
/// zombie for its parent (or nothing, when the parent is not a Linux
/// process), hands its children to [`INIT_PID`], then ends the task.
fn finish(pid: sched::Pid, mut process: Box<Process>, ending: Ending) -> ! {
    for file in process.files.close_all() {
        crate::syscall::release_file(file);
    }
    // Back on the kernel's page directory before the memory goes. The TLS
    // descriptors stay: fs/gs may hold their selectors until the task's end.
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_page_directory(0);
        }
    });
    drop(process);
    // From here to the task's end nothing may run in between: a parent that
    // sees the zombie may count on the task being gone.
    cpu::disable_interrupts();
    {
        let mut table = PROCESSES.lock();
        let ppid = table.iter().find(|e| e.pid == pid).map_or(INIT_PID, |e| e.ppid);
        let parent_lives = table.iter().any(|e| e.pid == ppid && e.zombie.is_none());
        if parent_lives {
            if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
                entry.zombie = Some(ending);
                entry.directory = 0;
                entry.kill = None;
                entry.vfork_parent = None;
            }
        } else {
            table.retain(|e| e.pid != pid);
        }
        // Orphans go to init; those already ended are reaped now.
        table.retain(|e| e.ppid != pid || e.zombie.is_none());
        for child in table.iter_mut().filter(|e| e.ppid == pid) {
            child.ppid = INIT_PID;
        }
        for entry in table.iter_mut().filter(|e| e.vfork_parent == Some(pid)) {
            entry.vfork_parent = None;
        }
    }
    CHILD_EVENTS.wake_all();
    sched::exit(ending.shell_status())
}

/// How `clone` asks for a new process (fork and vfork take the defaults).
#[derive(Default, Clone, Copy)]
pub struct ForkOptions {
    /// The parent waits until the child execs or ends.
    pub vfork: bool,
    /// The child's stack pointer (clone's `newsp`; 0 = the parent's).
    pub stack: u32,
    /// CLONE_CHILD_SETTID: the child's pid is written there in its memory.
    pub child_settid: Option<u32>,
    /// CLONE_CHILD_CLEARTID: the child's clear-child-tid address.
    pub child_cleartid: Option<u32>,
    /// CLONE_PARENT_SETTID: the child's pid is written there in the parent's memory.
    pub parent_settid: Option<u32>,
}

/// `fork`/`vfork`/`clone` of a process: a child that resumes from the same
/// call with 0 in EAX. Returns the child's pid. EAGAIN past
/// [`MAX_PROCESSES`] or without a kernel stack slot, ENOMEM without memory
/// for the copy.
pub fn fork(parent: &mut Process, options: ForkOptions) -> Result<u32, Errno> {
    let vfork = options.vfork;
    if PROCESSES.lock().len() >= MAX_PROCESSES {
        return Err(Errno::EAGAIN);
    }
    let mut regs = parent.user_regs.ok_or(Errno::ENOSYS)?;
    regs.eax = 0;
    if options.stack != 0 {
        regs.user_esp = options.stack;
    }
    let started = env::monotonic().as_nanos() as u64;
    // The pid is known only once the task exists: the child is built
    // first (with a placeholder) and named after.
    let child = parent.fork(0, started)?;
    let tls = sched::with_current(|t| t.context().map(|c| c.tls_descriptors())).unwrap_or_default();
    let directory = child.memory.directory();
    let name = parent.name.clone();
    let parent_pid = parent.pid;
    // The task and its table entry appear together: the child must not run
    // (and trap) before the table knows it.
    let mut child = Some(child);
    let spawned = cpu::without_interrupts(|| -> Result<sched::Pid, Errno> {
        // No kernel stack: all slots taken (EAGAIN) or no frames (ENOMEM).
        let no_stack = || if crate::hal::memory::frame_stats().free < 16 { Errno::ENOMEM } else { Errno::EAGAIN };
        let pid = sched::try_spawn(&name, move || trap::enter_user_frame(&regs)).ok_or_else(no_stack)?;
        sched::with_task(pid, |t| {
            t.detached = true;
            if let Some(ctx) = t.context() {
                ctx.set_page_directory(directory);
                for (slot, d) in tls.iter().enumerate() {
                    ctx.set_tls_descriptor(slot, *d);
                }
            }
        });
        let mut process = Box::new(child.take().expect("the child is built"));
        process.pid = pid;
        if let Some(at) = options.child_cleartid {
            process.clear_child_tid = at;
        }
        if let Some(at) = options.child_settid {
            let _ = process.memory.write(at, &pid.to_le_bytes());
        }
        PROCESSES.lock().push(Entry {
            pid,
            directory,
            process: Some(process),
            ppid: parent_pid,
            zombie: None,
            kill: None,
            vfork_parent: vfork.then_some(parent_pid),
        });
        Ok(pid)
    });
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            if let Some(mut child) = child {
                for file in child.files.close_all() {
                    crate::syscall::release_file(file);
                }
            }
            return Err(e);
        }
    };
    if let Some(at) = options.parent_settid {
        let _ = parent.memory.write(at, &pid.to_le_bytes());
    }
    if vfork {
        // The parent waits until the child execs or ends (Linux's vfork
        // contract; the memory is copy-on-write here, not shared).
        CHILD_EVENTS.wait_until(|| {
            let table = PROCESSES.lock();
            !table.iter().any(|e| e.pid == pid && e.vfork_parent == Some(parent_pid))
                || table.iter().any(|e| e.pid == parent_pid && e.kill.is_some())
        });
    }
    Ok(pid)
}

/// Which children a wait call is for.
#[derive(Clone, Copy)]
pub enum WaitFor {
    Any,
    Pid(sched::Pid),
}

/// What a wait call found.
pub enum Waited {
    /// A child ended (and was reaped unless `keep`).
    Ended { pid: sched::Pid, ending: Ending },
    /// WNOHANG: children exist but none has ended.
    NothingYet,
}

/// wait4/waitid: waits for a child of `parent` to end. ECHILD when it has
/// none (that match), EINTR when a signal is to end the caller.
pub fn wait_child(parent: sched::Pid, which: WaitFor, no_hang: bool, keep: bool) -> Result<Waited, Errno> {
    let matches = move |e: &Entry| {
        e.ppid == parent
            && match which {
                WaitFor::Any => true,
                WaitFor::Pid(pid) => e.pid == pid,
            }
    };
    loop {
        let found = cpu::without_interrupts(|| {
            let mut table = PROCESSES.lock();
            if !table.iter().any(|e| matches(e)) {
                return Some(Err(Errno::ECHILD));
            }
            if let Some(i) = table.iter().position(|e| matches(e) && e.zombie.is_some()) {
                let (pid, ending) = (table[i].pid, table[i].zombie.expect("zombie"));
                if !keep {
                    table.remove(i);
                }
                return Some(Ok(Waited::Ended { pid, ending }));
            }
            if no_hang {
                return Some(Ok(Waited::NothingYet));
            }
            if table.iter().any(|e| e.pid == parent && e.kill.is_some()) {
                return Some(Err(Errno::EINTR));
            }
            None
        });
        if let Some(result) = found {
            return result;
        }
        CHILD_EVENTS.wait_until(|| {
            let table = PROCESSES.lock();
            table.iter().any(|e| (matches(e) && e.zombie.is_some()) || (e.pid == parent && e.kill.is_some()))
                || !table.iter().any(|e| matches(e))
        });
    }
}

/// A process called execve successfully: a parent waiting in vfork resumes.
pub fn exec_done(pid: sched::Pid, directory: u64) {
    cpu::without_interrupts(|| {
        if let Some(entry) = PROCESSES.lock().iter_mut().find(|e| e.pid == pid) {
            entry.vfork_parent = None;
            entry.directory = directory;
        }
    });
    CHILD_EVENTS.wake_all();
}

/// Finds the program: a path with a slash as given (relative to the shell's
/// directory), a bare name in `/` and then `/bin`.
fn resolve(sh: &Shell, name: &str) -> Option<String> {
    let candidates: Vec<String> = if name.contains('/') {
        alloc::vec![sh.path(name)]
    } else {
        alloc::vec![alloc::format!("/{name}"), alloc::format!("/bin/{name}")]
    };
    // A program file first; else a directory of that name, which `start`
    // refuses with "is a directory".
    let file = candidates.iter().find(|path| env::is_program_file(path));
    let exists = |path: &&String| env::with_vfs(|vfs| vfs.lookup(path).is_ok());
    file.or_else(|| candidates.iter().find(exists)).cloned()
}

/// Where a program's standard input and output go: the console, or files
/// named by `< FILE` and `> FILE` at the end of the `load_app` line.
#[derive(Default)]
pub struct Redirects {
    pub stdin: Option<String>,
    pub stdout: Option<String>,
}

/// How `load_app` starts a program.
#[derive(Default)]
pub struct Options {
    pub redirects: Redirects,
    /// `--strace`: log each syscall with its arguments and result.
    pub trace: bool,
}

/// Splits `load_app` words into the program's argv and its redirections.
fn split_redirects(sh: &Shell, words: &[String]) -> Result<(Vec<String>, Redirects), String> {
    let mut argv = Vec::new();
    let mut redirects = Redirects::default();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let target = match word.as_str() {
            "<" => &mut redirects.stdin,
            ">" => &mut redirects.stdout,
            _ => {
                argv.push(word.clone());
                continue;
            }
        };
        let file = words.next().ok_or_else(|| alloc::format!("'{word}' needs a file name after it"))?;
        *target = Some(sh.path(file));
    }
    Ok((argv, redirects))
}

fn load_app_command(sh: &mut Shell, words: &[String]) -> i32 {
    let trace = words.first().is_some_and(|w| w == "--strace");
    let words = if trace { &words[1..] } else { words };
    let (args, redirects) = match split_redirects(sh, words) {
        Ok(split) => split,
        Err(e) => {
            println!("load_app: {e}");
            return shell::STATUS_USAGE;
        }
    };
    let Some(name) = args.first() else {
        println!("usage: load_app [--strace] PROGRAM [ARGS...] [< INPUT] [> OUTPUT]");
        return shell::STATUS_USAGE;
    };
    let Some(path) = resolve(sh, name) else {
        println!("load_app: {name}: not found in / or /bin");
        return STATUS_NOT_FOUND;
    };
    match start(&path, &args, &sh.cwd, &Options { redirects, trace }) {
        Ok(pid) => sched::wait(pid).unwrap_or(STATUS_CANNOT_EXECUTE),
        Err(reason) => {
            println!("load_app: {path}: cannot run: {reason}");
            STATUS_CANNOT_EXECUTE
        }
    }
}

/// CPUID.1:EDX for `AT_HWCAP`, as Linux reports it.
fn hwcap() -> u32 {
    crate::hal::usermode::hwcap()
}

/// Loads `path` and starts it as a new task; returns the task's pid.
pub fn start(path: &str, args: &[String], cwd: &str, options: &Options) -> Result<sched::Pid, String> {
    let redirects = &options.redirects;
    // CLOCK_PROCESS_CPUTIME_ID counts from here, so a program reading it
    // first thing measures load_app's own cost (the benchmark does).
    let started = env::monotonic().as_nanos() as u64;
    let image = open_program(path)?;
    let seed = cpu::rdtsc();
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&seed.to_le_bytes());
    random[8..].copy_from_slice(&(seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let loaded = loader::load(&*image, path, &argv, &ENVIRONMENT, random, hwcap(), &open_program)?;
    drop(image);
    let mut files = files::FdTable::with_console();
    if let Some(input) = &redirects.stdin {
        redirect(&mut files, 0, input, embox_abi::consts::open::O_RDONLY)?;
    }
    if let Some(output) = &redirects.stdout {
        redirect(&mut files, 1, output, embox_abi::consts::open::O_WRONLY | embox_abi::consts::open::O_CREAT | embox_abi::consts::open::O_TRUNC)?;
    }
    let (entry, stack, directory) = (loaded.entry, loaded.stack, loaded.memory.directory());
    let name = args[0].rsplit('/').next().unwrap_or(&args[0]);
    let lkl = crate::syscall::lkl_forwarding();
    let pid = cpu::without_interrupts(|| {
        let pid = sched::spawn(name, move || trap::enter_user(entry, stack));
        sched::with_task(pid, |t| {
            if let Some(ctx) = t.context() {
                ctx.set_page_directory(directory);
            }
        });
        let mut process = Process::new(pid, String::from(name), loaded.memory, seed ^ 0x5851_f42d_4c95_7f2d, started);
        process.cwd = String::from(cwd);
        process.exe = String::from(path);
        process.files = files;
        process.trace = options.trace;
        process.lkl = lkl;
        PROCESSES.lock().push(Entry {
            pid,
            directory,
            process: Some(Box::new(process)),
            ppid: sched::current_pid(),
            zombie: None,
            kill: None,
            vfork_parent: None,
        });
        pid
    });
    Ok(pid)
}

/// Opens a program (or its interpreter) for the loader. Natively the
/// loader reads the file a page at a time; LKL's file system hands over
/// the whole file.
pub fn open_program(path: &str) -> Result<Box<dyn loader::Image>, String> {
    if crate::lkl::is_up() {
        Ok(Box::new(env::read_program(path)?))
    } else {
        Ok(Box::new(ProgramFile::open(path)?))
    }
}

/// A program file in the VFS, held open while it loads and read a page at
/// a time (a large program is never copied whole into the kernel heap).
struct ProgramFile {
    id: embox_fs::NodeId,
    len: usize,
}

impl ProgramFile {
    fn open(path: &str) -> Result<Self, String> {
        env::with_vfs(|vfs| {
            let id = vfs.lookup(path)?;
            let meta = vfs.metadata(id);
            if meta.kind == embox_fs::FileKind::Directory {
                return Err(embox_fs::FsError::IsADirectory);
            }
            vfs.open(id);
            Ok(ProgramFile { id, len: meta.size as usize })
        })
        .map_err(|e| match e {
            embox_fs::FsError::IsADirectory => String::from("is a directory"),
            e => alloc::format!("{e}"),
        })
    }
}

impl loader::Image for ProgramFile {
    fn len(&self) -> usize {
        self.len
    }
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<usize, String> {
        env::with_vfs(|vfs| vfs.read_at(self.id, offset as u64, buf)).map_err(|e| alloc::format!("{e}"))
    }
}

impl Drop for ProgramFile {
    fn drop(&mut self) {
        env::with_vfs(|vfs| vfs.close(self.id));
    }
}

/// Points descriptor `fd` at the file `path` (opened with `flags`).
fn redirect(files: &mut files::FdTable, fd: u32, path: &str, flags: u32) -> Result<(), String> {
    use embox_abi::consts::open::{O_ACCMODE, O_CREAT, O_TRUNC};
    let id = env::with_vfs(|vfs| {
        let id = match vfs.lookup(path) {
            Err(embox_fs::FsError::NotFound) if flags & O_CREAT != 0 => vfs.create_file(path, 0o644, false)?,
            other => other?,
        };
        if vfs.metadata(id).kind != embox_fs::FileKind::File {
            return Err(embox_fs::FsError::IsADirectory);
        }
        if flags & O_TRUNC != 0 {
            vfs.truncate(id, 0)?;
        }
        vfs.open(id);
        Ok(id)
    })
    .map_err(|e| alloc::format!("{path}: {e}"))?;
    if let Ok(Some(old)) = files.close(fd) {
        crate::syscall::release_file(old);
    }
    let file = files::OpenFile { kind: files::FileKind::File(id), offset: 0, flags: flags & O_ACCMODE, path: String::from(path) };
    files.open(file, false).map(|_| ()).map_err(|e| alloc::format!("{path}: {}", e.name()))
}
