//! The built-in shell commands.

use super::{all_commands, Command, Shell, STATUS_USAGE};
use crate::hal::crash::{self, KernelFault};
use crate::hal::{heap, memory, power, time};
use crate::{klog, print, println, sched, sysinfo, vfs};
use alloc::string::String;
use embox_fs::{FileKind, FsError, Metadata};

pub(super) const BUILTINS: &[Command] = &[
    Command { name: "help", usage: "help", summary: "list the commands", redirects: false, run: help },
    Command { name: "echo", usage: "echo [-n] [WORD...]", summary: "print the words", redirects: false, run: echo },
    Command { name: "ls", usage: "ls [-l] [PATH...]", summary: "list directories", redirects: false, run: ls },
    Command { name: "cat", usage: "cat FILE...", summary: "print files", redirects: false, run: cat },
    Command { name: "cd", usage: "cd [DIR]", summary: "change the working directory", redirects: false, run: cd },
    Command { name: "pwd", usage: "pwd", summary: "print the working directory", redirects: false, run: pwd },
    Command { name: "uname", usage: "uname [-asnrvm]", summary: "print system information", redirects: false, run: uname },
    Command { name: "ps", usage: "ps", summary: "list tasks", redirects: false, run: ps },
    Command { name: "free", usage: "free", summary: "show memory use", redirects: false, run: free },
    Command { name: "uptime", usage: "uptime", summary: "time since boot", redirects: false, run: uptime },
    Command { name: "dmesg", usage: "dmesg", summary: "print the kernel log", redirects: false, run: dmesg },
    Command { name: "sleep", usage: "sleep SECONDS", summary: "wait (fractions allowed)", redirects: false, run: sleep },
    Command { name: "exit", usage: "exit", summary: "end this shell session (telnet)", redirects: false, run: exit },
    Command { name: "logout", usage: "logout", summary: "end this shell session (telnet)", redirects: false, run: exit },
    Command { name: "poweroff", usage: "poweroff", summary: "power the machine off", redirects: false, run: poweroff },
    Command { name: "reboot", usage: "reboot", summary: "reset the machine", redirects: false, run: reboot },
    Command { name: "schedtest", usage: "schedtest", summary: "check preemption: busy kernel threads must all progress", redirects: false, run: schedtest },
    Command { name: "crash", usage: "crash [page|double|stack|readonly]", summary: "make a kernel fault on purpose (tests fault reporting)", redirects: false, run: crash },
];

fn help(_: &mut Shell, _: &[String]) -> i32 {
    println!("Commands:");
    for c in all_commands() {
        println!("  {:<24} {}", c.usage, c.summary);
    }
    println!("Quote with '...' or \"...\"; $? is the last exit status; Backspace and Ctrl-U edit the line.");
    0
}

fn echo(_: &mut Shell, args: &[String]) -> i32 {
    let (newline, words) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    if newline {
        out.push('\n');
    }
    print!("{out}");
    0
}

fn mode_string(meta: &Metadata) -> String {
    let mut s = String::with_capacity(10);
    s.push(match meta.kind {
        FileKind::Directory => 'd',
        FileKind::Symlink => 'l',
        FileKind::File => '-',
        FileKind::Socket => 's',
    });
    for shift in [6, 3, 0] {
        let bits = meta.permissions >> shift;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn ls(sh: &mut Shell, args: &[String]) -> i32 {
    let long = args.iter().any(|a| a == "-l");
    if let Some(bad) = args.iter().find(|a| a.starts_with('-') && *a != "-l") {
        println!("ls: unknown option {bad} (usage: ls [-l] [PATH...])");
        return STATUS_USAGE;
    }
    let mut paths: alloc::vec::Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    if paths.is_empty() {
        paths.push(".");
    }
    let mut status = 0;
    for (i, arg) in paths.iter().enumerate() {
        let path = sh.path(arg);
        let listing: Result<alloc::vec::Vec<(String, Metadata, Option<String>)>, FsError> = vfs::with(|fs| {
            let id = fs.lookup(&path)?;
            let meta = fs.metadata(id);
            if meta.kind != FileKind::Directory {
                return Ok(alloc::vec![(String::from(*arg), meta, None)]);
            }
            Ok(fs
                .read_dir(id)?
                .into_iter()
                .map(|e| {
                    let meta = fs.metadata(e.ino);
                    let target = (e.kind == FileKind::Symlink).then(|| {
                        fs.readlink(&alloc::format!("{}/{}", path.trim_end_matches('/'), e.name)).map(String::from).unwrap_or_default()
                    });
                    (e.name, meta, target)
                })
                .collect())
        });
        match listing {
            Ok(entries) => {
                if paths.len() > 1 {
                    println!("{}{}:", if i > 0 { "\n" } else { "" }, arg);
                }
                for (name, meta, target) in entries {
                    if long {
                        let arrow = target.map(|t| alloc::format!(" -> {t}")).unwrap_or_default();
                        println!("{} {:>8} {}{}", mode_string(&meta), meta.size, name, arrow);
                    } else {
                        println!("{name}");
                    }
                }
            }
            Err(e) => {
                println!("ls: {arg}: {e}");
                status = 1;
            }
        }
    }
    status
}

fn cat(sh: &mut Shell, args: &[String]) -> i32 {
    if args.is_empty() {
        println!("usage: cat FILE...");
        return STATUS_USAGE;
    }
    let mut status = 0;
    for arg in args {
        let path = sh.path(arg);
        // Copy out in chunks so interrupts are not masked for a whole file.
        let mut offset = 0u64;
        loop {
            let mut buf = [0u8; 512];
            match vfs::with(|fs| fs.lookup(&path).and_then(|id| fs.read_at(id, offset, &mut buf))) {
                Ok(0) => break,
                Ok(n) => {
                    crate::tty::write(&buf[..n]);
                    offset += n as u64;
                }
                Err(e) => {
                    println!("cat: {arg}: {e}");
                    status = 1;
                    break;
                }
            }
        }
    }
    status
}

fn cd(sh: &mut Shell, args: &[String]) -> i32 {
    let target = sh.path(args.first().map_or("/", String::as_str));
    match vfs::with(|fs| fs.lookup(&target).map(|id| fs.metadata(id).kind)) {
        Ok(FileKind::Directory) => {
            sh.cwd = target;
            0
        }
        Ok(_) => {
            println!("cd: {target}: Not a directory");
            1
        }
        Err(e) => {
            println!("cd: {target}: {e}");
            1
        }
    }
}

fn pwd(sh: &mut Shell, _: &[String]) -> i32 {
    println!("{}", sh.cwd);
    0
}

fn uname(_: &mut Shell, args: &[String]) -> i32 {
    let u = sysinfo::uname();
    let mut flags = String::new();
    for a in args {
        match a.strip_prefix('-') {
            Some(f) if !f.is_empty() && f.chars().all(|c| "asnrvm".contains(c)) => flags.push_str(f),
            _ => {
                println!("uname: invalid argument {a} (usage: uname [-asnrvm])");
                return STATUS_USAGE;
            }
        }
    }
    if flags.is_empty() {
        flags.push('s');
    }
    let all = flags.contains('a');
    let fields: [(char, &str); 5] =
        [('s', u.sysname), ('n', &u.nodename), ('r', u.release), ('v', &u.version), ('m', u.machine)];
    let parts: alloc::vec::Vec<&str> = fields.iter().filter(|(f, _)| all || flags.contains(*f)).map(|(_, v)| *v).collect();
    println!("{}", parts.join(" "));
    0
}

fn ps(_: &mut Shell, _: &[String]) -> i32 {
    // LKL: the task's LKL process (its LKL pid, or pid/tid for a thread of
    // it), `yes` for an LKL thread or a host task LKL made on its own.
    println!("{:>5} {:<9} {:>8} {:<9} {:<7} NAME", "PID", "STATE", "CPU(ms)", "LKL", "TLS-KEY");
    let hz = time::timer_hz().max(1) as u64;
    for t in sched::tasks() {
        let tls = if t.lkl_tls_keys.is_empty() {
            String::from("-")
        } else {
            t.lkl_tls_keys.iter().map(|k| alloc::format!("{k}")).collect::<alloc::vec::Vec<_>>().join(",")
        };
        let lkl = match crate::lkl::task::ids(t.pid) {
            Some((tgid, tid)) if tgid == tid => alloc::format!("{tid}"),
            Some((tgid, tid)) => alloc::format!("{tgid}/{tid}"),
            None if t.lkl_thread => String::from("yes"),
            None => String::from("no"),
        };
        println!(
            "{:>5} {:<9} {:>8} {:<9} {:<7} {}",
            t.pid,
            t.state,
            t.cpu_ticks * 1000 / hz,
            lkl,
            tls,
            t.name
        );
    }
    0
}

fn free(_: &mut Shell, _: &[String]) -> i32 {
    let h = heap::stats();
    let f = memory::frame_stats();
    let kib = |frames: u64| frames * 4;
    println!("{:<8} {:>10} {:>10} {:>10}", "KiB", "total", "used", "free");
    println!("{:<8} {:>10} {:>10} {:>10}", "heap", h.size / 1024, h.used / 1024, (h.size - h.used) / 1024);
    println!("{:<8} {:>10} {:>10} {:>10}", "frames", kib(f.total), kib(f.total - f.free), kib(f.free));
    // File data (in frames, counted above too) against the tree's limit.
    let (used, limit) = crate::vfs::with(|vfs| vfs.pages());
    println!("{:<8} {:>10} {:>10} {:>10}", "files", limit * 4, used * 4, limit.saturating_sub(used) * 4);
    0
}

fn uptime(_: &mut Shell, _: &[String]) -> i32 {
    let t = time::since_boot();
    let secs = t.as_secs();
    println!(
        "up {}:{:02}:{:02}.{:03}, {} tasks",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        t.subsec_millis(),
        sched::tasks().len()
    );
    0
}

fn dmesg(_: &mut Shell, _: &[String]) -> i32 {
    crate::klog::with_contents(|chunk| {
        // Copy out: printing with the log locked would mask interrupts for long.
        let copy = chunk.to_vec();
        crate::tty::write(&copy);
    });
    0
}

fn parse_seconds(s: &str) -> Option<core::time::Duration> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty()) || frac.len() > 9 {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let nanos: u32 = if frac.is_empty() { 0 } else { frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32) };
    Some(core::time::Duration::new(secs, nanos))
}

fn sleep(_: &mut Shell, args: &[String]) -> i32 {
    match args {
        [s] => match parse_seconds(s) {
            Some(d) => {
                sched::sleep(d);
                0
            }
            None => {
                println!("sleep: invalid time '{s}' (seconds, e.g. 1 or 0.25)");
                STATUS_USAGE
            }
        },
        _ => {
            println!("usage: sleep SECONDS");
            STATUS_USAGE
        }
    }
}

fn poweroff(_: &mut Shell, _: &[String]) -> i32 {
    klog!("poweroff");
    power::poweroff()
}

fn reboot(_: &mut Shell, _: &[String]) -> i32 {
    klog!("reboot");
    power::reboot()
}

fn crash(_: &mut Shell, args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        None | Some("page") => {
            klog!("crash: reading address 0 in kernel mode, on request");
            crash::provoke(KernelFault::PageFault)
        }
        Some("double") => {
            klog!("crash: double fault (kernel stack on an unmapped page), on request");
            crash::provoke(KernelFault::DoubleFault)
        }
        Some("stack") => {
            klog!("crash: kernel stack overflow by endless recursion, on request");
            let depth = recurse(0);
            println!("crash: recursion ended at depth {depth}?");
            1
        }
        Some("readonly") => {
            klog!("crash: writing into kernel code, on request");
            crash::provoke(KernelFault::WriteToCode)
        }
        Some(other) => {
            println!("crash: unknown kind '{other}' (page, double, stack or readonly)");
            STATUS_USAGE
        }
    }
}

/// Recurses with 512 bytes of stack per call until the guard page stops it.
fn recurse(depth: u32) -> u32 {
    let frame = [depth as u8; 512];
    core::hint::black_box(&frame);
    if depth == u32::MAX {
        return 0;
    }
    recurse(depth + 1) + frame[1] as u32
}

/// Three threads spin without ever yielding while the shell waits 100 ms for
/// a one-shot timer: the timer service only runs, the shell only wakes, and
/// all three only progress, if the timer interrupt preempts.
fn schedtest(_: &mut Shell, _: &[String]) -> i32 {
    use crate::hal::sync::SplitU64;
    use core::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    static COUNTS: [SplitU64; 3] = [SplitU64::new(0), SplitU64::new(0), SplitU64::new(0)];
    static FINISHED: crate::sync::Semaphore = crate::sync::Semaphore::new(0);
    STOP.store(false, Ordering::SeqCst);
    let pids: alloc::vec::Vec<sched::Pid> = (0..3)
        .map(|i| {
            COUNTS[i].store(0);
            sched::spawn(&alloc::format!("spin{i}"), move || {
                while !STOP.load(Ordering::Relaxed) {
                    COUNTS[i].fetch_add(1);
                }
                FINISHED.up();
            })
        })
        .collect();
    let start = time::since_boot();
    // A one-shot timer wakes the shell (through a semaphore) after 100 ms.
    static TIMER_FIRED: crate::sync::Semaphore = crate::sync::Semaphore::new(0);
    crate::timer::after(core::time::Duration::from_millis(100), || TIMER_FIRED.up());
    TIMER_FIRED.down();
    let slept = time::since_boot() - start;
    STOP.store(true, Ordering::SeqCst);
    // Each thread signals the semaphore as it ends: the shell blocks on it.
    for _ in &pids {
        FINISHED.down();
    }
    for pid in pids {
        sched::wait(pid);
    }
    let counts: alloc::vec::Vec<u64> = COUNTS.iter().map(|c| c.load()).collect();
    let ok = counts.iter().all(|&c| c > 0);
    println!(
        "schedtest: {} busy threads, shell slept {} ms, iterations {:?}: {}",
        counts.len(),
        slept.as_millis(),
        counts,
        if ok { "ok" } else { "FAILED (a thread never ran)" }
    );
    if ok { 0 } else { 1 }
}

fn exit(shell: &mut Shell, _args: &[String]) -> i32 {
    shell.exit_requested = true;
    shell.last_status
}
