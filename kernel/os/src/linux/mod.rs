//! Running unmodified Linux i386 programs: `load_app` loads an ELF from the
//! file tree into a fresh address space ([`loader`]), starts it in ring 3
//! as a task of its own, serves its `int 0x80` calls
//! ([`crate::syscall`]) and turns its faults into signals ([`fault`]).
//!
//! Each program's [`Process`] lives in [`PROCESSES`] keyed by task pid. A
//! trap from the program takes it out for the duration of the call (so the
//! handler runs with interrupts enabled and no lock held) and puts it back;
//! only the program's own task ever touches it.

pub mod env;
pub mod fault;
pub mod files;
pub mod loader;
pub mod memory;
pub mod process;

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};
use alloc::string::String;
use alloc::vec::Vec;

use crate::hal::sync::IrqMutex;
use crate::hal::trap::{self, TrapFrame};
use crate::hal::{cpu, idt};
use crate::shell::{self, Command, Shell};
use crate::{println, sched};
use process::Process;

/// A running program's state, `None` while a trap of that program has it out.
struct Entry {
    pid: sched::Pid,
    /// Its page directory: CR3 tells whose trap this is without asking the scheduler.
    directory: u64,
    process: Option<Box<Process>>,
}

static PROCESSES: IrqMutex<Vec<Entry>> = IrqMutex::new(Vec::new());

/// Ctrl-C was typed: the foreground program ends (SIGINT, status 130) at
/// its next entry into the kernel.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True when Ctrl-C asks the running program to stop (sleeps end early).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The tty's Ctrl-C hook (interrupt context). A program in a syscall sees
/// the flag when the call ends; one running in ring 3 is made to fault at
/// its next instruction by revoking its pages' user access.
fn on_ctrl_c() {
    let mut table = PROCESSES.lock();
    if table.is_empty() {
        return;
    }
    INTERRUPTED.store(true, Ordering::Relaxed);
    for entry in table.iter_mut() {
        if let Some(process) = entry.process.as_deref_mut() {
            process.memory.revoke_user_access();
        }
    }
}

/// Ends the running program if Ctrl-C asked for it.
fn stop_if_interrupted(pid: sched::Pid, process: Box<Process>) -> Box<Process> {
    if INTERRUPTED.swap(false, Ordering::Relaxed) {
        fault::report_interrupt(&process);
        finish(pid, process, 128 + embox_abi::consts::signal::SIGINT as i32);
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
    let entry = table.iter_mut().find(|e| e.directory == directory)?;
    entry.process.take().map(|p| (entry.pid, p))
}

fn put_back(pid: sched::Pid, process: Box<Process>) {
    let mut table = PROCESSES.lock();
    if let Some(entry) = table.iter_mut().find(|e| e.pid == pid) {
        entry.process = Some(process);
    }
}

/// `int 0x80` from ring 3 (called by the trap stub, interrupts masked).
extern "C" fn syscall_trap(frame: &mut TrapFrame) {
    let args = [frame.ebx, frame.ecx, frame.edx, frame.esi, frame.edi, frame.ebp];
    if crate::syscall::is_quick(frame.eax) && !interrupted() {
        // Short calls that never block or exit: served in place, under one
        // lock with interrupts masked (the null-syscall path).
        let directory = cpu::cr3() as u64;
        let mut table = PROCESSES.lock();
        if let Some(process) = table.iter_mut().find(|e| e.directory == directory).and_then(|e| e.process.as_deref_mut()) {
            frame.eax = crate::syscall::dispatch(process, frame.eax, &args);
            return;
        }
    }
    let Some((pid, process)) = take_current() else {
        frame.eax = embox_abi::Errno::ENOSYS.to_ret() as u32;
        return;
    };
    let mut process = stop_if_interrupted(pid, process);
    cpu::enable_interrupts();
    let result = crate::syscall::dispatch(&mut process, frame.eax, &args);
    cpu::disable_interrupts();
    frame.eax = result;
    let process = stop_if_interrupted(pid, process);
    match process.exit_status {
        Some(status) => finish(pid, process, status),
        None => put_back(pid, process),
    }
}

/// A CPU exception in ring 3: demand paging, or a fatal signal.
fn fault_trap(frame: &mut TrapFrame) {
    let Some((pid, process)) = take_current() else {
        trap::fatal_trap(frame);
    };
    let mut process = stop_if_interrupted(pid, process);
    if fault::try_demand_page(&mut process, frame) {
        put_back(pid, process);
        return;
    }
    let sig = fault::signal_for(frame.vector);
    fault::report_signal(&process, sig, Some(frame));
    finish(pid, process, 128 + sig as i32)
}

/// Ends the running program: releases its files and memory, then the task.
fn finish(pid: sched::Pid, mut process: Box<Process>, status: i32) -> ! {
    for file in process.files.close_all() {
        crate::syscall::release_file(file);
    }
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_page_directory(0);
            for slot in 0..crate::hal::gdt::TLS_ENTRIES {
                ctx.set_tls_descriptor(slot, 0);
            }
        }
    });
    PROCESSES.lock().retain(|e| e.pid != pid);
    INTERRUPTED.store(false, Ordering::Relaxed);
    drop(process);
    sched::exit(status)
}

/// Finds the program: a path with a slash as given (relative to the shell's
/// directory), a bare name in `/` and then `/bin`.
fn resolve(sh: &Shell, name: &str) -> Option<String> {
    let candidates: Vec<String> = if name.contains('/') {
        alloc::vec![sh.path(name)]
    } else {
        alloc::vec![alloc::format!("/{name}"), alloc::format!("/bin/{name}")]
    };
    candidates.into_iter().find(|path| env::is_program_file(path))
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
    let image = env::read_program(path)?;
    let seed = cpu::rdtsc();
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&seed.to_le_bytes());
    random[8..].copy_from_slice(&(seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes());
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let loaded = loader::load(&image, path, &argv, &ENVIRONMENT, random, hwcap())?;
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
        process.files = files;
        process.trace = options.trace;
        process.lkl = lkl;
        PROCESSES.lock().push(Entry { pid, directory, process: Some(Box::new(process)) });
        pid
    });
    Ok(pid)
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
