//! The `extern "C"` host operations LKL calls (through the C table) and the
//! [`Host`] trait `embox-os` implements them with.
//!
//! LKL hands us opaque pointers it got from us before (a semaphore, a mutex,
//! a timer, a TLS key) and C callbacks with a `void *` argument. Here each one
//! becomes a typed Rust value: a `Box<dyn HostSem>` behind a thin pointer, a
//! [`ThreadBody`] closure, a [`TlsDestructor`]. The `SAFETY` comments state
//! the contract of `lkl_host_operations` each conversion relies on.

use alloc::boxed::Box;
use core::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// A host thread, as LKL names it (`lkl_thread_t`): never 0.
pub type ThreadId = core::num::NonZeroUsize;
/// A TLS key.
pub type TlsKey = core::num::NonZeroUsize;
/// What a new host thread runs.
pub type ThreadBody = Box<dyn FnOnce() + Send>;
/// What a host timer runs when it fires.
pub type TimerCallback = Box<dyn Fn() + Send + Sync>;

/// A counting semaphore LKL allocated.
pub trait HostSem: Send + Sync {
    fn up(&self);
    fn down(&self);
}

/// A mutex LKL allocated (recursive or not, as it asked).
pub trait HostMutex: Send + Sync {
    fn lock(&self);
    fn unlock(&self);
}

/// A one-shot timer; dropping it disarms it.
pub trait HostTimer: Send + Sync {
    /// Arms (or re-arms) the timer to fire once, `delay_ns` from now.
    fn set_oneshot(&self, delay_ns: u64);
}

/// The destructor LKL gave `tls_alloc`: called with a thread's value when
/// the thread ends.
#[derive(Clone, Copy)]
pub struct TlsDestructor(extern "C" fn(*mut c_void));

impl TlsDestructor {
    /// Calls the destructor with a value LKL stored with `tls_set`.
    pub fn call(&self, value: usize) {
        (self.0)(value as *mut c_void)
    }
}

/// The services behind LKL's host operations (implemented in `embox-os`).
pub trait Host: Sync {
    /// Console output from LKL (any fragment of a line).
    fn print(&self, text: &[u8]);
    /// LKL panicked.
    fn panic(&self) -> !;
    fn sem_alloc(&self, count: u32) -> Option<Box<dyn HostSem>>;
    fn mutex_alloc(&self, recursive: bool) -> Option<Box<dyn HostMutex>>;
    /// Starts a host thread (a kernel task) running `body`.
    fn thread_create(&self, body: ThreadBody) -> Option<ThreadId>;
    /// The calling thread will never be joined: reap it when it exits.
    fn thread_detach(&self);
    /// Ends the calling thread (its TLS destructors run first).
    fn thread_exit(&self) -> !;
    /// Waits for `thread` to end; false if there is no such thread.
    fn thread_join(&self, thread: ThreadId) -> bool;
    fn thread_self(&self) -> ThreadId;
    fn tls_alloc(&self, destructor: Option<TlsDestructor>) -> Option<TlsKey>;
    fn tls_free(&self, key: TlsKey);
    /// Sets the calling thread's value for `key`; false for an unknown key.
    fn tls_set(&self, key: TlsKey, value: usize) -> bool;
    /// The calling thread's value for `key` (0 if unset or unknown).
    fn tls_get(&self, key: TlsKey) -> usize;
    /// Wall-clock time in nanoseconds since the Unix epoch.
    fn time_ns(&self) -> u64;
    fn timer_alloc(&self, callback: TimerCallback) -> Option<Box<dyn HostTimer>>;
    /// The calling thread's host id (our pid).
    fn gettid(&self) -> i32;
}

/// The registered [`Host`]: a thin pointer to the caller's `&'static dyn Host`,
/// read without a lock, since LKL calls host operations several times in
/// every forwarded syscall. Deliberately not a leaked `Box`: LLVM's GlobalOpt
/// turns a once-stored heap allocation into a global plus an `i1` "init" flag
/// and then cannot select that flag's atomic load on i686 ("Cannot select:
/// AtomicLoad ... HOST.0.init"), which broke every kernel build with more than
/// one codegen unit.
static HOST: AtomicPtr<&'static dyn Host> = AtomicPtr::new(core::ptr::null_mut());

/// Registers the implementation of the host operations (at boot; a later
/// call replaces it). `host` is a static holding the trait object.
pub fn set_host(host: &'static &'static dyn Host) {
    HOST.store(core::ptr::from_ref(host).cast_mut(), Ordering::Release);
}

/// The word that holds the running thread's id ([`set_thread_word`]); until
/// then a word that holds 0 (no id), so a read needs no null check.
static THREAD_WORD: AtomicPtr<AtomicU32> = AtomicPtr::new(&NO_THREAD_WORD as *const AtomicU32 as *mut AtomicU32);
static NO_THREAD_WORD: AtomicU32 = AtomicU32::new(0);

/// Registers the word that always holds the running thread's id: the value
/// [`Host::thread_self`] returns in it (0 only in the idle task, which never
/// calls LKL). LKL asks for its thread on every CPU take, switch and lock,
/// and the quick syscall route passes it along: one load instead of a call
/// through [`Host`].
pub fn set_thread_word(word: &'static AtomicU32) {
    THREAD_WORD.store(core::ptr::from_ref(word).cast_mut(), Ordering::Release);
}

/// The running thread's id from the registered word; None before
/// [`set_thread_word`] or in the idle task.
pub(crate) fn registered_thread_self() -> Option<ThreadId> {
    // SAFETY: THREAD_WORD only ever holds a `&'static AtomicU32` (its
    // initial NO_THREAD_WORD, or set_thread_word's).
    let word = unsafe { &*THREAD_WORD.load(Ordering::Acquire) };
    ThreadId::new(word.load(Ordering::Relaxed) as usize)
}

fn host() -> &'static dyn Host {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        crate::report::fatal(format_args!("lkl: host operation called before set_host"));
    }
    // SAFETY: non-null values of HOST come from a `&'static` reference in
    // set_host: valid and never written through.
    unsafe { *host }
}

/// A raw pointer LKL handed us to pass to another thread or a callback.
struct SendPtr(*mut c_void);
// SAFETY: LKL passes `arg` to thread_create/timer_alloc precisely so that
// another thread may use it; LKL synchronises the data behind it.
unsafe impl Send for SendPtr {}
// SAFETY: as above; we only pass the pointer back to LKL's own callback.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// (A method, so closures capture the whole `SendPtr`, not its field.)
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// The thin pointer LKL holds for one of our boxed trait objects.
fn into_handle<T: ?Sized>(value: Box<T>) -> *mut c_void {
    Box::into_raw(Box::new(value)) as *mut c_void
}

/// Borrows the object behind a handle from [`into_handle`].
///
/// # Safety
/// `handle` came from `into_handle::<T>` and was not freed.
unsafe fn handle_ref<'a, T: ?Sized>(handle: *mut c_void) -> &'a T {
    // SAFETY: per the contract, `handle` points at a live `Box<T>`.
    unsafe { &**(handle as *const Box<T>) }
}

/// Frees a handle from [`into_handle`].
///
/// # Safety
/// `handle` came from `into_handle::<T>` and is not used afterwards.
unsafe fn free_handle<T: ?Sized>(handle: *mut c_void) {
    // SAFETY: per the contract, we own the box again.
    drop(unsafe { Box::from_raw(handle as *mut Box<T>) });
}

#[no_mangle]
pub extern "C" fn embox_lkl_print(text: *const c_char, len: c_int) {
    if text.is_null() || len <= 0 {
        return;
    }
    // SAFETY: LKL's print op passes `len` readable bytes at `text`.
    let bytes = unsafe { core::slice::from_raw_parts(text as *const u8, len as usize) };
    host().print(bytes);
}

#[no_mangle]
pub extern "C" fn embox_lkl_panic() {
    host().panic()
}

#[no_mangle]
pub extern "C" fn embox_lkl_sem_alloc(count: c_int) -> *mut c_void {
    match host().sem_alloc(count.max(0) as u32) {
        Some(sem) => into_handle::<dyn HostSem>(sem),
        None => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_sem_free(sem: *mut c_void) {
    if !sem.is_null() {
        // SAFETY: LKL frees a semaphore it got from sem_alloc, once, when no
        // thread uses it any more.
        unsafe { free_handle::<dyn HostSem>(sem) }
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_sem_up(sem: *mut c_void) {
    // SAFETY: LKL passes a semaphore from sem_alloc that it has not freed.
    unsafe { handle_ref::<dyn HostSem>(sem) }.up()
}

#[no_mangle]
pub extern "C" fn embox_lkl_sem_down(sem: *mut c_void) {
    // SAFETY: as for sem_up.
    unsafe { handle_ref::<dyn HostSem>(sem) }.down()
}

#[no_mangle]
pub extern "C" fn embox_lkl_mutex_alloc(recursive: c_int) -> *mut c_void {
    match host().mutex_alloc(recursive != 0) {
        Some(m) => into_handle::<dyn HostMutex>(m),
        None => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_mutex_free(mutex: *mut c_void) {
    if !mutex.is_null() {
        // SAFETY: LKL frees a mutex from mutex_alloc once, unlocked and unused.
        unsafe { free_handle::<dyn HostMutex>(mutex) }
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_mutex_lock(mutex: *mut c_void) {
    // SAFETY: LKL passes a mutex from mutex_alloc that it has not freed.
    unsafe { handle_ref::<dyn HostMutex>(mutex) }.lock()
}

#[no_mangle]
pub extern "C" fn embox_lkl_mutex_unlock(mutex: *mut c_void) {
    // SAFETY: as for mutex_lock.
    unsafe { handle_ref::<dyn HostMutex>(mutex) }.unlock()
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_create(f: extern "C" fn(*mut c_void), arg: *mut c_void) -> c_ulong {
    let arg = SendPtr(arg);
    let body: ThreadBody = Box::new(move || f(arg.get()));
    host().thread_create(body).map_or(0, |t| t.get() as c_ulong)
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_detach() {
    host().thread_detach()
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_exit() {
    host().thread_exit()
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_join(thread: c_ulong) -> c_int {
    match ThreadId::new(thread as usize) {
        Some(t) if host().thread_join(t) => 0,
        _ => -1,
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_self() -> c_ulong {
    registered_thread_self().unwrap_or_else(|| host().thread_self()).get() as c_ulong
}

#[no_mangle]
pub extern "C" fn embox_lkl_thread_equal(a: c_ulong, b: c_ulong) -> c_int {
    (a == b) as c_int
}

#[no_mangle]
pub extern "C" fn embox_lkl_tls_alloc(destructor: Option<extern "C" fn(*mut c_void)>) -> *mut c_void {
    host().tls_alloc(destructor.map(TlsDestructor)).map_or(core::ptr::null_mut(), |k| k.get() as *mut c_void)
}

#[no_mangle]
pub extern "C" fn embox_lkl_tls_free(key: *mut c_void) {
    if let Some(key) = TlsKey::new(key as usize) {
        host().tls_free(key)
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_tls_set(key: *mut c_void, data: *mut c_void) -> c_int {
    match TlsKey::new(key as usize) {
        Some(key) if host().tls_set(key, data as usize) => 0,
        _ => -1,
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_tls_get(key: *mut c_void) -> *mut c_void {
    TlsKey::new(key as usize).map_or(core::ptr::null_mut(), |key| host().tls_get(key) as *mut c_void)
}

/// Bytes before every `mem_alloc` block, holding its size (keeps 16-byte alignment).
const MEM_HEADER: usize = 16;

#[no_mangle]
pub extern "C" fn embox_lkl_mem_alloc(size: c_ulong) -> *mut c_void {
    let Ok(layout) = core::alloc::Layout::from_size_align(size as usize + MEM_HEADER, MEM_HEADER) else {
        return core::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let block = unsafe { alloc::alloc::alloc(layout) };
    if block.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: the block is at least MEM_HEADER bytes, 16-aligned.
    unsafe { (block as *mut usize).write(size as usize) };
    // SAFETY: still inside the block.
    unsafe { block.add(MEM_HEADER) as *mut c_void }
}

#[no_mangle]
pub extern "C" fn embox_lkl_mem_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: LKL frees a pointer mem_alloc returned, once, so the header
    // written there is still in front of it.
    unsafe {
        let block = (ptr as *mut u8).sub(MEM_HEADER);
        let size = (block as *const usize).read();
        alloc::alloc::dealloc(block, core::alloc::Layout::from_size_align_unchecked(size + MEM_HEADER, MEM_HEADER));
    }
}

/// LKL's "physical" memory and other page-sized blocks: physically
/// contiguous frames, addressed through the kernel's physical map.
#[no_mangle]
pub extern "C" fn embox_lkl_page_alloc(size: c_ulong) -> *mut c_void {
    let frames = (size as usize).div_ceil(crate::layout::PAGE_SIZE);
    match crate::memory::alloc_contiguous_frames(frames) {
        Some(phys) => {
            let virt = crate::layout::phys_to_virt(phys);
            // LKL's memory: where its virtqueues may point.
            crate::virtio_mmio::add_guest_memory(virt, frames * crate::layout::PAGE_SIZE);
            virt as *mut c_void
        }
        None => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_page_free(addr: *mut c_void, size: c_ulong) {
    if addr.is_null() {
        return;
    }
    let frames = (size as usize).div_ceil(crate::layout::PAGE_SIZE);
    crate::virtio_mmio::remove_guest_memory(addr as usize);
    crate::memory::free_contiguous_frames(crate::layout::virt_to_phys(addr as usize), frames);
}

#[no_mangle]
pub extern "C" fn embox_lkl_time() -> u64 {
    host().time_ns()
}

#[no_mangle]
pub extern "C" fn embox_lkl_timer_alloc(f: extern "C" fn(*mut c_void), arg: *mut c_void) -> *mut c_void {
    let arg = SendPtr(arg);
    let callback: TimerCallback = Box::new(move || f(arg.get()));
    match host().timer_alloc(callback) {
        Some(t) => into_handle::<dyn HostTimer>(t),
        None => core::ptr::null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn embox_lkl_timer_set_oneshot(timer: *mut c_void, delay_ns: c_ulong) -> c_int {
    // SAFETY: LKL passes a timer from timer_alloc that it has not freed.
    unsafe { handle_ref::<dyn HostTimer>(timer) }.set_oneshot(delay_ns as u64);
    0
}

#[no_mangle]
pub extern "C" fn embox_lkl_timer_free(timer: *mut c_void) {
    if !timer.is_null() {
        // SAFETY: LKL frees a timer from timer_alloc once.
        unsafe { free_handle::<dyn HostTimer>(timer) }
    }
}

/// LKL's MMIO: the virtio-mmio devices of [`crate::virtio_mmio`] (its
/// addresses are tokens, never mapped).
#[no_mangle]
pub extern "C" fn embox_lkl_ioremap(addr: c_long, size: c_int) -> *mut c_void {
    crate::virtio_mmio::ioremap(addr as usize, size.max(0) as usize).map_or(core::ptr::null_mut(), |a| a as *mut c_void)
}

#[no_mangle]
pub extern "C" fn embox_lkl_iomem_access(addr: *const c_void, val: *mut c_void, size: c_int, write: c_int) -> c_int {
    let len = match size {
        1 | 2 | 4 | 8 if !val.is_null() => size as usize,
        _ => return -1,
    };
    let mut bytes = [0u8; 8];
    if write != 0 {
        // SAFETY: LKL's readX/writeX pass a `size`-byte value at `val`.
        unsafe { core::ptr::copy_nonoverlapping(val as *const u8, bytes.as_mut_ptr(), len) };
    }
    if !crate::virtio_mmio::access(addr as usize, &mut bytes[..len], write != 0) {
        return -1;
    }
    if write == 0 {
        // SAFETY: as above, `val` has room for `size` bytes.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, len) };
    }
    0
}

#[no_mangle]
pub extern "C" fn embox_lkl_gettid() -> c_long {
    host().gettid() as c_long
}

#[no_mangle]
pub extern "C" fn embox_lkl_memcpy(dest: *mut c_void, src: *const c_void, count: c_ulong) -> *mut c_void {
    // SAFETY: LKL's memcpy contract: `count` bytes readable at `src` and
    // writable at `dest`, not overlapping.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dest as *mut u8, count as usize) };
    dest
}
