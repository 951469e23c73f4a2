//! COM1's transmitter, polled: the bytes every console path ends in when
//! nothing better is there ([`crate::serial`]), and the fault reports'
//! output ([`crate::report`]). A leaf: ports only.

use crate::port::{Port, PortBlock, Register};

// SAFETY: 0x3f8..0x3ff are COM1's registers on the PC; only this module and
// `serial` (the console) drive it.
pub(crate) const COM1: PortBlock = unsafe { PortBlock::new(0x3f8) };
/// Transmit (write) and receive (read) byte.
pub(crate) const DATA: Port<u8> = COM1.port(Register::at(0));
pub(crate) const LSR: Port<u8> = COM1.port(Register::at(5));
const LSR_THR_EMPTY: u8 = 0x20;

fn put_byte(b: u8) {
    while LSR.read() & LSR_THR_EMPTY == 0 {
        core::hint::spin_loop();
    }
    DATA.write(b);
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
