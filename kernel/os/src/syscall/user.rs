//! Typed syscall arguments that point into user memory. The kernel never
//! makes a Rust reference to user memory: these copy through the process's
//! page tables ([`ProcessMemory::read`]/[`write`](ProcessMemory::write)),
//! which check every byte against the user half and the page rights, so a
//! bad pointer is `EFAULT`, never a kernel fault.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use embox_abi::types::UserPod;
use embox_abi::Errno;

use crate::linux::memory::ProcessMemory;

/// Longest path a syscall accepts (PATH_MAX).
pub const PATH_MAX: usize = 4096;

/// A pointer to one `T` in user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserPtr<T> {
    pub addr: u32,
    _t: PhantomData<T>,
}

impl<T: UserPod> UserPtr<T> {
    pub fn new(addr: u32) -> Self {
        UserPtr { addr, _t: PhantomData }
    }

    pub fn is_null(&self) -> bool {
        self.addr == 0
    }

    /// Element `i` of the array this points to (wrapping: a pointer past
    /// the user half fails the copy with EFAULT).
    pub fn at(&self, i: u32) -> Self {
        UserPtr::new(self.addr.wrapping_add(i.wrapping_mul(core::mem::size_of::<T>() as u32)))
    }

    pub fn read(&self, mem: &mut ProcessMemory) -> Result<T, Errno> {
        let mut value = T::new_zeroed();
        mem.read(self.addr, value.as_mut_bytes())?;
        Ok(value)
    }

    pub fn write(&self, mem: &mut ProcessMemory, value: &T) -> Result<(), Errno> {
        mem.write(self.addr, value.as_bytes())
    }

    /// `read` unless the pointer is NULL (optional in-arguments).
    pub fn read_opt(&self, mem: &mut ProcessMemory) -> Result<Option<T>, Errno> {
        if self.is_null() {
            Ok(None)
        } else {
            self.read(mem).map(Some)
        }
    }

    /// `write` unless the pointer is NULL (optional out-arguments).
    pub fn write_opt(&self, mem: &mut ProcessMemory, value: &T) -> Result<(), Errno> {
        if self.is_null() {
            Ok(())
        } else {
            self.write(mem, value)
        }
    }
}

/// A byte buffer in user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    pub addr: u32,
    pub len: u32,
}

impl UserSlice {
    pub fn new(addr: u32, len: u32) -> Self {
        UserSlice { addr, len }
    }

    /// Copies the whole buffer in.
    pub fn read_all(&self, mem: &mut ProcessMemory) -> Result<Vec<u8>, Errno> {
        let mut out = vec![0u8; self.len as usize];
        mem.read(self.addr, &mut out)?;
        Ok(out)
    }

    /// Copies `data` (at most `len` bytes) to the start of the buffer.
    pub fn write_prefix(&self, mem: &mut ProcessMemory, data: &[u8]) -> Result<(), Errno> {
        debug_assert!(data.len() <= self.len as usize);
        mem.write(self.addr, data)
    }
}

/// A NUL-terminated string in user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserString(pub u32);

impl UserString {
    /// Reads a path: at most PATH_MAX bytes, valid UTF-8 (our VFS names are
    /// strings), not empty.
    pub fn read_path(&self, mem: &mut ProcessMemory) -> Result<String, Errno> {
        let bytes = mem.read_cstr(self.0, PATH_MAX)?;
        if bytes.is_empty() {
            return Err(Errno::ENOENT);
        }
        String::from_utf8(bytes).map_err(|_| Errno::ENOENT)
    }

    /// Like `read_path`, but an empty string is allowed (for `AT_EMPTY_PATH`).
    pub fn read_path_or_empty(&self, mem: &mut ProcessMemory) -> Result<String, Errno> {
        let bytes = mem.read_cstr(self.0, PATH_MAX)?;
        String::from_utf8(bytes).map_err(|_| Errno::ENOENT)
    }
}
