//! Thread-local storage: set_thread_area and get_thread_area. A program
//! gets the three GDT TLS entries 6..=8 (selectors 0x33, 0x3b, 0x43), as on
//! Linux; the task's context reinstalls them on every switch to it.

use embox_abi::errno::SysResult;
use embox_abi::types::UserDesc;
use embox_abi::Errno;
use embox_hal::gdt::{TlsDescriptor, TlsSegment, TLS_ENTRIES, TLS_FIRST_ENTRY};

use super::user::UserPtr;
use crate::linux::env;
use crate::linux::process::Process;

/// Linux's `LDT_zero`: all zero but the entry number, also read as "clear".
fn is_zero(d: &UserDesc) -> bool {
    d.base_addr == 0 && d.limit == 0 && d.flags & 0x7f == 0
}

/// The GDT descriptor for a `user_desc`: a clear gives an empty slot; the
/// hal's [`TlsDescriptor::new`] refuses what Linux's `tls_desc_okay` does
/// (EINVAL), so no TLS selector a program loads can make a segment reload
/// fault in the kernel.
fn to_descriptor(d: &UserDesc) -> Result<TlsDescriptor, Errno> {
    if d.is_empty() || is_zero(d) {
        return Ok(TlsDescriptor::EMPTY);
    }
    let segment = TlsSegment {
        base: d.base_addr,
        limit: d.limit,
        seg_32bit: d.seg_32bit(),
        contents: d.contents(),
        read_exec_only: d.read_exec_only(),
        limit_in_pages: d.limit_in_pages(),
        seg_not_present: d.seg_not_present(),
        useable: d.useable(),
    };
    TlsDescriptor::new(&segment).ok_or(Errno::EINVAL)
}

/// The TLS entry `clone(CLONE_SETTLS)` installs for the new thread from
/// the `user_desc` at `at`: (slot, GDT descriptor, the entry as
/// get_thread_area gives it back). The entry must be named (Linux refuses
/// -1 here: EINVAL).
pub fn entry_for_clone(p: &mut Process, at: UserPtr<UserDesc>) -> Result<(usize, TlsDescriptor, Option<UserDesc>), Errno> {
    let desc = at.read(&mut p.memory)?;
    let entry = desc.entry_number as usize;
    let descriptor = to_descriptor(&desc)?;
    if !(TLS_FIRST_ENTRY..TLS_FIRST_ENTRY + TLS_ENTRIES).contains(&entry) {
        return Err(Errno::EINVAL);
    }
    let kept = if descriptor.is_empty() { None } else { Some(desc) };
    Ok((entry - TLS_FIRST_ENTRY, descriptor, kept))
}

/// set_thread_area(u_info): entry_number -1 picks a free entry and writes it back.
pub fn set_thread_area(p: &mut Process, ptr: UserPtr<UserDesc>) -> SysResult {
    let mut desc = ptr.read(&mut p.memory)?;
    let descriptor = to_descriptor(&desc)?;
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
    env::set_tls_descriptor(slot, descriptor);
    p.tls[slot] = if descriptor.is_empty() { None } else { Some(desc) };
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
