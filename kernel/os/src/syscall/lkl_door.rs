//! The syscall layer's one door to LKL: whether it is up, and the call
//! itself (lklhost's `os::lkl`, see /work/team/lkl-interface.md). Without
//! the `lkl` feature LKL is never up and every process is served natively.

pub use crate::lkl::{is_up, may_sleep, syscall, syscall_ints, syscall_quick, syscall_steady, Arg};
