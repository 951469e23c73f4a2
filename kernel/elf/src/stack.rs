//! The Linux initial process stack, built as a byte image the kernel copies
//! to the top of the new user stack.
//!
//! From `sp` upwards (as in Linux's `create_elf_tables`):
//! `argc`, `argv[0..argc]`, NULL, `envp[..]`, NULL, auxv pairs ending in
//! `AT_NULL`, padding, then the data they point at: `AT_RANDOM`'s 16 bytes,
//! the platform string, argument and environment strings, the executable
//! name (`AT_EXECFN`) and a final NULL word at the very top. `sp` is 16-byte
//! aligned, which is what i386 `_start` code and `-emain` programs assume.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use embox_abi::consts::auxv::*;

use crate::plan::{LoadPlan, PAGE_SIZE};

/// Process facts that go into the auxiliary vector.
#[derive(Clone, Debug)]
pub struct StackInfo<'a> {
    pub args: &'a [&'a [u8]],
    pub env: &'a [&'a [u8]],
    /// The path the program was started as (`AT_EXECFN`).
    pub execfn: &'a [u8],
    /// `AT_PLATFORM`, "i686" on our CPUs.
    pub platform: &'a [u8],
    /// 16 bytes for `AT_RANDOM` (glibc seeds its stack protector and pointer guard with them).
    pub random: [u8; 16],
    /// CPUID.1:EDX, as Linux reports in `AT_HWCAP`.
    pub hwcap: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub secure: bool,
    /// Clock ticks per second (`AT_CLKTCK`, used by `times`/`sysconf`).
    pub clktck: u32,
    /// Where the interpreter (ld-linux.so.2) was loaded (`AT_BASE`); 0 without one.
    pub interp_base: u32,
}

impl<'a> StackInfo<'a> {
    /// The facts of a program started by our kernel: every process runs as
    /// root (uid/gid 0, not secure-exec) on an i686 CPU with a 100 Hz
    /// `times` clock, as Linux i386 reports them.
    pub fn root(args: &'a [&'a [u8]], env: &'a [&'a [u8]], execfn: &'a [u8], random: [u8; 16], hwcap: u32) -> Self {
        StackInfo {
            args,
            env,
            execfn,
            platform: b"i686",
            random,
            hwcap,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            secure: false,
            clktck: 100,
            interp_base: 0,
        }
    }
}

/// The bytes of `[sp, top)`.
#[derive(Clone, Debug)]
pub struct StackImage {
    pub sp: u32,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackError {
    /// Arguments and environment need more than the stack can hold (E2BIG).
    TooBig { needed: usize, limit: usize },
    /// A string contains a NUL byte and cannot be a C string.
    InteriorNul,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::TooBig { needed, limit } => {
                write!(f, "arguments and environment need {needed} bytes of stack, at most {limit} allowed")
            }
            StackError::InteriorNul => write!(f, "an argument contains a NUL byte"),
        }
    }
}

/// A write cursor over the image; addresses are user addresses.
struct Image {
    base: u32,
    bytes: Vec<u8>,
}

impl Image {
    fn put_bytes(&mut self, addr: u32, data: &[u8]) {
        let at = (addr - self.base) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }
    fn put_word(&mut self, addr: u32, word: u32) {
        self.put_bytes(addr, &word.to_le_bytes());
    }
}

/// Builds the initial stack for `plan` below `top`, using at most `limit` bytes.
pub fn build_stack(top: u32, limit: usize, plan: &LoadPlan, info: &StackInfo<'_>) -> Result<StackImage, StackError> {
    let strings = info.args.iter().chain(info.env.iter()).chain([&info.execfn, &info.platform]);
    let mut string_bytes = 0usize;
    for s in strings {
        if s.contains(&0) {
            return Err(StackError::InteriorNul);
        }
        string_bytes += s.len() + 1;
    }
    let auxv = auxv_entries(plan, info);
    // argc + argv + NULL + envp + NULL + auxv pairs (AT_NULL included).
    let vector_words = 1 + info.args.len() + 1 + info.env.len() + 1 + 2 * (auxv.len() + 1);
    // Strings, the random bytes, the NULL end marker, up to 15 bytes of alignment.
    let needed = string_bytes + 16 + 4 + vector_words * 4 + 15;
    if needed > limit {
        return Err(StackError::TooBig { needed, limit });
    }

    let info_start = top - (string_bytes + 16 + 4) as u32;
    let sp = (info_start - (vector_words * 4) as u32) & !15;
    let mut image = Image { base: sp, bytes: vec![0; (top - sp) as usize] };

    // Data area, bottom up: random, platform, argv strings, env strings, execfn, NULL.
    let random_addr = info_start;
    image.put_bytes(random_addr, &info.random);
    let mut cursor = random_addr + 16;
    let mut place = |image: &mut Image, s: &[u8]| {
        let addr = cursor;
        image.put_bytes(addr, s);
        cursor += s.len() as u32 + 1; // the NUL is already there: the image starts zeroed
        addr
    };
    let platform_addr = place(&mut image, info.platform);
    let arg_addrs: Vec<u32> = info.args.iter().map(|a| place(&mut image, a)).collect();
    let env_addrs: Vec<u32> = info.env.iter().map(|e| place(&mut image, e)).collect();
    let execfn_addr = place(&mut image, info.execfn);
    debug_assert_eq!(cursor + 4, top);

    // Vectors, from sp upwards.
    let mut at = sp;
    let mut push = |image: &mut Image, word: u32| {
        image.put_word(at, word);
        at += 4;
    };
    push(&mut image, info.args.len() as u32);
    arg_addrs.iter().for_each(|&a| push(&mut image, a));
    push(&mut image, 0);
    env_addrs.iter().for_each(|&e| push(&mut image, e));
    push(&mut image, 0);
    for (key, value) in auxv {
        let value = match key {
            AT_RANDOM => random_addr,
            AT_PLATFORM => platform_addr,
            AT_EXECFN => execfn_addr,
            _ => value,
        };
        push(&mut image, key);
        push(&mut image, value);
    }
    push(&mut image, AT_NULL);
    push(&mut image, 0);
    Ok(StackImage { sp, bytes: image.bytes })
}

/// The auxiliary vector; pointer-valued entries are filled in by the caller.
fn auxv_entries(plan: &LoadPlan, info: &StackInfo<'_>) -> [(u32, u32); 17] {
    [
        (AT_HWCAP, info.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, info.clktck),
        (AT_PHDR, plan.phdr),
        (AT_PHENT, plan.phent),
        (AT_PHNUM, plan.phnum),
        // Static programs have no interpreter: Linux reports base 0.
        (AT_BASE, info.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, plan.entry),
        (AT_UID, info.uid),
        (AT_EUID, info.euid),
        (AT_GID, info.gid),
        (AT_EGID, info.egid),
        (AT_SECURE, u32::from(info.secure)),
        (AT_RANDOM, 0),
        (AT_EXECFN, 0),
        (AT_PLATFORM, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{static_exec, LIMITS};

    fn word(img: &StackImage, addr: u32) -> u32 {
        let at = (addr - img.sp) as usize;
        u32::from_le_bytes(img.bytes[at..at + 4].try_into().unwrap())
    }

    fn cstr(img: &StackImage, addr: u32) -> &[u8] {
        let at = (addr - img.sp) as usize;
        let len = img.bytes[at..].iter().position(|&b| b == 0).unwrap();
        &img.bytes[at..at + len]
    }

    fn info<'a>(args: &'a [&'a [u8]], env: &'a [&'a [u8]]) -> StackInfo<'a> {
        StackInfo::root(args, env, b"/bin/linux_echo", [7; 16], 0x0789_fbff)
    }

    #[test]
    fn linux_layout_from_sp() {
        let plan = crate::plan(&static_exec(), &LIMITS).unwrap();
        let args: [&[u8]; 2] = [b"linux_echo", b"Hello, World!"];
        let env: [&[u8]; 1] = [b"PATH=/bin"];
        let top = 0xBFFF_F000;
        let img = build_stack(top, 128 * 1024, &plan, &info(&args, &env)).unwrap();
        assert_eq!(img.sp % 16, 0);
        assert_eq!(img.sp as usize + img.bytes.len(), top as usize);
        assert_eq!(word(&img, img.sp), 2, "argc");
        assert_eq!(cstr(&img, word(&img, img.sp + 4)), b"linux_echo");
        assert_eq!(cstr(&img, word(&img, img.sp + 8)), b"Hello, World!");
        assert_eq!(word(&img, img.sp + 12), 0);
        assert_eq!(cstr(&img, word(&img, img.sp + 16)), b"PATH=/bin");
        assert_eq!(word(&img, img.sp + 20), 0);
        let mut auxv = std::collections::BTreeMap::new();
        let mut at = img.sp + 24;
        loop {
            let (k, v) = (word(&img, at), word(&img, at + 4));
            at += 8;
            if k == AT_NULL {
                break;
            }
            auxv.insert(k, v);
        }
        assert_eq!(auxv[&AT_PAGESZ], 4096);
        assert_eq!(auxv[&AT_ENTRY], plan.entry);
        assert_eq!(auxv[&AT_PHDR], plan.phdr);
        assert_eq!(auxv[&AT_PHNUM], 2);
        assert_eq!(auxv[&AT_PHENT], 32);
        assert_eq!(auxv[&AT_BASE], 0);
        assert_eq!(auxv[&AT_HWCAP], 0x0789_fbff);
        assert_eq!(auxv[&AT_SECURE], 0);
        assert_eq!(cstr(&img, auxv[&AT_PLATFORM]), b"i686");
        assert_eq!(cstr(&img, auxv[&AT_EXECFN]), b"/bin/linux_echo");
        let r = (auxv[&AT_RANDOM] - img.sp) as usize;
        assert_eq!(&img.bytes[r..r + 16], &[7; 16]);
        assert_eq!(word(&img, top - 4), 0, "NULL word at the top");
        for key in [AT_UID, AT_EUID, AT_GID, AT_EGID, AT_CLKTCK, AT_FLAGS] {
            assert!(auxv.contains_key(&key), "auxv has {key}");
        }
    }

    #[test]
    fn a_dynamic_program_gets_its_interpreter_base() {
        let plan = crate::plan(&static_exec(), &LIMITS).unwrap();
        let args: [&[u8]; 1] = [b"prog"];
        let info = StackInfo { interp_base: 0xb7f0_0000, ..info(&args, &[]) };
        let img = build_stack(0xBFFF_F000, 128 * 1024, &plan, &info).unwrap();
        let mut at = img.sp + 16; // argc, argv[0], NULL, (no env) NULL
        let mut found = None;
        while word(&img, at) != AT_NULL {
            if word(&img, at) == AT_BASE {
                found = Some(word(&img, at + 4));
            }
            at += 8;
        }
        assert_eq!(found, Some(0xb7f0_0000));
    }

    #[test]
    fn too_much_for_the_stack_is_e2big() {
        let plan = crate::plan(&static_exec(), &LIMITS).unwrap();
        let big = vec![b'x'; 10_000];
        let args: [&[u8]; 1] = [&big];
        let err = build_stack(0xBFFF_F000, 4096, &plan, &info(&args, &[])).unwrap_err();
        assert!(matches!(err, StackError::TooBig { limit: 4096, .. }));
        let args: [&[u8]; 1] = [b"a\0b"];
        assert_eq!(build_stack(0xBFFF_F000, 4096, &plan, &info(&args, &[])).unwrap_err(), StackError::InteriorNul);
    }
}
