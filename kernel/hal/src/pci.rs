//! PCI configuration space through the legacy mechanism #1 (ports 0xCF8 and
//! 0xCFC), and a scan of bus 0..=255 for functions. The scan gives I/O
//! windows to the I/O BARs the firmware left unassigned (qboot, the fast
//! firmware `embctl run` boots with, leaves that to the OS as Linux does it;
//! SeaBIOS assigns them itself). Drivers (in the hal)
//! find their device here, get its I/O BAR as a port block, read its
//! interrupt line, and turn on I/O decoding and bus mastering (DMA). Outside
//! the hal, [`scan`] only describes the functions: configuration space and
//! BARs are the hal's.

use crate::port::{Port, PortBlock};
use crate::sync::IrqMutex;
use alloc::vec::Vec;

// SAFETY: configuration mechanism #1's address and data ports on the PC;
// only this module uses them, under CONFIG_LOCK.
const CONFIG_ADDRESS: Port<u32> = unsafe { Port::new(0xcf8) };
// SAFETY: as above.
const CONFIG_DATA: Port<u32> = unsafe { Port::new(0xcfc) };

/// Offsets in the configuration header (type 0).
const VENDOR_ID: u8 = 0x00;
const COMMAND: u8 = 0x04;
const CLASS_REV: u8 = 0x08;
const HEADER_TYPE: u8 = 0x0c;
const BAR0: u8 = 0x10;
const INTERRUPT_LINE: u8 = 0x3c;
/// Type 1 (bridge) header: the bus number behind the bridge.
const SECONDARY_BUS: u8 = 0x19;

const COMMAND_IO: u16 = 1 << 0;
const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// Where the scan's I/O windows start: above the PC's legacy ports and the
/// chipset's own blocks (qboot puts PIIX4's power management at 0x600 and
/// SMBus at 0x700), where SeaBIOS starts too.
const IO_WINDOWS_START: u32 = 0xc000;
/// The end of the 16-bit I/O space.
const IO_SPACE_END: u32 = 0x1_0000;

/// Serialises the two-port address/data sequence.
static CONFIG_LOCK: IrqMutex<()> = IrqMutex::new(());

/// One PCI function: bus, device (slot) and function number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl Address {
    fn config_address(self, offset: u8) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1f) << 11
            | u32::from(self.function & 7) << 8
            | u32::from(offset & 0xfc)
    }

    /// Reads the aligned configuration dword at `offset`.
    pub(crate) fn read32(self, offset: u8) -> u32 {
        let _guard = CONFIG_LOCK.lock();
        CONFIG_ADDRESS.write(self.config_address(offset));
        CONFIG_DATA.read()
    }

    /// Writes the aligned configuration dword at `offset`.
    pub(crate) fn write32(self, offset: u8, value: u32) {
        let _guard = CONFIG_LOCK.lock();
        CONFIG_ADDRESS.write(self.config_address(offset));
        CONFIG_DATA.write(value);
    }

    pub(crate) fn read8(self, offset: u8) -> u8 {
        (self.read32(offset) >> ((offset & 3) * 8)) as u8
    }
}

/// What the configuration header says about a function.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub address: Address,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    /// The legacy (8259) interrupt line the firmware routed INTx to; 0xff = none.
    pub irq_line: u8,
}

impl Function {
    fn probe(address: Address) -> Option<Function> {
        let id = address.read32(VENDOR_ID);
        if id & 0xffff == 0xffff {
            return None;
        }
        let class = address.read32(CLASS_REV);
        Some(Function {
            address,
            vendor: id as u16,
            device: (id >> 16) as u16,
            class: (class >> 24) as u8,
            subclass: (class >> 16) as u8,
            irq_line: address.read8(INTERRUPT_LINE),
        })
    }

    /// Base address register `n` as a block of I/O ports, if it is an I/O
    /// BAR (for the function's driver in the hal).
    pub(crate) fn io_bar(&self, n: u8) -> Option<PortBlock> {
        let bar = self.address.read32(BAR0 + 4 * n);
        // SAFETY: an I/O BAR is the window the firmware gave this function's
        // registers; the driver that asks for it is the function's only user.
        (bar & 1 == 1 && bar & !3 != 0).then(|| unsafe { PortBlock::new((bar & 0xfffc) as u16) })
    }

    /// Turns on I/O-space decoding and bus mastering (the device may DMA).
    pub(crate) fn enable_io_and_dma(&self) {
        let cmd = self.address.read32(COMMAND);
        self.address.write32(COMMAND, cmd | u32::from(COMMAND_IO | COMMAND_BUS_MASTER));
    }
}

/// The functions found by the first [`scan`] (drivers start at boot, and
/// every configuration read is an emulated I/O exit: a scan costs
/// milliseconds under TCG).
static FOUND: IrqMutex<Option<Vec<Function>>> = IrqMutex::new(None);

/// Every function reachable from bus 0: the host bridge's bus, then the
/// buses behind PCI-to-PCI bridges (class 06, subclass 04). Far fewer
/// configuration reads than probing all 256 buses, which counts at boot.
/// Scanned once; later calls return the same list (no hot-plug here).
pub fn scan() -> Vec<Function> {
    if let Some(found) = FOUND.lock().as_ref() {
        return found.clone();
    }
    let found = scan_buses();
    *FOUND.lock() = Some(found.clone());
    found
}

fn scan_buses() -> Vec<Function> {
    let mut found = Vec::new();
    let mut buses = alloc::vec![0u8];
    let mut seen = [false; 256];
    let mut next_io = IO_WINDOWS_START;
    while let Some(bus) = buses.pop() {
        if core::mem::replace(&mut seen[usize::from(bus)], true) {
            continue;
        }
        for device in 0..32u8 {
            let first = Address { bus, device, function: 0 };
            let Some(f0) = Function::probe(first) else { continue };
            let multi_function = first.read8(HEADER_TYPE) & 0x80 != 0;
            let functions = if multi_function { 8 } else { 1 };
            for function in 0..functions {
                let Some(f) = (if function == 0 { Some(f0) } else { Function::probe(Address { bus, device, function }) }) else {
                    continue;
                };
                if f.class == 0x06 && f.subclass == 0x04 {
                    buses.push(f.address.read8(SECONDARY_BUS));
                } else if f.address.read8(HEADER_TYPE) & 0x7f == 0 {
                    next_io = assign_io_bars(f.address, next_io);
                }
                found.push(f);
            }
        }
    }
    found
}

/// Gives each unassigned I/O BAR of the (type 0) function at `address` a
/// window of its size, naturally aligned, from `next`; returns where the
/// next window may start. BARs the firmware assigned stay as they are, and
/// any window is placed above them (it only ever starts above
/// [`IO_WINDOWS_START`] and past every assigned one met so far).
fn assign_io_bars(address: Address, mut next: u32) -> u32 {
    for n in 0..6u8 {
        let offset = BAR0 + 4 * n;
        let bar = address.read32(offset);
        if bar & 1 == 0 {
            // A memory BAR: none of our drivers uses one; a 64-bit one
            // spans the next register too.
            if bar & 0b110 == 0b100 {
                break;
            }
            continue;
        }
        let base = bar & 0xfffc;
        if base != 0 {
            next = next.max(base + io_bar_size(address, offset, bar));
            continue;
        }
        let size = io_bar_size(address, offset, bar);
        let start = next.next_multiple_of(size.max(1));
        if size == 0 || start + size > IO_SPACE_END {
            continue; // not decodable, or no room: the driver finds no BAR
        }
        address.write32(offset, start | 1);
        next = start + size;
    }
    next
}

/// The size of the I/O BAR at `offset` (whose value is `bar`): the bits
/// that stay 0 when all 1s are written (PCI spec 6.2.5.1), with I/O
/// decoding off meanwhile so no half-sized window decodes.
fn io_bar_size(address: Address, offset: u8, bar: u32) -> u32 {
    let command = address.read32(COMMAND);
    address.write32(COMMAND, command & !u32::from(COMMAND_IO));
    address.write32(offset, 0xffff_ffff);
    let mask = address.read32(offset) & 0xfffc;
    address.write32(offset, bar);
    address.write32(COMMAND, command);
    if mask == 0 {
        0
    } else {
        (!mask & 0xffff) + 1
    }
}
