//! LKL (the Linux kernel as a library): the FFI boundary.
//!
//! LKL calls its host through `struct lkl_host_operations`, a table of C
//! function pointers. The table itself is C (`kernel/kernel/lkl/host_ops.c`,
//! compiled by `kernel/build.rs` against the LKL tree's own installed header,
//! so the layout is never hand-copied); every entry points at an
//! `extern "C" fn embox_lkl_*` in [`host`]. Those turn LKL's raw pointers into
//! typed handles and call the [`Host`] that `embox-os` registers with
//! [`set_host`], where all the logic lives (threads on the scheduler,
//! semaphores, TLS, timers). Memory (`mem_alloc`, `page_alloc`) is served here
//! from the heap and the frame allocator.
//!
//! [`client`] calls the same `extern "C"` entry points the way LKL does; the
//! `lklhosttest` shell command drives it, so the host operations are tested in
//! every build, with or without an LKL tree. [`kernel`] (feature `lkl`) starts
//! LKL and runs its syscalls.

pub mod client;
mod host;
mod jmp;
#[cfg(feature = "lkl")]
pub mod kernel;

pub use host::{set_host, set_thread_word, Host, HostMutex, HostSem, HostTimer, ThreadBody, ThreadId, TimerCallback, TlsDestructor, TlsKey};
pub use jmp::JmpBuf;

/// One argument of an LKL syscall. Pointers are only ever kernel buffers
/// borrowed for the call: a user address must never reach LKL (it runs in
/// ring 0 and would write wherever it points).
pub enum Arg<'a> {
    /// A plain number: fd, flags, length, mode.
    Int(isize),
    /// A buffer LKL reads.
    In(&'a [u8]),
    /// A buffer LKL writes.
    Out(&'a mut [u8]),
    /// A NUL-terminated string (a path, a name).
    Str(&'a core::ffi::CStr),
    /// A NULL pointer.
    Null,
}

impl Arg<'_> {
    /// The value LKL receives as a `long`.
    #[cfg_attr(not(feature = "lkl"), allow(dead_code))]
    fn as_long(&mut self) -> isize {
        match self {
            Arg::Int(v) => *v,
            Arg::In(b) => b.as_ptr() as isize,
            Arg::Out(b) => b.as_mut_ptr() as isize,
            Arg::Str(s) => s.as_ptr() as isize,
            Arg::Null => 0,
        }
    }
}
