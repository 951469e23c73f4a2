//! Files through LKL, for the kernel's own use: `load_app` reads programs
//! from LKL's root when LKL is up, so it finds them the same way a forwarded
//! `open` does (the initramfs content is copied there at boot, and files
//! programs create in LKL are found too).

use super::{syscall, Arg};
use alloc::ffi::CString;
use alloc::vec::Vec;
use embox_abi::Errno;

// LKL's asm-generic numbers and flags.
pub(super) const NR_OPENAT: u32 = 56;
pub(super) const NR_CLOSE: u32 = 57;
pub(super) const NR_READ: u32 = 63;
pub(super) const AT_FDCWD: isize = -100;
const O_RDONLY: isize = 0;
const O_CLOEXEC: isize = 0o2000000;
/// Largest program `read_file` loads.
const MAX_FILE: usize = 64 << 20;

fn check(ret: Result<isize, Errno>) -> Result<isize, i32> {
    match ret {
        Ok(v) if v < 0 => Err(-v as i32),
        Ok(v) => Ok(v),
        Err(e) => Err(e as i32),
    }
}

/// An fd in the calling task's LKL host task, closed on drop.
struct Fd(isize);

impl Fd {
    fn open(path: &str) -> Result<Self, i32> {
        let path = CString::new(path).map_err(|_| Errno::EINVAL as i32)?;
        check(syscall(NR_OPENAT, &mut [Arg::Int(AT_FDCWD), Arg::Str(&path), Arg::Int(O_RDONLY | O_CLOEXEC)])).map(Fd)
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        let len = buf.len() as isize;
        check(syscall(NR_READ, &mut [Arg::Int(self.0), Arg::Out(buf), Arg::Int(len)])).map(|n| n as usize)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = syscall(NR_CLOSE, &mut [Arg::Int(self.0)]);
    }
}

/// The whole content of the regular file `path` in LKL's file system
/// (`Err(errno)`: e.g. ENOENT, EISDIR, EFBIG past 64 MiB, ENOSYS without LKL).
pub fn read_file(path: &str) -> Result<Vec<u8>, i32> {
    let fd = Fd::open(path)?;
    let mut data = Vec::new();
    let mut chunk = alloc::vec![0u8; 64 * 1024];
    loop {
        let n = fd.read(&mut chunk)?;
        if n == 0 {
            return Ok(data);
        }
        if data.len() + n > MAX_FILE {
            return Err(Errno::EFBIG as i32);
        }
        data.try_reserve(n).map_err(|_| Errno::ENOMEM as i32)?;
        data.extend_from_slice(&chunk[..n]);
    }
}

/// True if `path` is a readable regular file (not a directory) in LKL.
pub fn is_file(path: &str) -> bool {
    match Fd::open(path) {
        Ok(fd) => fd.read(&mut [0u8; 1]).is_ok(),
        Err(_) => false,
    }
}
