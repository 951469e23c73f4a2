//! Trap frames and the one Rust entry for every interrupt and exception.
//!
//! IRQs are handed to their driver (timer, serial, or a device handler
//! registered with [`set_irq_handler`]) and then acknowledged at the PIC.
//! `int 0x80` does not come through the table of handlers: the trap stub
//! calls the function given to [`set_syscall_handler`] directly, without a
//! lock. Exceptions from ring 3 go to the user-fault handler (the compat
//! layer turns them into signals). Only these vectors have stubs (see
//! `idt.rs`), so there is no table of handlers by raw vector number (the
//! old `set_handler(u8, …)` could register handlers nothing ever called).
//! An exception nobody handles is fatal: [`fatal_trap`]
//! prints the message, the registers and the current task, and ends the run
//! with the fault status.

use crate::{cpu, pic, report, serial, sync::IrqMutex};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

/// The registers a trap stub pushes, lowest address first. `user_esp` and
/// `user_ss` exist only when the trap came from ring 3. The fields are
/// hal's: the rest of the kernel reads and changes a frame through the
/// methods below, so what reaches `iretd` is always a ring-3 frame with
/// user selectors (the stubs pop the segment registers in ring 0, where a
/// kernel selector or a stale one would fault).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TrapFrame {
    pub(crate) gs: u32,
    pub(crate) fs: u32,
    pub(crate) es: u32,
    pub(crate) ds: u32,
    pub(crate) edi: u32,
    pub(crate) esi: u32,
    pub(crate) ebp: u32,
    /// The `pushad` copy of esp (ignored on return).
    pub(crate) kernel_esp: u32,
    pub(crate) ebx: u32,
    pub(crate) edx: u32,
    pub(crate) ecx: u32,
    pub(crate) eax: u32,
    pub(crate) vector: u32,
    pub(crate) error_code: u32,
    pub(crate) eip: u32,
    pub(crate) cs: u32,
    pub(crate) eflags: u32,
    pub(crate) user_esp: u32,
    pub(crate) user_ss: u32,
}

/// The layout the trap stubs (`idt.rs`) build and unwind: `pushad`, then
/// gs, fs, es, ds pushed last (lowest), below the vector and error code the
/// stub pushed and the CPU's eip, cs, eflags (and ring 3's esp, ss). The
/// assembly reads fields at these offsets ([`FRAME_CS`], [`FRAME_VECTOR`],
/// the segment slots), so a change to the struct that does not match the
/// pushes fails to compile here instead of corrupting every trap.
const _: () = {
    use core::mem::{offset_of, size_of};
    let order = [
        offset_of!(TrapFrame, gs),
        offset_of!(TrapFrame, fs),
        offset_of!(TrapFrame, es),
        offset_of!(TrapFrame, ds),
        // pushad: edi, esi, ebp, esp, ebx, edx, ecx, eax (lowest first)
        offset_of!(TrapFrame, edi),
        offset_of!(TrapFrame, esi),
        offset_of!(TrapFrame, ebp),
        offset_of!(TrapFrame, kernel_esp),
        offset_of!(TrapFrame, ebx),
        offset_of!(TrapFrame, edx),
        offset_of!(TrapFrame, ecx),
        offset_of!(TrapFrame, eax),
        offset_of!(TrapFrame, vector),
        offset_of!(TrapFrame, error_code),
        // what the CPU pushes
        offset_of!(TrapFrame, eip),
        offset_of!(TrapFrame, cs),
        offset_of!(TrapFrame, eflags),
        offset_of!(TrapFrame, user_esp),
        offset_of!(TrapFrame, user_ss),
    ];
    let mut i = 0;
    while i < order.len() {
        assert!(order[i] == 4 * i, "TrapFrame's fields must be the 32-bit slots the trap stubs push, in order");
        i += 1;
    }
    assert!(size_of::<TrapFrame>() == 4 * order.len(), "TrapFrame has a field the trap stubs do not push");
    assert!(FRAME_SEGMENTS_BYTES == offset_of!(TrapFrame, edi));
    // popad's eight registers sit between the segment slots and the vector.
    assert!(FRAME_SEGMENTS_BYTES + 32 == offset_of!(TrapFrame, vector));
};

/// Offsets the trap stubs' assembly uses (passed to it as `const` operands).
pub(crate) const FRAME_CS: usize = core::mem::offset_of!(TrapFrame, cs);
pub(crate) const FRAME_VECTOR: usize = core::mem::offset_of!(TrapFrame, vector);
pub(crate) const FRAME_GS: usize = core::mem::offset_of!(TrapFrame, gs);
pub(crate) const FRAME_FS: usize = core::mem::offset_of!(TrapFrame, fs);
pub(crate) const FRAME_ES: usize = core::mem::offset_of!(TrapFrame, es);
pub(crate) const FRAME_DS: usize = core::mem::offset_of!(TrapFrame, ds);
/// The four segment slots below `pushad`'s registers (popped with `add esp`).
pub(crate) const FRAME_SEGMENTS_BYTES: usize = 16;

/// Ring 3's registers as a signal frame saves them (`struct sigcontext`'s
/// register slots): a plain copy, which user memory may hand back changed.
/// Segment selectors are 16-bit (the stubs' 32-bit pushes may carry
/// undefined high bits; they are dropped here). Going back into a frame
/// goes through [`TrapFrame::set_user_registers`], which sanitizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRegisters {
    pub gs: u32,
    pub fs: u32,
    pub es: u32,
    pub ds: u32,
    pub edi: u32,
    pub esi: u32,
    pub ebp: u32,
    pub esp: u32,
    pub ebx: u32,
    pub edx: u32,
    pub ecx: u32,
    pub eax: u32,
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
    pub ss: u32,
}

/// Where [`TrapFrame::enter_handler`] sends ring 3: a function at `ip`
/// with stack `sp` and its first three (regparm) arguments in eax, edx, ecx.
#[derive(Debug, Clone, Copy)]
pub struct HandlerEntry {
    pub ip: u32,
    pub sp: u32,
    pub regparm: [u32; 3],
}

/// The `int 0x80` ABI and the registers the rest of the kernel needs, as
/// methods (all `#[inline]`: the null-syscall path reads them).
impl TrapFrame {
    /// The frame a new program starts from: ring 3 at `ip` with stack
    /// `sp`, flat user segments (fs and gs null), interrupts enabled, every
    /// general register 0 (execve).
    pub fn at_program_entry(ip: u32, sp: u32) -> TrapFrame {
        use crate::gdt::{USER_CODE, USER_DATA};
        let data = USER_DATA as u32;
        TrapFrame { eip: ip, user_esp: sp, cs: USER_CODE as u32, user_ss: data, ds: data, es: data, eflags: 0x202, ..TrapFrame::default() }
    }

    /// The call number (eax on `int 0x80`).
    #[inline]
    pub fn syscall_number(&self) -> u32 {
        self.eax
    }

    /// The six argument registers of `int 0x80`: ebx, ecx, edx, esi, edi, ebp.
    #[inline]
    pub fn syscall_args(&self) -> [u32; 6] {
        [self.ebx, self.ecx, self.edx, self.esi, self.edi, self.ebp]
    }

    /// What the call returns to ring 3 (eax), as set so far.
    #[inline]
    pub fn return_value(&self) -> u32 {
        self.eax
    }

    /// Sets the call's result (eax).
    #[inline]
    pub fn set_return(&mut self, value: u32) {
        self.eax = value;
    }

    /// Makes the program issue call `nr` again when it resumes: eax gets
    /// the number back and eip goes back over the 2-byte `int 0x80`.
    #[inline]
    pub fn restart_syscall(&mut self, nr: u32) {
        self.eax = nr;
        self.eip = self.eip.wrapping_sub(2);
    }

    /// The interrupted instruction (or the one after `int 0x80`).
    #[inline]
    pub fn ip(&self) -> u32 {
        self.eip
    }

    /// Ring 3's stack pointer (meaningful only when [`Self::from_user`]).
    #[inline]
    pub fn user_sp(&self) -> u32 {
        self.user_esp
    }

    /// Gives ring 3 another stack pointer (a new thread's stack).
    #[inline]
    pub fn set_user_sp(&mut self, sp: u32) {
        self.user_esp = sp;
    }

    /// Ring 3's stack segment selector.
    #[inline]
    pub fn user_stack_segment(&self) -> u32 {
        self.user_ss & 0xffff
    }

    /// The trap's vector (an exception number, an IRQ's, or 0x80).
    #[inline]
    pub fn vector(&self) -> u32 {
        self.vector
    }

    /// The exception's error code (0 for vectors without one).
    #[inline]
    pub fn error_code(&self) -> u32 {
        self.error_code
    }

    /// Ring 3's registers, as a signal frame saves them.
    #[inline]
    pub fn user_registers(&self) -> UserRegisters {
        UserRegisters {
            gs: self.gs & 0xffff,
            fs: self.fs & 0xffff,
            es: self.es & 0xffff,
            ds: self.ds & 0xffff,
            edi: self.edi,
            esi: self.esi,
            ebp: self.ebp,
            esp: self.user_esp,
            ebx: self.ebx,
            edx: self.edx,
            ecx: self.ecx,
            eax: self.eax,
            eip: self.eip,
            cs: self.cs & 0xffff,
            eflags: self.eflags,
            ss: self.user_ss & 0xffff,
        }
    }

    /// Takes ring 3's registers from `regs`, which came from user memory
    /// (sigreturn), made safe as [`Self::sanitize_from_user`] says. False:
    /// `cs` or `ss` cannot be returned to; the program must not resume
    /// (SIGSEGV, as Linux's faulting `iret`).
    #[inline]
    pub fn set_user_registers(&mut self, regs: &UserRegisters) -> bool {
        let UserRegisters { gs, fs, es, ds, edi, esi, ebp, esp, ebx, edx, ecx, eax, eip, cs, eflags, ss } = *regs;
        (self.gs, self.fs, self.es, self.ds) = (gs & 0xffff, fs & 0xffff, es & 0xffff, ds & 0xffff);
        (self.edi, self.esi, self.ebp, self.user_esp, self.ebx, self.edx, self.ecx, self.eax) = (edi, esi, ebp, esp, ebx, edx, ecx, eax);
        (self.eip, self.cs, self.eflags, self.user_ss) = (eip, cs & 0xffff, eflags, ss & 0xffff);
        self.sanitize_from_user()
    }

    /// Sends ring 3 into a signal handler: `entry`'s ip, stack and regparm
    /// arguments, flat user code, stack and data segments (fs and gs, the
    /// program's TLS, stay), and no trap, direction or resume flag, as the
    /// ABI wants at a call.
    #[inline]
    pub fn enter_handler(&mut self, entry: &HandlerEntry) {
        use crate::gdt::{USER_CODE, USER_DATA};
        let HandlerEntry { ip, sp, regparm: [eax, edx, ecx] } = *entry;
        (self.eip, self.user_esp, self.eax, self.edx, self.ecx) = (ip, sp, eax, edx, ecx);
        self.cs = USER_CODE as u32;
        self.user_ss = USER_DATA as u32;
        self.ds = USER_DATA as u32;
        self.es = USER_DATA as u32;
        self.eflags &= !(0x100 | 0x400 | 0x1_0000);
    }
}

impl TrapFrame {
    /// True when the trap interrupted ring 3.
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Makes the return to ring 3 unable to fault in kernel mode after a
    /// TLS descriptor changed under the program (`set_thread_area`): a data
    /// segment register whose selector can no longer be loaded gets the
    /// null selector (as Linux's return path does; the program's next
    /// access through it faults in ring 3). Returns false when `ss` cannot
    /// be reloaded: `iretd` would fault, so the program must not resume
    /// (Linux sends SIGSEGV).
    pub fn repair_user_segments(&mut self) -> bool {
        use crate::gdt::user_selector_loadable;
        for seg in [&mut self.gs, &mut self.fs, &mut self.es, &mut self.ds] {
            if !user_selector_loadable(*seg, false) {
                *seg = 0;
            }
        }
        !self.from_user() || user_selector_loadable(self.user_ss, true)
    }
}

/// The eflags bits a user program may set through a signal frame (Linux's
/// FIX_EFLAGS without RF): CF, PF, AF, ZF, SF, TF, DF, OF, AC. IOPL, NT,
/// VM and the rest never come from user memory. (TF makes the program's
/// next instruction trap in ring 3: SIGTRAP, as on Linux.)
const USER_EFLAGS: u32 = 0x0004_0dd5;

impl TrapFrame {
    /// Makes a frame whose registers came from user memory (a signal frame
    /// handed back by sigreturn) safe to return to ring 3 with: cs must be
    /// the user code segment, eflags keeps only the arithmetic flags (plus IF),
    /// and a data segment register keeps its selector only if it is null,
    /// the flat user data segment or a loadable TLS segment (the return
    /// path loads them in ring 0, where a kernel selector must never
    /// appear); others become null. Returns false when `cs` is not the user
    /// code segment or `ss` not a loadable user stack segment: on Linux the
    /// `iret` faults there; here the program must not resume (SIGSEGV).
    fn sanitize_from_user(&mut self) -> bool {
        use crate::gdt::{user_selector_loadable, TLS_ENTRIES, TLS_FIRST_ENTRY, USER_CODE, USER_DATA};
        let tls = |selector: u32| {
            let index = (selector >> 3) as usize;
            selector & 7 == 3 && (TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&index)
        };
        let acceptable = |selector: u32, stack: bool| {
            let selector = selector & 0xffff;
            (selector == USER_DATA as u32 || tls(selector)) && user_selector_loadable(selector, stack)
        };
        let code_ok = (self.cs | 3) & 0xffff == USER_CODE as u32;
        self.cs = USER_CODE as u32;
        self.eflags = (self.eflags & USER_EFLAGS) | 0x202;
        for seg in [&mut self.gs, &mut self.fs, &mut self.es, &mut self.ds] {
            if !acceptable(*seg, false) {
                *seg = 0;
            }
        }
        if !acceptable(self.user_ss | 3, true) {
            self.user_ss = USER_DATA as u32;
            return false;
        }
        self.user_ss = (self.user_ss | 3) & 0xffff;
        code_ok
    }
}

/// Handler for a trap: gets the frame and may change it (syscall return
/// value, or a different task's frame after a switch).
pub type Handler = fn(&mut TrapFrame);

/// The `int 0x80` handler: the trap stub calls it directly (C ABI), with
/// interrupts masked, so a syscall takes no Rust dispatch layer.
pub type SyscallHandler = extern "C" fn(&mut TrapFrame);

/// The 0x80 handler, called by the trap stub without a lock on every
/// syscall (0: none yet, the stub then calls [`dispatch_syscall`]).
pub(crate) static SYSCALL_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// Drivers' handlers for the other IRQ lines (called in interrupt context,
/// before the end-of-interrupt, so a level-triggered device is quiet by then).
static IRQ_HANDLERS: IrqMutex<[Option<fn()>; 16]> = IrqMutex::new([None; 16]);
/// Gets CPU exceptions raised in ring 3 (the compat layer kills the program).
static USER_FAULT_HANDLER: IrqMutex<Option<Handler>> = IrqMutex::new(None);
/// Called after an IRQ that interrupted ring 3, just before the return
/// (the compat layer delivers signals there).
static USER_RETURN_HOOK: IrqMutex<Option<Handler>> = IrqMutex::new(None);
/// Writes a line about the current task into fault reports.

/// Registers the handler of a device IRQ line (not the timer's or COM1's) and
/// unmasks the line at the PIC. The handler must silence its device.
pub fn set_irq_handler(irq: u8, handler: fn()) {
    assert!(irq < 16 && irq != crate::time::IRQ && irq != serial::IRQ && irq != 2, "IRQ {irq} is not a device line");
    IRQ_HANDLERS.lock()[irq as usize] = Some(handler);
    pic::unmask(irq);
}

/// Registers the `int 0x80` handler (see [`SyscallHandler`]).
pub fn set_syscall_handler(handler: SyscallHandler) {
    SYSCALL_HANDLER.store(handler as usize, Ordering::Relaxed);
}

/// Registers the handler for CPU exceptions raised by user code. Exceptions
/// in kernel mode are always fatal: the kernel never touches memory that
/// can fault (user memory is checked against the page tables first).
pub fn set_user_fault_handler(handler: Handler) {
    *USER_FAULT_HANDLER.lock() = Some(handler);
}

/// Registers the function called after every IRQ that interrupted ring 3,
/// with the frame the CPU returns with (it may rewrite it: a signal handler
/// runs next). Called with interrupts masked, after the end-of-interrupt,
/// so it may switch tasks or end the current one.
pub fn set_user_return_hook(hook: Handler) {
    *USER_RETURN_HOOK.lock() = Some(hook);
}

/// The vector of the Linux syscall gate (`int 0x80`).
pub const SYSCALL_VECTOR: u8 = 0x80;

pub const EXCEPTION_NAMES: [&str; 32] = [
    "divide error", "debug", "non-maskable interrupt", "breakpoint", "overflow",
    "bound range exceeded", "invalid opcode", "device not available", "double fault",
    "coprocessor segment overrun", "invalid TSS", "segment not present",
    "stack-segment fault", "general protection fault", "page fault", "reserved",
    "x87 floating-point error", "alignment check", "machine check",
    "SIMD floating-point error", "virtualization exception", "control protection",
    "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
    "hypervisor injection", "VMM communication", "security exception", "reserved",
];

pub const PAGE_FAULT: u8 = 14;

/// Called by the assembly stub for `int 0x80` while no syscall handler is
/// registered: the trap is fatal.
pub(crate) extern "C" fn dispatch_syscall(frame: &mut TrapFrame) {
    fatal_trap(frame)
}

/// Called by the assembly stubs with interrupts masked.
pub(crate) extern "C" fn dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    if (pic::IRQ_BASE..pic::IRQ_BASE + 16).contains(&vector) {
        handle_irq(vector - pic::IRQ_BASE);
        if frame.from_user() {
            let hook = *USER_RETURN_HOOK.lock();
            if let Some(hook) = hook {
                hook(frame);
            }
        }
        return;
    }
    // An exception (the only other vectors with stubs): ring 3's go to the
    // compat layer, the kernel's are fatal.
    let handler = if frame.from_user() { *USER_FAULT_HANDLER.lock() } else { None };
    match handler {
        Some(h) => h(frame),
        None => fatal_trap(frame),
    }
}

fn handle_irq(irq: u8) {
    if irq == 7 && !pic::is_in_service(7) {
        return; // spurious
    }
    match irq {
        crate::time::IRQ => {
            crate::time::handle_irq();
            crate::virtio_console::on_tick();
            pic::end_of_interrupt(irq);
            // May switch tasks: the EOI above is already sent.
            crate::time::run_tick_hook();
        }
        serial::IRQ => {
            serial::handle_irq();
            pic::end_of_interrupt(irq);
        }
        _ => {
            let handler = IRQ_HANDLERS.lock()[irq as usize];
            if let Some(handler) = handler {
                handler();
            }
            pic::end_of_interrupt(irq);
        }
    }
}

/// Describes a trap: "page fault at 0x00000000 (read, kernel mode)".
pub struct TrapDescription<'a>(pub &'a TrapFrame);

impl fmt::Display for TrapDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.0;
        let vector = frame.vector as usize;
        let name = EXCEPTION_NAMES.get(vector).copied().unwrap_or("interrupt");
        let mode = if frame.from_user() { "user mode" } else { "kernel mode" };
        if vector == PAGE_FAULT as usize {
            let e = frame.error_code;
            let access = if e & 0x10 != 0 {
                "execute"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            };
            let what = if e & 1 != 0 { "protection violation" } else { "page not present" };
            write!(f, "{name} at {:#010x} ({access}, {what}, {mode})", cpu::cr2())
        } else {
            write!(f, "{name} (vector {vector}, error code {:#x}, {mode})", frame.error_code)
        }
    }
}

/// Prints the registers of a frame, four per line.
pub fn write_registers(out: &mut dyn Write, f: &TrapFrame) -> fmt::Result {
    writeln!(out, "  eip={:08x} cs={:04x} eflags={:08x} cr2={:08x} cr3={:08x}", f.eip, f.cs, f.eflags, cpu::cr2(), cpu::cr3())?;
    writeln!(out, "  eax={:08x} ebx={:08x} ecx={:08x} edx={:08x}", f.eax, f.ebx, f.ecx, f.edx)?;
    writeln!(out, "  esi={:08x} edi={:08x} ebp={:08x} esp={:08x}", f.esi, f.edi, f.ebp, frame_esp(f))?;
    writeln!(out, "  ds={:04x} es={:04x} fs={:04x} gs={:04x}", f.ds, f.es, f.fs, f.gs)
}

/// The interrupted code's stack pointer.
fn frame_esp(f: &TrapFrame) -> u32 {
    if f.from_user() {
        f.user_esp
    } else {
        // Ring 0: the CPU pushed eflags/cs/eip on the same stack; pushad's copy
        // points at the vector slot.
        f.kernel_esp + 5 * 4
    }
}

/// Ends the run after an unhandled trap: message, registers, current task.
pub fn fatal_trap(frame: &TrapFrame) -> ! {
    let mut out = report::FaultConsole::new();
    let _ = writeln!(out, "\nkernel panic: {}", TrapDescription(frame));
    let _ = write_registers(&mut out, frame);
    report::task_and_exit(&mut out)
}

/// Runs on the double-fault TSS's own stack (task gate, vector 8).
pub(crate) extern "C" fn double_fault() -> ! {
    let [eip, esp, eflags, eax] = crate::gdt::double_fault_state();
    let mut out = report::FaultConsole::new();
    if crate::kstack::is_guard_page(cpu::cr2()) {
        let _ = writeln!(out, "\nkernel panic: kernel stack overflow (double fault at the guard page {:#010x})", cpu::cr2());
    } else {
        let _ = writeln!(out, "\nkernel panic: double fault (a fault while handling a fault)");
    }
    let _ = writeln!(out, "  eip={eip:08x} esp={esp:08x} eflags={eflags:08x} eax={eax:08x} cr2={:08x}", cpu::cr2());
    report::task_and_exit(&mut out)
}
