//! Faults in user mode. A page fault inside one of the program's areas maps
//! the page (demand paging) and resumes; any other fault kills the program
//! with the signal Linux would send, one log line naming the signal, the
//! fault and the address, and status 128+signal. The kernel and the shell
//! carry on. Faults in kernel mode stay fatal (the hal's report).

use embox_abi::consts::signal::*;

use crate::hal::trap::{TrapDescription, TrapFrame, PAGE_FAULT};
use crate::klog;
use crate::linux::memory::FaultResolution;
use crate::linux::process::Process;
use crate::linux::signal::{SigInfo, BUS_ADRERR, FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR};

/// CPU exceptions a user program can raise, with their signal.
pub const USER_FAULTS: [(u8, u32); 13] = [
    (0, SIGFPE),   // divide error
    (1, SIGTRAP),  // debug
    (3, SIGTRAP),  // breakpoint
    (4, SIGSEGV),  // overflow (into)
    (5, SIGSEGV),  // bound range exceeded
    (6, SIGILL),   // invalid opcode
    (10, SIGSEGV), // invalid TSS
    (11, SIGBUS),  // segment not present
    (12, SIGBUS),  // stack-segment fault
    (13, SIGSEGV), // general protection: privileged instructions (cli, hlt, in/out), bad selectors
    (14, SIGSEGV), // page fault
    (16, SIGFPE),  // x87 error
    (19, SIGFPE),  // SIMD floating-point
];

pub fn signal_for(vector: u32) -> u32 {
    USER_FAULTS.iter().find(|(v, _)| *v as u32 == vector).map_or(SIGSEGV, |(_, s)| *s)
}

/// Tries to resolve a user page fault by demand paging or copy on write.
pub fn try_demand_page(p: &mut Process, frame: &TrapFrame) -> FaultResolution {
    if frame.vector() != PAGE_FAULT as u32 {
        return FaultResolution::Violation;
    }
    let addr = crate::hal::cpu::cr2() as u32;
    let write = frame.error_code() & 2 != 0;
    p.memory.resolve_fault(addr, write)
}

/// Logs that `p` is killed because no frame was left for a page it touched.
pub fn report_out_of_memory(p: &Process, f: &TrapFrame) {
    fresh_line();
    klog!(
        "{}[{}]: killed by SIGKILL: out of memory for a page at {:#010x} ip {:#010x}",
        p.name,
        p.pid,
        crate::hal::cpu::cr2(),
        f.ip()
    );
}

/// Ends the program's unterminated last line, so the kill message (a log
/// line) starts a line of its own, as a shell's "Segmentation fault" does.
fn fresh_line() {
    if !crate::tty::at_line_start() {
        super::env::console_write(b"\n");
    }
}

/// Logs that `p` is killed by `sig` (with the fault, when there is one).
pub fn report_signal(p: &Process, sig: u32, frame: Option<&TrapFrame>) {
    fresh_line();
    match frame {
        Some(f) => klog!(
            "{}[{}]: killed by {}: {} ip {:#010x} sp {:#010x}",
            p.name,
            p.pid,
            name(sig),
            TrapDescription(f),
            f.ip(),
            f.user_sp()
        ),
        None => klog!("{}[{}]: killed by {} (raised by the program)", p.name, p.pid, name(sig)),
    }
}

/// Logs that `p` is killed by a signal another process sent.
pub fn report_killed(p: &Process, sig: u32) {
    fresh_line();
    klog!("{}[{}]: killed by {} (sent by another process)", p.name, p.pid, name(sig));
}

/// Logs that `p` is killed because its stack segment `ss` can no longer be
/// loaded (it cleared the TLS descriptor its ss selects).
pub fn report_bad_stack_segment(p: &Process, ss: u32) {
    fresh_line();
    klog!("{}[{}]: killed by SIGSEGV: its stack segment {:#x} lost its descriptor (set_thread_area)", p.name, p.pid, ss);
}

/// Logs that `p` is stopped by Ctrl-C (SIGINT) or Ctrl-\\ (SIGQUIT).
pub fn report_interrupt(p: &Process, sig: u32) {
    fresh_line();
    let key = if sig == SIGINT { "Ctrl-C" } else { "Ctrl-\\" };
    klog!("{}[{}]: killed by {} ({} on the console)", p.name, p.pid, name(sig), key);
}

/// Logs that `p` is killed because its signal frame could not be written
/// or what sigreturn found there was not a valid frame.
pub fn report_bad_frame(p: &Process) {
    fresh_line();
    klog!("{}[{}]: killed by SIGSEGV: bad signal frame (stack not writable, or a forged frame at sigreturn)", p.name, p.pid);
}

/// The signal for a touch of a file mapping past the page that holds the
/// file's end: SIGBUS with BUS_ADRERR and the address, as Linux sends.
pub fn past_end_of_file() -> (u32, SigInfo) {
    (SIGBUS, SigInfo::fault(BUS_ADRERR, crate::hal::cpu::cr2() as u32))
}

/// The `siginfo` a fault gives its handler: the faulting address for page
/// faults (SEGV_MAPERR outside the program's areas, SEGV_ACCERR inside one
/// whose rights forbid the access), the instruction for traps Linux
/// reports that way, else SI_KERNEL.
pub fn siginfo_for(p: &Process, f: &TrapFrame) -> SigInfo {
    match f.vector() {
        14 => {
            let addr = crate::hal::cpu::cr2() as u32;
            let mapped = p.memory.areas().iter().any(|a| (a.start..a.end).contains(&addr));
            let code = if mapped { SEGV_ACCERR } else { SEGV_MAPERR };
            SigInfo::fault(code, addr)
        }
        0 => SigInfo::fault(FPE_INTDIV, f.ip()),
        6 => SigInfo::fault(ILL_ILLOPN, f.ip()),
        _ => SigInfo::kernel(),
    }
}
