//! Thread-local storage: set_thread_area and get_thread_area. A program
//! gets the three GDT TLS entries 6..=8 (selectors 0x33, 0x3b, 0x43), as on
//! Linux; the task's context reinstalls them on every switch to it.

use embox_abi::errno::SysResult;
use embox_abi::types::UserDesc;
use embox_abi::Errno;
use embox_hal::gdt::{descriptor, TLS_ENTRIES, TLS_FIRST_ENTRY};

use super::user::UserPtr;
use crate::linux::env;
use crate::linux::process::Process;

/// Linux's `LDT_zero`: all zero but the entry number, also read as "clear".
fn is_zero(d: &UserDesc) -> bool {
    d.base_addr == 0 && d.limit == 0 && d.flags & 0x7f == 0
}

/// Linux's `tls_desc_okay`: only present 32-bit data segments (or a clear)
/// may go into the GDT, so no TLS selector a program loads can make a
/// segment reload fault in the kernel.
fn acceptable(d: &UserDesc) -> bool {
    d.is_empty() || is_zero(d) || (d.seg_32bit() && d.contents() <= 1 && !d.seg_not_present())
}

/// The GDT descriptor Linux's `fill_ldt` builds from a `user_desc`.
fn to_descriptor(d: &UserDesc) -> u64 {
    if d.is_empty() || is_zero(d) {
        return 0;
    }
    let present = if d.seg_not_present() { 0 } else { 0x80 };
    let kind = (d.contents() << 2) as u8 | if d.read_exec_only() { 0 } else { 2 };
    let access = present | 0x60 /* DPL 3 */ | 0x10 /* code/data */ | kind;
    let flags = u8::from(d.useable()) | (u8::from(d.seg_32bit()) << 2) | (u8::from(d.limit_in_pages()) << 3);
    descriptor(d.base_addr, d.limit, access, flags)
}

/// The TLS entry `clone(CLONE_SETTLS)` installs for the new thread from
/// the `user_desc` at `at`: (slot, GDT descriptor, the entry as
/// get_thread_area gives it back). The entry must be named (Linux refuses
/// -1 here: EINVAL).
pub fn entry_for_clone(p: &mut Process, at: UserPtr<UserDesc>) -> Result<(usize, u64, Option<UserDesc>), Errno> {
    let desc = at.read(&mut p.memory)?;
    let entry = desc.entry_number as usize;
    if !acceptable(&desc) || !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&entry) {
        return Err(Errno::EINVAL);
    }
    let kept = if desc.is_empty() || is_zero(&desc) { None } else { Some(desc) };
    Ok((entry - TLS_FIRST_ENTRY, to_descriptor(&desc), kept))
}

/// set_thread_area(u_info): entry_number -1 picks a free entry and writes it back.
pub fn set_thread_area(p: &mut Process, ptr: UserPtr<UserDesc>) -> SysResult {
    let mut desc = ptr.read(&mut p.memory)?;
    if !acceptable(&desc) {
        return Err(Errno::EINVAL);
    }
    let slot = if desc.entry_number == u32::MAX {
        let free = p.tls.iter().position(Option::is_none).ok_or(Errno::ESRCH)?;
        desc.entry_number = (TLS_FIRST_ENTRY + free) as u32;
        ptr.write(&mut p.memory, &desc)?;
        free
    } else {
        let entry = desc.entry_number as usize;
        if !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&entry) {
            return Err(Errno::EINVAL);
        }
        entry - TLS_FIRST_ENTRY
    };
    env::set_tls_descriptor(slot, to_descriptor(&desc));
    p.tls[slot] = if desc.is_empty() || is_zero(&desc) { None } else { Some(desc) };
    Ok(0)
}

/// get_thread_area(u_info): the `user_desc` last set for that entry.
pub fn get_thread_area(p: &mut Process, ptr: UserPtr<UserDesc>) -> SysResult {
    let asked = ptr.read(&mut p.memory)?.entry_number as usize;
    if !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&asked) {
        return Err(Errno::EINVAL);
    }
    let desc = p.tls[asked - TLS_FIRST_ENTRY].unwrap_or(UserDesc {
        entry_number: asked as u32,
        flags: 8 | 32, // read_exec_only | seg_not_present: an empty entry
        ..UserDesc::default()
    });
    ptr.write(&mut p.memory, &desc)?;
    Ok(0)
}
