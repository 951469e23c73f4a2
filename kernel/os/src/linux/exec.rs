//! execve: the running process gets a new program. The file is read from
//! the tree; `#!` scripts name their interpreter (which gets the script's
//! path as an argument); an ELF image is loaded into a fresh address space
//! exactly as `load_app` loads one. Only once the new image is complete does
//! the process give up its old memory, so a failed execve returns an error
//! to a program that is still intact.

use alloc::string::String;
use alloc::vec::Vec;

use embox_abi::Errno;
use embox_hal::trap::TrapFrame;

use super::process::Process;
use super::{env, loader};
use crate::sched;

/// Most `#!` interpreters one execve follows (Linux allows 4 levels).
const MAX_INTERPRETER_DEPTH: usize = 4;
/// Longest `#!` line Linux reads (BINPRM_BUF_SIZE).
const SHEBANG_MAX: usize = 256;

/// Reads the executable at `path` (absolute). ENOENT/ENOTDIR when missing,
/// EACCES when it is not a regular file or has no execute bit.
fn read_executable(path: &str) -> Result<Vec<u8>, Errno> {
    env::with_vfs(|vfs| {
        let id = vfs.lookup(path).map_err(env::fs_errno)?;
        let meta = vfs.metadata(id);
        if meta.kind != embox_fs::FileKind::File || meta.permissions & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        // Fallible: a file larger than the heap can hold is ENOMEM.
        vfs.read_all(id, usize::MAX).map_err(|e| match e {
            embox_fs::FsError::NoSpace => Errno::ENOMEM,
            e => env::fs_errno(e),
        })
    })
}

/// The interpreter and its optional argument from a `#!` first line.
fn parse_shebang(image: &[u8]) -> Option<(String, Option<String>)> {
    let line = image.strip_prefix(b"#!")?;
    let end = line.iter().take(SHEBANG_MAX).position(|&b| b == b'\n').unwrap_or(line.len().min(SHEBANG_MAX));
    let line = core::str::from_utf8(&line[..end]).ok()?.trim();
    let (interpreter, arg) = match line.split_once([' ', '\t']) {
        Some((i, rest)) => (i, Some(rest.trim()).filter(|r| !r.is_empty())),
        None => (line, None),
    };
    if interpreter.is_empty() {
        return None;
    }
    Some((String::from(interpreter), arg.map(String::from)))
}

/// Replaces the program of `p` (whose user registers are in
/// `p.user_regs`) with the executable at `path`, given `argv` and `envp`.
pub fn execve(p: &mut Process, path: String, mut argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> Result<(), Errno> {
    let mut path = path;
    let mut image = read_executable(&path)?;
    let mut depth = 0;
    while let Some((interpreter, arg)) = parse_shebang(&image) {
        depth += 1;
        if depth > MAX_INTERPRETER_DEPTH {
            return Err(Errno::ELOOP);
        }
        // argv: interpreter [arg] script original-argv[1..]
        let mut script_argv = Vec::with_capacity(argv.len() + 2);
        script_argv.push(interpreter.clone().into_bytes());
        if let Some(arg) = arg {
            script_argv.push(arg.into_bytes());
        }
        script_argv.push(path.clone().into_bytes());
        script_argv.extend(argv.into_iter().skip(1));
        argv = script_argv;
        path = p.absolute(&interpreter);
        image = read_executable(&path).map_err(|e| if e == Errno::EACCES { Errno::EACCES } else { Errno::ENOENT })?;
    }
    if !image.starts_with(b"\x7fELF") {
        return Err(Errno::ENOEXEC);
    }
    let seed = p.next_random();
    let mut random = [0u8; 16];
    random[..8].copy_from_slice(&seed.to_le_bytes());
    random[8..].copy_from_slice(&p.next_random().to_le_bytes());
    let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let env: Vec<&[u8]> = envp.iter().map(|e| e.as_slice()).collect();
    let loaded = loader::load(&image, &path, &args, &env, random, super::hwcap(), &super::open_program).map_err(|reason| {
        if reason.starts_with("interpreter ") && reason.ends_with("No such file or directory") {
            // As Linux: a missing ld-linux.so.2 is ENOENT.
            Errno::ENOENT
        } else if reason.contains("out of memory") || reason.contains("ENOMEM") {
            Errno::ENOMEM
        } else if reason.contains("too long") || reason.contains("E2BIG") {
            Errno::E2BIG
        } else {
            Errno::ENOEXEC
        }
    })?;
    drop(image);

    // Past the point of no return: the old image goes. The task's TLS
    // descriptors stay installed (fs/gs may still hold their selectors
    // until the return to ring 3 loads null ones: a context switch in
    // between reloads them); the new program's set_thread_area finds
    // every entry free and overwrites them.
    super::end_threads_for_exec(p);
    // Locks the old image still holds on its robust list are dead now
    // (Linux's exec_mm_release): another process sharing them gets
    // EOWNERDEAD.
    super::futex::release_robust_list(&mut p.memory, p.tid, p.robust_list.0);
    let directory = loaded.memory.directory();
    sched::with_current(|t| {
        if let Some(ctx) = t.context() {
            ctx.set_page_directory(directory);
        }
    });
    let old_peak_kib = p.memory.peak_kib();
    drop(core::mem::replace(&mut p.memory, loaded.memory));
    for file in p.files.close_on_exec() {
        crate::syscall::release_file(file);
    }
    p.reset_for_exec();
    // POSIX timers do not survive execve (ITIMER_REAL does).
    super::posix_timer::clear(p.pid);
    p.exe = path;
    // The caller is the process's only thread now; on Linux it takes the
    // process id as its thread id (another thread's task stays parked as
    // the process's stand-in, see `end_threads_for_exec`).
    p.tid = p.pid;
    if let Some(name) = argv.first().and_then(|a| core::str::from_utf8(a).ok()) {
        p.name = String::from(name.rsplit('/').next().unwrap_or(name));
    }
    if p.lkl {
        crate::lkl::task::name(&p.name);
    }
    p.user_regs = Some(TrapFrame::at_program_entry(loaded.entry, loaded.stack));
    super::exec_done(p.pid, old_peak_kib);
    Ok(())
}
