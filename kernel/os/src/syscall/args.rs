//! Typed syscall arguments (Maestro's `Args<(...)>` is the model): a handler
//! names what each register means in its signature, e.g.
//! `fn read(p: &mut Process, fd: Fd, buf: UserSlice) -> SysResult`, and the
//! table's [`sys!`](super::sys) decodes the six registers into those types
//! once, through [`Arg`]. Handlers never index the raw registers.
//!
//! An argument may take more than one register: a [`UserSlice`] is a
//! pointer and the length that follows it, a 64-bit offset is two
//! registers (low word first, [`Off64`]; high word first, [`Off64Hi`]).

use embox_abi::errno::SysResult;
use embox_abi::types::UserPod;

use super::user::{UserPtr, UserSlice, UserString};
use super::Args;
use crate::linux::process::Process;

/// One argument decoded from `REGS` consecutive registers.
pub trait Arg: Sized {
    /// How many registers it takes.
    const REGS: usize = 1;
    /// Decodes it from `regs[at..at + REGS]`.
    fn decode(regs: &Args, at: usize) -> Self;
}

impl Arg for u32 {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        regs[at]
    }
}

/// A signed int argument (`int`, `pid_t`, a timeout in ms): the register
/// reinterpreted.
impl Arg for i32 {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        regs[at] as i32
    }
}

/// A `size_t` or `unsigned long`.
impl Arg for usize {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        regs[at] as usize
    }
}

/// A file descriptor argument. Negative ones are huge here and fail the
/// table lookup (EBADF), as on Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd(pub u32);

impl Fd {
    /// `AT_FDCWD`: paths relative to the working directory.
    pub const CWD: Fd = Fd(embox_abi::consts::at::AT_FDCWD as u32);
}

impl Arg for Fd {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        Fd(regs[at])
    }
}

impl<T: UserPod> Arg for UserPtr<T> {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        UserPtr::new(regs[at])
    }
}

impl Arg for UserString {
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        UserString(regs[at])
    }
}

/// A buffer: its address, then its length in the next register.
impl Arg for UserSlice {
    const REGS: usize = 2;
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        UserSlice::new(regs[at], regs[at + 1])
    }
}

/// A 64-bit value in two registers, low word first (pread64's offset,
/// truncate64's length).
#[derive(Clone, Copy, Debug)]
pub struct Off64(pub u64);

impl Arg for Off64 {
    const REGS: usize = 2;
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        Off64((regs[at + 1] as u64) << 32 | regs[at] as u64)
    }
}

/// A 64-bit value in two registers, high word first (_llseek,
/// fadvise64_64's halves are low first: see [`Off64`]).
#[derive(Clone, Copy, Debug)]
pub struct Off64Hi(pub u64);

impl Arg for Off64Hi {
    const REGS: usize = 2;
    #[inline(always)]
    fn decode(regs: &Args, at: usize) -> Self {
        Off64Hi((regs[at] as u64) << 32 | regs[at + 1] as u64)
    }
}

/// A handler with typed arguments; `M` is the tuple of their types (it
/// only tells the impls apart). [`sys!`](super::sys) turns one into the
/// table's [`Handler`](super::Handler).
pub trait SyscallFn<M> {
    fn call(self, p: &mut Process, regs: &Args) -> SysResult;
}

macro_rules! impl_syscall_fn {
    ($($t:ident),*) => {
        impl<F, $($t: Arg),*> SyscallFn<($($t,)*)> for F
        where
            F: Fn(&mut Process, $($t),*) -> SysResult,
        {
            #[inline(always)]
            #[allow(non_snake_case, unused_assignments, unused_mut, unused_variables)]
            fn call(self, p: &mut Process, regs: &Args) -> SysResult {
                // The arguments fit in the six registers (checked when the
                // table is compiled, so no decode can index past them).
                const { assert!(0 $(+ $t::REGS)* <= 6, "a syscall's arguments take more than six registers") };
                let mut at = 0;
                $(
                    let $t = $t::decode(regs, at);
                    at += $t::REGS;
                )*
                self(p, $($t),*)
            }
        }
    };
}

impl_syscall_fn!();
impl_syscall_fn!(A);
impl_syscall_fn!(A, B);
impl_syscall_fn!(A, B, C);
impl_syscall_fn!(A, B, C, D);
impl_syscall_fn!(A, B, C, D, E);
impl_syscall_fn!(A, B, C, D, E, G);
