//! Kernel execution contexts and the context switch.
//!
//! A [`Context`] is a kernel stack plus the saved stack pointer of a task
//! that is not running. [`switch`] saves the callee-saved registers on the
//! current stack, stores its stack pointer, and resumes another context. FPU
//! and SSE registers are caller-saved in the i386 ABI, so a switch (a plain
//! call) need not save them; a preempted kernel's FPU state was saved by the
//! trap stub on its own kernel stack (see [`crate::idt`]), and a user
//! program's lives in its context's [`FpuArea`], switched lazily (see
//! [`crate::fpu`]).
//!
//! Per context, the switch also installs what the CPU needs for that task:
//! the TSS `esp0` (its kernel stack top, for traps from ring 3), its page
//! directory (CR3) and its three TLS descriptors. A kernel thread (page
//! directory [`paging::Directory::KERNEL`]) keeps the directory that is
//! loaded: every directory maps the kernel alike, and a kernel thread
//! reaches user memory only through an address space's frames, never
//! through CR3. So a program that blocks, lets the idle task or a kernel
//! thread (LKL's, the net stack's) run and then resumes pays no CR3 load
//! and no TLB flush. An address space dropped while loaded puts the
//! kernel's directory back first (`AddressSpace`'s drop), so CR3 never
//! names freed tables.

use crate::{cpu, fpu::FpuArea, gdt, kstack::KernelStack, paging};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::arch::global_asm;
use core::cell::{Cell, UnsafeCell};
use core::sync::atomic::{AtomicUsize, Ordering};

global_asm!(
    r#"
.section .text.context, "ax"
.global embox_context_switch
embox_context_switch:
    mov eax, [esp + 4]
    mov edx, [esp + 8]
    push ebp
    push ebx
    push esi
    push edi
    # fs and gs (32-bit push/pop encodings): each task keeps its own TLS
    # selectors; the switch installed the next task's TLS descriptors first.
    .byte 0x0f, 0xa0
    .byte 0x0f, 0xa8
    mov [eax], esp
    mov esp, edx
    .byte 0x0f, 0xa9
    .byte 0x0f, 0xa1
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret

.global embox_thread_trampoline
embox_thread_trampoline:
    sti
    push ebx
    call {entry}
    ud2
"#,
    entry = sym thread_entry,
);

extern "C" {
    fn embox_context_switch(save_esp: *mut usize, new_esp: usize);
    fn embox_thread_trampoline();
}

/// A thread's body, type-erased: `run` moves the closure out of its box
/// onto the thread's stack (freeing the box) and calls it; `free` drops it
/// unrun. Not a `Box<dyn FnOnce>`: calling one frees its box only when the
/// call returns, and a body that never returns (a user program's entry)
/// leaked it, 16 bytes per `load_app`.
struct ThreadBody {
    run: unsafe fn(*mut ()),
    free: unsafe fn(*mut ()),
    data: *mut (),
}

/// # Safety
/// `data` comes from `Box::<F>::into_raw`, taken back once.
unsafe fn run_body<F: FnOnce()>(data: *mut ()) {
    // SAFETY: per the contract; the box is freed here, before the call.
    let body: F = *unsafe { Box::from_raw(data as *mut F) };
    body()
}

/// # Safety
/// As for [`run_body`].
unsafe fn free_body<F>(data: *mut ()) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(data as *mut F) })
}

static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// The context of a finished thread, kept until we are off its stack.
static DEAD: crate::sync::IrqMutex<Option<Arc<Context>>> = crate::sync::IrqMutex::new(None);
static EXIT_HOOK: crate::sync::IrqMutex<Option<fn() -> !>> = crate::sync::IrqMutex::new(None);

/// Sets what runs when a thread body returns: the scheduler's exit, which
/// switches away for good.
pub fn set_thread_exit_hook(hook: fn() -> !) {
    *EXIT_HOOK.lock() = Some(hook);
}

extern "C" fn thread_entry(body: *mut ThreadBody) -> ! {
    // SAFETY: `Context::new` leaked exactly this box for this thread, and
    // the trampoline passes it once.
    let body = *unsafe { Box::from_raw(body) };
    reap_dead();
    // SAFETY: `Context::new` made `data` for exactly this `run`, used once.
    unsafe { (body.run)(body.data) };
    let hook = *EXIT_HOOK.lock();
    match hook {
        Some(exit) => exit(),
        None => crate::report::fatal(format_args!("a kernel thread returned and no exit hook is set")),
    }
}

/// A task's kernel execution state.
pub struct Context {
    saved_esp: UnsafeCell<usize>,
    /// Owned, never read: the stack memory must live as long as the context.
    _stack: Option<KernelStack>,
    stack_top: usize,
    directory: Cell<paging::Directory>,
    tls: Cell<[gdt::TlsDescriptor; gdt::TLS_ENTRIES]>,
    /// The body, until the first switch to this context starts it.
    pending_body: Cell<Option<*mut ThreadBody>>,
    /// The user FPU/SSE state while another task has the registers.
    fpu: FpuArea,
}

// SAFETY: contexts are only touched by the scheduler with interrupts masked
// on the one CPU.
unsafe impl Send for Context {}
// SAFETY: as above.
unsafe impl Sync for Context {}

impl Context {
    /// The context of the code that is running now on the boot stack (it
    /// becomes the idle task).
    /// Call once.
    pub fn boot() -> Arc<Self> {
        let (_, top) = crate::boot::boot_stack();
        let ctx = Arc::new(Self::bare(None, top));
        CURRENT.store(&*ctx as *const _ as usize, Ordering::Relaxed);
        ctx.fpu.make_current();
        gdt::set_kernel_stack(top);
        ctx
    }

    fn bare(stack: Option<KernelStack>, stack_top: usize) -> Self {
        Self {
            saved_esp: UnsafeCell::new(0),
            _stack: stack,
            stack_top,
            directory: Cell::new(paging::Directory::KERNEL),
            tls: Cell::new([gdt::TlsDescriptor::EMPTY; gdt::TLS_ENTRIES]),
            pending_body: Cell::new(None),
            fpu: FpuArea::new(),
        }
    }

    /// A new kernel thread that will run `body` (with interrupts enabled)
    /// when first switched to, on a [`KernelStack`] (`kstack::STACK_SIZE`
    /// bytes below a guard page). Shared, so the scheduler can hold it while
    /// it runs.
    pub fn new<F: FnOnce() + Send + 'static>(body: F) -> Arc<Self> {
        Self::with_stack(KernelStack::new(), body)
    }

    /// As [`new`](Self::new), or None when no kernel stack can be had
    /// (all slots used, or no frames).
    pub fn try_new<F: FnOnce() + Send + 'static>(body: F) -> Option<Arc<Self>> {
        Some(Self::with_stack(KernelStack::try_new()?, body))
    }

    fn with_stack<F: FnOnce() + Send + 'static>(stack: KernelStack, body: F) -> Arc<Self> {
        let top = stack.top();
        let ctx = Arc::new(Self::bare(Some(stack), top));
        let data = Box::into_raw(Box::new(body)) as *mut ();
        let body = Box::into_raw(Box::new(ThreadBody { run: run_body::<F>, free: free_body::<F>, data }));
        ctx.pending_body.set(Some(body));
        // Initial frame popped by `embox_context_switch`: gs, fs (null),
        // edi, esi, ebx (the body pointer), ebp, return address. The return
        // address sits 16 bytes below the top so the trampoline's call is
        // 16-byte aligned.
        let frame: [usize; 7] = [0, 0, 0, 0, body as usize, 0, embox_thread_trampoline as usize];
        let esp = top - 16 - 6 * 4;
        // SAFETY: [esp, top-12) lies inside the stack we own and nothing
        // else refers to it yet.
        unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), esp as *mut usize, frame.len()) };
        // SAFETY: no one else can see `ctx` yet.
        unsafe { *ctx.saved_esp.get() = esp };
        ctx
    }

    /// Top of this context's kernel stack (the TSS esp0 while it runs).
    pub fn stack_top(&self) -> usize {
        self.stack_top
    }

    /// Uses this page directory ([`paging::Directory::KERNEL`]: the kernel's) while
    /// this context runs. Takes effect at the next switch to it, or now if it
    /// is the current context (the kernel's is then loaded now, too).
    pub fn set_page_directory(&self, directory: paging::Directory) {
        self.directory.set(directory);
        if self.is_current() {
            load_directory(directory);
        }
    }

    /// Sets a TLS descriptor of this context (installed in the GDT while it runs).
    pub fn set_tls_descriptor(&self, slot: usize, descriptor: gdt::TlsDescriptor) -> u16 {
        let mut tls = self.tls.get();
        tls[slot] = descriptor;
        self.tls.set(tls);
        let selector = (gdt::TLS_FIRST_ENTRY + slot) << 3 | 3;
        if self.is_current() {
            gdt::set_tls_descriptor(slot, descriptor);
        }
        selector as u16
    }

    /// The three TLS descriptors of this context (a forked child starts with its parent's).
    pub fn tls_descriptors(&self) -> [gdt::TlsDescriptor; gdt::TLS_ENTRIES] {
        self.tls.get()
    }

    fn is_current(&self) -> bool {
        CURRENT.load(Ordering::Relaxed) == self as *const _ as usize
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        assert!(!self.is_current(), "dropping the context that is running (its stack is in use)");
        cpu::without_interrupts(|| self.fpu.disown());
        if let Some(body) = self.pending_body.take() {
            // SAFETY: the thread never started, so the boxes were never taken back.
            let body = *unsafe { Box::from_raw(body) };
            // SAFETY: `free` matches `data` (made together in `Context::new`), used once.
            unsafe { (body.free)(body.data) };
        }
    }
}

fn load_directory(directory: paging::Directory) {
    let kernel = directory == paging::Directory::KERNEL;
    let dir = if kernel { paging::kernel_directory() } else { directory.0 };
    if cpu::cr3() as u64 != dir {
        if kernel {
            paging::activate_kernel();
        } else {
            load_cr3(dir);
        }
    }
}

fn load_cr3(dir: u64) {
    // SAFETY: user page directories are built by `paging::AddressSpace`,
    // which copies the kernel mappings, so the kernel stays mapped.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) dir as u32, options(nostack)) }
}

/// Saves the running context into `from` and resumes `to`. Returns when
/// some later switch resumes `from`. `from` must be the running context.
pub fn switch(from: &Context, to: &Context) {
    if core::ptr::eq(from, to) {
        return;
    }
    assert!(from.is_current(), "switch from a context that is not running");
    cpu::without_interrupts(|| raw_switch(from, to));
    reap_dead();
}

/// Leaves the running context for good: `from` (the running context) is
/// freed once execution is off its stack.
pub fn exit_to(from: Arc<Context>, to: Arc<Context>) -> ! {
    assert!(from.is_current(), "exit from a context that is not running");
    cpu::disable_interrupts();
    let from_ptr: *const Context = &*from;
    let to_ptr: *const Context = &*to;
    *DEAD.lock() = Some(from);
    // The scheduler keeps `to` alive (it is a task in its table); drop our
    // reference now, since this stack never resumes.
    drop(to);
    // SAFETY: DEAD holds `from` and the scheduler's table holds `to`, so both
    // stay allocated through the switch; DEAD is dropped only after a later
    // switch, when `from` is no longer current.
    unsafe { raw_switch(&*from_ptr, &*to_ptr) };
    unreachable!("a finished thread was resumed")
}

fn reap_dead() {
    let dead = DEAD.lock().take();
    drop(dead);
}

/// The switch itself; interrupts must be masked.
fn raw_switch(from: &Context, to: &Context) {
    to.pending_body.set(None);
    gdt::set_kernel_stack(to.stack_top);
    let directory = to.directory.get();
    // A kernel thread runs on whatever directory is loaded (see the module header).
    if directory != paging::Directory::KERNEL {
        load_directory(directory);
    }
    for (slot, d) in to.tls.get().iter().enumerate() {
        gdt::set_tls_descriptor(slot, *d);
    }
    CURRENT.store(to as *const _ as usize, Ordering::Relaxed);
    // A live user FPU state stays in the registers (CR0.TS guards it).
    to.fpu.make_current();
    // SAFETY: `from` is the running context (checked above), so its
    // saved_esp slot may be written; `to` is not running and its saved
    // esp was stored by an earlier switch or built by `Context::new`,
    // on a stack it still owns (a context is never dropped while current).
    unsafe { embox_context_switch(from.saved_esp.get(), *to.saved_esp.get()) };
}
