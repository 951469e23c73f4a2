//! LKL's side of the host operations, as safe Rust: every call goes through
//! the same `extern "C"` entry points (and the same raw-pointer handles and C
//! callbacks) that LKL's table uses. The `lklhosttest` shell command drives
//! threads, semaphores, mutexes, TLS, timers, memory and jump buffers
//! through it the way LKL does, in every build, with or without LKL.

use super::host::*;
use super::jmp::{embox_lkl_jmp_buf_longjmp, embox_lkl_jmp_buf_set, JmpBuf};
use crate::sync::IrqMutex;
use alloc::boxed::Box;
use core::ffi::c_void;

/// A semaphore from `sem_alloc`, freed on drop.
pub struct Sem(*mut c_void);
// SAFETY: the handle names a `Box<dyn HostSem>` (Send + Sync).
unsafe impl Send for Sem {}
// SAFETY: as above.
unsafe impl Sync for Sem {}

impl Sem {
    pub fn new(count: i32) -> Option<Self> {
        let h = embox_lkl_sem_alloc(count);
        (!h.is_null()).then_some(Self(h))
    }
    pub fn up(&self) {
        embox_lkl_sem_up(self.0)
    }
    pub fn down(&self) {
        embox_lkl_sem_down(self.0)
    }
}

impl Drop for Sem {
    fn drop(&mut self) {
        embox_lkl_sem_free(self.0)
    }
}

/// A mutex from `mutex_alloc`, freed on drop.
pub struct Mutex(*mut c_void);
// SAFETY: the handle names a `Box<dyn HostMutex>` (Send + Sync).
unsafe impl Send for Mutex {}
// SAFETY: as above.
unsafe impl Sync for Mutex {}

impl Mutex {
    pub fn new(recursive: bool) -> Option<Self> {
        let h = embox_lkl_mutex_alloc(recursive as i32);
        (!h.is_null()).then_some(Self(h))
    }
    pub fn lock(&self) {
        embox_lkl_mutex_lock(self.0)
    }
    pub fn unlock(&self) {
        embox_lkl_mutex_unlock(self.0)
    }
}

impl Drop for Mutex {
    fn drop(&mut self) {
        embox_lkl_mutex_free(self.0)
    }
}

extern "C" fn run_boxed_body(arg: *mut c_void) {
    // SAFETY: `thread_create` below leaked exactly this box for this call.
    let body = unsafe { Box::from_raw(arg as *mut ThreadBody) };
    body()
}

/// `thread_create` with a C entry point and a `void *` argument, as LKL calls it.
pub fn thread_create(body: ThreadBody) -> Option<usize> {
    let arg = Box::into_raw(Box::new(body)) as *mut c_void;
    match embox_lkl_thread_create(run_boxed_body, arg) {
        0 => {
            // SAFETY: the thread was not created, so the box is still ours.
            drop(unsafe { Box::from_raw(arg as *mut ThreadBody) });
            None
        }
        t => Some(t as usize),
    }
}

pub fn thread_join(thread: usize) -> bool {
    embox_lkl_thread_join(thread as _) == 0
}
pub fn thread_self() -> usize {
    embox_lkl_thread_self() as usize
}
pub fn thread_equal(a: usize, b: usize) -> bool {
    embox_lkl_thread_equal(a as _, b as _) != 0
}
pub fn thread_detach() {
    embox_lkl_thread_detach()
}
pub fn thread_exit() -> ! {
    embox_lkl_thread_exit();
    crate::report::fatal(format_args!("lkl: thread_exit returned"))
}
pub fn gettid() -> i64 {
    embox_lkl_gettid() as i64
}

static TLS_DESTRUCTOR: IrqMutex<Option<fn(usize)>> = IrqMutex::new(None);

extern "C" fn run_tls_destructor(value: *mut c_void) {
    let f = *TLS_DESTRUCTOR.lock();
    if let Some(f) = f {
        f(value as usize)
    }
}

/// A TLS key from `tls_alloc`, freed on drop. At most one key with a
/// destructor at a time (the destructor is a C function with no context).
pub struct TlsKey(*mut c_void);
// SAFETY: a key is a plain number to us.
unsafe impl Send for TlsKey {}
// SAFETY: as above.
unsafe impl Sync for TlsKey {}

impl TlsKey {
    pub fn new(destructor: Option<fn(usize)>) -> Option<Self> {
        let c_destructor: Option<extern "C" fn(*mut c_void)> = match destructor {
            Some(f) => {
                *TLS_DESTRUCTOR.lock() = Some(f);
                Some(run_tls_destructor)
            }
            None => None,
        };
        let h = embox_lkl_tls_alloc(c_destructor);
        (!h.is_null()).then_some(Self(h))
    }
    pub fn set(&self, value: usize) -> bool {
        embox_lkl_tls_set(self.0, value as *mut c_void) == 0
    }
    pub fn get(&self) -> usize {
        embox_lkl_tls_get(self.0) as usize
    }
}

impl Drop for TlsKey {
    fn drop(&mut self) {
        embox_lkl_tls_free(self.0)
    }
}

extern "C" fn run_timer_callback(arg: *mut c_void) {
    // SAFETY: `Timer::new` passes a pointer to a box it frees only after
    // the timer itself is freed.
    let callback = unsafe { &*(arg as *const TimerCallback) };
    callback()
}

/// A one-shot timer from `timer_alloc`, freed on drop.
pub struct Timer {
    handle: *mut c_void,
    callback: *mut TimerCallback,
}
// SAFETY: the handle names a `Box<dyn HostTimer>`; the callback is Send + Sync.
unsafe impl Send for Timer {}
// SAFETY: as above.
unsafe impl Sync for Timer {}

impl Timer {
    pub fn new(callback: TimerCallback) -> Option<Self> {
        let callback = Box::into_raw(Box::new(callback));
        let handle = embox_lkl_timer_alloc(run_timer_callback, callback as *mut c_void);
        if handle.is_null() {
            // SAFETY: no timer holds the pointer.
            drop(unsafe { Box::from_raw(callback) });
            return None;
        }
        Some(Self { handle, callback })
    }
    pub fn set_oneshot(&self, delay_ns: u64) -> bool {
        embox_lkl_timer_set_oneshot(self.handle, delay_ns as _) == 0
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        embox_lkl_timer_free(self.handle);
        // The host runs callbacks in its timer service thread; a callback
        // that already started may still be returning there. Callers drop a
        // Timer only once its callback has signalled completion.
        // SAFETY: the timer is freed and disarmed, so nothing calls the
        // callback any more (see above for one that is returning).
        drop(unsafe { Box::from_raw(self.callback) });
    }
}

/// Memory from `mem_alloc` (or `page_alloc`), freed on drop.
pub struct Block {
    addr: *mut u8,
    size: usize,
    pages: bool,
}

impl Block {
    pub fn mem(size: usize) -> Option<Self> {
        let addr = embox_lkl_mem_alloc(size as _) as *mut u8;
        (!addr.is_null()).then_some(Self { addr, size, pages: false })
    }
    pub fn pages(size: usize) -> Option<Self> {
        let addr = embox_lkl_page_alloc(size as _) as *mut u8;
        (!addr.is_null()).then_some(Self { addr, size, pages: true })
    }
    pub fn addr(&self) -> usize {
        self.addr as usize
    }
    /// Whether the block is one physically contiguous range of the
    /// kernel's physical map (what `page_alloc` must give LKL).
    pub fn is_physically_contiguous(&self) -> bool {
        let in_map = |a: usize| (crate::layout::PHYS_MAP_BASE..crate::layout::PHYS_MAP_BASE + crate::layout::PHYS_MAP_LIMIT as usize).contains(&a);
        let last = self.addr() + self.size.max(1) - 1;
        in_map(self.addr()) && in_map(last) && crate::layout::virt_to_phys(last) - crate::layout::virt_to_phys(self.addr()) == (last - self.addr()) as u64
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: we own `size` bytes at `addr` until drop.
        unsafe { core::slice::from_raw_parts_mut(self.addr, self.size) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.pages {
            embox_lkl_page_free(self.addr as *mut c_void, self.size as _)
        } else {
            embox_lkl_mem_free(self.addr as *mut c_void)
        }
    }
}

pub fn time_ns() -> u64 {
    embox_lkl_time()
}

struct JumpState(core::cell::UnsafeCell<JmpBuf>);
// SAFETY: used by one task at a time (the self-test), see `jump_back`.
unsafe impl Sync for JumpState {}
static JUMP: JumpState = JumpState(core::cell::UnsafeCell::new(JmpBuf::new()));
static JUMP_DEPTH: IrqMutex<u32> = IrqMutex::new(0);

#[inline(never)]
fn dive(depth: u32) -> u32 {
    // Uses stack and callee-saved registers on the way down, as LKL's
    // schedule() does before it longjmps out.
    let mut scratch = [depth; 16];
    core::hint::black_box(&mut scratch);
    if depth == 0 {
        // SAFETY: `jump_back` set JUMP and is still on the stack below us.
        unsafe { embox_lkl_jmp_buf_longjmp(JUMP.0.get(), 1) }
    }
    dive(depth - 1) + scratch[3]
}

extern "C" fn jump_target() {
    let depth = *JUMP_DEPTH.lock();
    dive(depth);
}

/// `jmp_buf_set` with a function that dives `depth` calls deep and then
/// `jmp_buf_longjmp`s back; true if execution came back with this frame's
/// values intact. Not reentrant (one self-test at a time).
pub fn jump_back(depth: u32) -> bool {
    *JUMP_DEPTH.lock() = depth;
    let canary = core::hint::black_box([0x1234_5678u32, depth, 0xdead_beef]);
    // SAFETY: JUMP is only used here and in `dive`, on this task's stack.
    unsafe { embox_lkl_jmp_buf_set(JUMP.0.get(), jump_target) };
    core::hint::black_box(canary) == [0x1234_5678, depth, 0xdead_beef]
}
