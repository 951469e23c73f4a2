//! Port I/O: the only code that runs `in` and `out`. A driver names each
//! device register once, with its width: a [`Port`] for a fixed ISA port,
//! or a [`Register`] of a device's [`PortBlock`] (a PCI I/O BAR). Making a
//! port or a block is `unsafe` (the maker vouches that the hal drives that
//! device); reading and writing it then is safe. Nothing here is visible
//! outside the hal.
//!
//! Not `nomem`: a port access can make a device read or write memory (a
//! virtio notify reads the rings the code stored just before), so every
//! access is a compiler barrier like any call.

use core::arch::asm;
use core::marker::PhantomData;

/// A register width: 8, 16 or 32 bits.
pub(crate) trait Width: Copy {
    /// # Safety
    /// `port` is a register of a device the hal drives, this wide.
    unsafe fn read_from(port: u16) -> Self;
    /// # Safety
    /// As for [`read_from`](Self::read_from).
    unsafe fn write_to(self, port: u16);
}

/// `Width` for a type moved through register `$reg` (al, ax or eax).
macro_rules! width {
    ($($t:ty => $reg:tt),*) => {$(
        impl Width for $t {
            unsafe fn read_from(port: u16) -> $t {
                let value: $t;
                // SAFETY: the caller's contract: a register of a device the hal drives, this wide.
                unsafe { asm!(concat!("in ", $reg, ", dx"), out($reg) value, in("dx") port, options(nostack, preserves_flags)) }
                value
            }
            unsafe fn write_to(self, port: u16) {
                // SAFETY: as for `read_from`.
                unsafe { asm!(concat!("out dx, ", $reg), in("dx") port, in($reg) self, options(nostack, preserves_flags)) }
            }
        }
    )*};
}

width!(u8 => "al", u16 => "ax", u32 => "eax");

/// One device register in I/O space, `T` wide.
#[derive(Clone, Copy)]
pub(crate) struct Port<T> {
    number: u16,
    _width: PhantomData<T>,
}

impl<T> Port<T> {
    /// The register at port `number`.
    ///
    /// # Safety
    /// `number` is a register of a device the hal drives, `T` wide, and
    /// the hal's code for that device is the only code that uses it.
    pub(crate) const unsafe fn new(number: u16) -> Self {
        Port { number, _width: PhantomData }
    }
}

impl<T: Width> Port<T> {
    pub(crate) fn read(self) -> T {
        // SAFETY: `new`'s contract.
        unsafe { T::read_from(self.number) }
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: `new`'s contract.
        unsafe { value.write_to(self.number) }
    }
}

/// A register's offset in a device's [`PortBlock`], `T` wide.
#[derive(Clone, Copy)]
pub(crate) struct Register<T> {
    offset: u16,
    _width: PhantomData<T>,
}

impl<T> Register<T> {
    pub(crate) const fn at(offset: u16) -> Self {
        Register { offset, _width: PhantomData }
    }
}

/// A device's registers in I/O space: a base port and [`Register`]s at
/// offsets from it.
#[derive(Clone, Copy)]
pub(crate) struct PortBlock {
    base: u16,
}

impl PortBlock {
    /// The block at port `base`.
    ///
    /// # Safety
    /// `base` starts the I/O window of a device the hal drives (as wide as
    /// the registers its driver names), used by that driver only.
    pub(crate) const unsafe fn new(base: u16) -> Self {
        PortBlock { base }
    }

    /// The register `reg` of this block.
    pub(crate) const fn port<T>(self, reg: Register<T>) -> Port<T> {
        // SAFETY: `new`'s contract covers the block's registers.
        unsafe { Port::new(self.base + reg.offset) }
    }

    pub(crate) fn read<T: Width>(self, reg: Register<T>) -> T {
        self.port(reg).read()
    }

    pub(crate) fn write<T: Width>(self, reg: Register<T>, value: T) {
        self.port(reg).write(value)
    }
}
