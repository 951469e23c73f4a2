//! COM1's transmitter, polled: the bytes every console path ends in when
//! nothing better is there ([`crate::serial`]), and the fault reports'
//! output ([`crate::report`]). A leaf: ports only.

use crate::cpu::{inb, outb};

pub(crate) const COM1: u16 = 0x3f8;
pub(crate) const LSR: u16 = COM1 + 5;
const LSR_THR_EMPTY: u8 = 0x20;

fn put_byte(b: u8) {
    while inb(LSR) & LSR_THR_EMPTY == 0 {
        core::hint::spin_loop();
    }
    outb(COM1, b);
}

/// Writes `bytes`, turning `\n` into `\r\n`, waiting for the transmitter.
pub(crate) fn write(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            put_byte(b'\r');
        }
        put_byte(b);
    }
}
