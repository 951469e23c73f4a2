//! A virtio-mmio device model (virtio 1.x, MMIO transport version 2) that
//! LKL's own `virtio_mmio` driver talks to: LKL runs in our address space,
//! so its "MMIO" is a host operation (`ioremap` / `iomem_access` in
//! [`crate::lkl`]) that lands in [`access`], and its virtqueues are plain
//! memory inside LKL's memory block, which the device reads and writes.
//!
//! What the device *does* with its queues (a network card) is `embox-os`'s
//! business ([`Backend`]); here are the register file, feature negotiation
//! and the split-virtqueue mechanics, with every address LKL hands us
//! checked against the memory LKL was given ([`add_guest_memory`]) before it
//! is touched, so a bad descriptor stops the device instead of faulting the
//! kernel.

use crate::sync::IrqMutex;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};

/// Where the devices' register windows are announced to LKL. Nothing is
/// mapped there: LKL never dereferences an `ioremap`ped address itself, it
/// passes it back to `iomem_access`.
pub const MMIO_BASE: usize = 0xfe00_0000;
/// Size of one device's register window (registers, then its config space).
pub const WINDOW: usize = 0x1000;
/// Most devices [`register`] takes.
const MAX_DEVICES: usize = 4;
/// Offset of the device-specific configuration space.
const CONFIG: usize = 0x100;

/// Feature bit: the device follows virtio 1.x (required by the version 2
/// MMIO transport).
pub const F_VERSION_1: u64 = 1 << 32;

const MAGIC: u32 = 0x7472_6976; // "virt"
const VERSION: u32 = 2;
const VENDOR: u32 = 0x584f_4245; // "EBOX"

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const DESC_F_INDIRECT: u16 = 4;
/// Status bit the driver sets when it accepts the features it wrote.
const STATUS_FEATURES_OK: u32 = 8;
/// Interrupt status bit: a used ring changed.
const INT_VRING: u32 = 1;

/// What a device does when the driver hands it buffers.
pub trait Backend: Send + Sync {
    /// The driver wrote `QUEUE_NOTIFY` for `queue` (called in the driver's
    /// thread, with no lock of the transport held).
    fn notify(&self, queue: u16);
}

/// Why a queue was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// A ring or a buffer lies (partly) outside LKL's memory.
    OutsideGuestMemory(usize),
    /// A descriptor index beyond the queue, a loop, or an indirect table
    /// (not offered).
    BadDescriptor(u16),
    /// The queue is not set up (or was stopped by an earlier error).
    NotReady,
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::OutsideGuestMemory(a) => write!(f, "address {a:#x} is outside LKL's memory"),
            RingError::BadDescriptor(i) => write!(f, "bad descriptor {i}"),
            RingError::NotReady => f.write_str("queue not ready"),
        }
    }
}

/// Memory LKL owns (its `page_alloc` blocks): rings and buffers must lie in it.
static GUEST_MEMORY: IrqMutex<Vec<(usize, usize)>> = IrqMutex::new(Vec::new());

/// Records a block LKL got from `page_alloc` (start, length): the only
/// memory its virtqueues may point into. Blocks are never returned while
/// LKL runs (its memory is one block, allocated at boot).
pub(crate) fn add_guest_memory(start: usize, len: usize) {
    GUEST_MEMORY.lock().push((start, len));
}

/// Forgets a block LKL freed.
pub(crate) fn remove_guest_memory(start: usize) {
    GUEST_MEMORY.lock().retain(|&(s, _)| s != start);
}

/// A block of zeroed, physically contiguous frames registered as guest
/// memory: what `virtiommiotest` lays its rings and buffers in, playing
/// LKL. Dropping it takes it off the guest memory and frees it.
pub struct GuestBlock {
    phys: u64,
    pages: usize,
}

impl GuestBlock {
    pub fn new(pages: usize) -> Option<GuestBlock> {
        let phys = crate::memory::alloc_zeroed_contiguous(pages)?;
        add_guest_memory(crate::layout::phys_to_virt(phys), pages * crate::layout::PAGE_SIZE);
        Some(GuestBlock { phys, pages })
    }

    /// The address a driver puts in registers and descriptors (LKL's
    /// "physical" addresses are our kernel addresses).
    pub fn addr(&self) -> usize {
        crate::layout::phys_to_virt(self.phys)
    }

    fn range(&self, offset: usize, len: usize) -> usize {
        assert!(offset + len <= self.pages * crate::layout::PAGE_SIZE, "guest block access out of bounds");
        self.addr() + offset
    }

    /// Copies bytes out at `offset`. Panics if they do not fit.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        let at = self.range(offset, out.len());
        // SAFETY: inside the block we own, mapped by the physical map; its
        // bytes are device memory (copied, never borrowed).
        unsafe { core::ptr::copy_nonoverlapping(at as *const u8, out.as_mut_ptr(), out.len()) };
    }

    /// Copies `data` in at `offset`. Panics if it does not fit.
    pub fn write(&self, offset: usize, data: &[u8]) {
        let at = self.range(offset, data.len());
        // SAFETY: as in `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), at as *mut u8, data.len()) };
    }
}

impl Drop for GuestBlock {
    fn drop(&mut self) {
        remove_guest_memory(self.addr());
        crate::memory::free_contiguous_frames(self.phys, self.pages);
    }
}

fn check(addr: u64, len: usize) -> Result<usize, RingError> {
    let a = usize::try_from(addr).map_err(|_| RingError::OutsideGuestMemory(usize::MAX))?;
    let end = a.checked_add(len).ok_or(RingError::OutsideGuestMemory(a))?;
    if GUEST_MEMORY.lock().iter().any(|&(s, l)| a >= s && end <= s + l) {
        Ok(a)
    } else {
        Err(RingError::OutsideGuestMemory(a))
    }
}

/// One split virtqueue, as the driver set it up.
#[derive(Default, Clone, Copy)]
struct Queue {
    num_max: u16,
    num: u16,
    ready: bool,
    desc: u64,
    avail: u64,
    used: u64,
    /// Next avail ring entry the device reads.
    last_avail: u16,
    /// Next used ring entry the device writes.
    used_idx: u16,
}

impl Queue {
    /// Checks the three rings against LKL's memory (before `ready`).
    fn validate(&self) -> Result<(), RingError> {
        let n = self.num as usize;
        if n == 0 || self.num > self.num_max {
            return Err(RingError::NotReady);
        }
        check(self.desc, 16 * n)?;
        check(self.avail, 6 + 2 * n)?;
        check(self.used, 6 + 8 * n)?;
        Ok(())
    }
}

struct Registers {
    device_id: u32,
    device_features: u64,
    device_features_sel: u32,
    driver_features: u64,
    driver_features_sel: u32,
    queue_sel: u32,
    queues: Vec<Queue>,
    status: u32,
    interrupt_status: u32,
    config: Vec<u8>,
}

/// A virtio-mmio transport: its registers and queues.
pub struct Transport {
    regs: IrqMutex<Registers>,
    backend: IrqMutex<Option<&'static dyn Backend>>,
}

/// A descriptor chain the device took from a queue: its buffers, checked
/// to lie in LKL's memory. Give it back with [`Transport::push_used`].
pub struct Chain {
    head: u16,
    /// (address, length, device-writable).
    buffers: Vec<(usize, usize, bool)>,
}

impl Chain {
    /// Bytes the device may read (the driver-written buffers).
    pub fn readable_len(&self) -> usize {
        self.buffers.iter().filter(|b| !b.2).map(|b| b.1).sum()
    }

    /// Bytes the device may write.
    pub fn writable_len(&self) -> usize {
        self.buffers.iter().filter(|b| b.2).map(|b| b.1).sum()
    }

    /// Copies the readable bytes from offset `skip` on into `out` (which
    /// must hold `readable_len() - skip` bytes); returns how many.
    pub fn read(&self, skip: usize, out: &mut [u8]) -> usize {
        let (mut skip, mut done) = (skip, 0);
        for &(addr, len, writable) in &self.buffers {
            if writable {
                continue;
            }
            if skip >= len {
                skip -= len;
                continue;
            }
            let n = (len - skip).min(out.len() - done);
            // SAFETY: [addr, addr + len) was checked to lie in LKL's memory
            // (mapped for the kernel's whole life) when the chain was taken,
            // and the driver does not touch a buffer it made available until
            // the device returns it (virtio's ownership rule).
            unsafe { core::ptr::copy_nonoverlapping((addr + skip) as *const u8, out[done..].as_mut_ptr(), n) };
            done += n;
            skip = 0;
            if done == out.len() {
                break;
            }
        }
        done
    }

    /// Writes `parts` one after another into the writable buffers; returns
    /// how many bytes fit.
    pub fn write(&self, parts: &[&[u8]]) -> usize {
        let mut buffers = self.buffers.iter().filter(|b| b.2).map(|&(a, l, _)| (a, l));
        let (mut cur, mut done) = (buffers.next(), 0);
        for part in parts {
            let mut rest: &[u8] = part;
            while !rest.is_empty() {
                let Some((addr, len)) = cur else { return done };
                let n = rest.len().min(len);
                // SAFETY: as in `read`: the device owns this checked,
                // device-writable buffer until push_used.
                unsafe { core::ptr::copy_nonoverlapping(rest.as_ptr(), addr as *mut u8, n) };
                done += n;
                rest = &rest[n..];
                cur = if n == len { buffers.next() } else { Some((addr + n, len - n)) };
            }
        }
        done
    }
}

/// Reads a little-endian u16 in LKL's memory.
///
/// # Safety
/// `addr..addr+2` lies in LKL's memory (checked by [`Queue::validate`]).
unsafe fn read_u16(addr: usize) -> u16 {
    // SAFETY: per the contract; the driver writes it concurrently, hence volatile.
    u16::from_le(unsafe { core::ptr::read_volatile(addr as *const u16) })
}

impl Transport {
    /// A device of virtio type `device_id` (1: network) offering `features`
    /// (plus [`F_VERSION_1`]), `queues` queues of at most `queue_max`
    /// entries, and `config` as its configuration space.
    pub fn new(device_id: u32, features: u64, queues: usize, queue_max: u16, config: &[u8]) -> Self {
        Self {
            regs: IrqMutex::new(Registers {
                device_id,
                device_features: features | F_VERSION_1,
                device_features_sel: 0,
                driver_features: 0,
                driver_features_sel: 0,
                queue_sel: 0,
                queues: alloc::vec![Queue { num_max: queue_max, ..Queue::default() }; queues],
                status: 0,
                interrupt_status: 0,
                config: config.to_vec(),
            }),
            backend: IrqMutex::new(None),
        }
    }

    /// Features the driver accepted (valid once it set FEATURES_OK).
    pub fn driver_features(&self) -> u64 {
        self.regs.lock().driver_features
    }

    /// True when `queue` is live and holds a buffer the device has not taken.
    pub fn has_available(&self, queue: u16) -> bool {
        let regs = self.regs.lock();
        match regs.queues.get(queue as usize) {
            // SAFETY: a ready queue's rings were validated.
            Some(q) if q.ready => (unsafe { read_u16(q.avail as usize + 2) }) != q.last_avail,
            _ => false,
        }
    }

    /// Takes the next chain the driver made available on `queue`.
    /// `Ok(None)`: nothing available. An error stops the queue (the driver
    /// sees no more progress on it; the kernel lives).
    pub fn pop(&self, queue: u16) -> Result<Option<Chain>, RingError> {
        let mut regs = self.regs.lock();
        let q = regs.queues.get_mut(queue as usize).ok_or(RingError::NotReady)?;
        if !q.ready {
            return Err(RingError::NotReady);
        }
        let result = Self::take(q);
        if result.is_err() {
            q.ready = false;
        }
        result
    }

    fn take(q: &mut Queue) -> Result<Option<Chain>, RingError> {
        let n = q.num;
        // SAFETY: the queue is ready, so its rings were validated.
        let avail_idx = unsafe { read_u16(q.avail as usize + 2) };
        if avail_idx == q.last_avail {
            return Ok(None);
        }
        // The ring entries were written before the index.
        fence(Ordering::Acquire);
        // SAFETY: as above; the entry is inside the validated avail ring.
        let head = unsafe { read_u16(q.avail as usize + 4 + 2 * (q.last_avail % n) as usize) };
        let mut buffers = Vec::new();
        let mut index = head;
        for _ in 0..n {
            if index >= n {
                return Err(RingError::BadDescriptor(index));
            }
            let d = q.desc as usize + 16 * index as usize;
            // SAFETY: the descriptor is inside the validated table.
            let (addr, len, flags, next) = unsafe {
                (
                    u64::from_le(core::ptr::read_volatile(d as *const u64)),
                    u32::from_le(core::ptr::read_volatile((d + 8) as *const u32)),
                    read_u16(d + 12),
                    read_u16(d + 14),
                )
            };
            if flags & DESC_F_INDIRECT != 0 {
                return Err(RingError::BadDescriptor(index));
            }
            let a = check(addr, len as usize)?;
            buffers.push((a, len as usize, flags & DESC_F_WRITE != 0));
            if flags & DESC_F_NEXT == 0 {
                q.last_avail = q.last_avail.wrapping_add(1);
                return Ok(Some(Chain { head, buffers }));
            }
            index = next;
        }
        Err(RingError::BadDescriptor(head)) // a loop
    }

    /// Returns `chain` to the driver with `written` bytes written into it,
    /// and raises the queue interrupt status (the caller then interrupts LKL).
    pub fn push_used(&self, queue: u16, chain: Chain, written: u32) {
        let mut regs = self.regs.lock();
        let Some(q) = regs.queues.get_mut(queue as usize).filter(|q| q.ready) else { return };
        let slot = q.used as usize + 4 + 8 * (q.used_idx % q.num) as usize;
        // SAFETY: the queue is ready, so the used ring was validated, and
        // the device alone writes it.
        unsafe {
            core::ptr::write_volatile(slot as *mut u32, u32::from(chain.head).to_le());
            core::ptr::write_volatile((slot + 4) as *mut u32, written.to_le());
        }
        q.used_idx = q.used_idx.wrapping_add(1);
        // The entry before the index the driver reads.
        fence(Ordering::Release);
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile((q.used as usize + 2) as *mut u16, q.used_idx.to_le()) };
        regs.interrupt_status |= INT_VRING;
    }

    /// Reads a register (or config bytes); `None` for an unknown offset.
    fn read(&self, offset: usize, out: &mut [u8]) -> bool {
        let regs = self.regs.lock();
        if offset >= CONFIG {
            let start = offset - CONFIG;
            return match regs.config.get(start..start + out.len()) {
                Some(bytes) => {
                    out.copy_from_slice(bytes);
                    true
                }
                None => false,
            };
        }
        if out.len() != 4 {
            return false;
        }
        let q = regs.queues.get(regs.queue_sel as usize);
        let value = match offset {
            0x000 => MAGIC,
            0x004 => VERSION,
            0x008 => regs.device_id,
            0x00c => VENDOR,
            0x010 => (regs.device_features >> (32 * regs.device_features_sel.min(1))) as u32,
            0x034 => q.map_or(0, |q| q.num_max as u32),
            0x044 => q.map_or(0, |q| q.ready as u32),
            0x060 => regs.interrupt_status,
            0x070 => regs.status,
            0x0fc => 0, // config generation: the config never changes
            _ => return false,
        };
        out.copy_from_slice(&value.to_le_bytes());
        true
    }

    /// Writes a register; returns the queue to notify, if that was a notify.
    fn write(&self, offset: usize, bytes: &[u8]) -> Result<Option<u16>, ()> {
        let mut regs = self.regs.lock();
        if offset >= CONFIG {
            return Err(()); // read-only config
        }
        let value = u32::from_le_bytes(bytes.try_into().map_err(|_| ())?);
        let sel = regs.queue_sel as usize;
        let half = |old: u64, high: bool| if high { (old & 0xffff_ffff) | (value as u64) << 32 } else { (old & !0xffff_ffff) | value as u64 };
        match offset {
            0x014 => regs.device_features_sel = value,
            0x020 => {
                let high = regs.driver_features_sel == 1;
                // The driver may only accept what was offered.
                regs.driver_features = half(regs.driver_features, high) & regs.device_features;
            }
            0x024 => regs.driver_features_sel = value,
            0x030 => regs.queue_sel = value,
            0x038 => {
                if let Some(q) = regs.queues.get_mut(sel) {
                    q.num = value as u16;
                }
            }
            0x044 => {
                if let Some(q) = regs.queues.get_mut(sel) {
                    if value == 0 {
                        q.ready = false;
                    } else {
                        q.validate().map_err(|_| ())?;
                        q.ready = true;
                    }
                }
            }
            0x050 => return Ok(Some(value as u16)),
            0x064 => regs.interrupt_status &= !value,
            0x070 => {
                if value == 0 {
                    // Reset: forget the queues and the negotiation.
                    let num_max = regs.queues.first().map_or(0, |q| q.num_max);
                    for q in regs.queues.iter_mut() {
                        *q = Queue { num_max, ..Queue::default() };
                    }
                    regs.driver_features = 0;
                    regs.interrupt_status = 0;
                    regs.status = 0;
                } else {
                    let mut value = value;
                    if value & STATUS_FEATURES_OK != 0 && regs.driver_features & F_VERSION_1 == 0 {
                        value &= !STATUS_FEATURES_OK; // a legacy driver on a version 2 transport
                    }
                    regs.status = value;
                }
            }
            0x080 | 0x084 | 0x090 | 0x094 | 0x0a0 | 0x0a4 => {
                let high = offset & 4 != 0;
                if let Some(q) = regs.queues.get_mut(sel) {
                    let field = match offset & !4 {
                        0x080 => &mut q.desc,
                        0x090 => &mut q.avail,
                        _ => &mut q.used,
                    };
                    *field = half(*field, high);
                }
            }
            _ => return Err(()),
        }
        Ok(None)
    }

    /// Sets the device's behaviour (once, before LKL probes it).
    pub fn set_backend(&self, backend: &'static dyn Backend) {
        *self.backend.lock() = Some(backend);
    }
}

/// The registered devices, by window (slot i at MMIO_BASE + i * WINDOW).
static DEVICES: IrqMutex<[Option<&'static Transport>; MAX_DEVICES]> = IrqMutex::new([None; MAX_DEVICES]);

/// Registers a device; returns the base address of its register window, to
/// announce on LKL's command line, or `None` when all windows are taken.
/// The transport lives for the kernel's life (LKL may hold its address).
pub fn register(transport: Box<Transport>) -> Option<(usize, &'static Transport)> {
    let mut devices = DEVICES.lock();
    let slot = devices.iter().position(Option::is_none)?;
    let transport: &'static Transport = Box::leak(transport);
    devices[slot] = Some(transport);
    Some((MMIO_BASE + slot * WINDOW, transport))
}

/// Takes the device at `base` off the bus (its window then answers nothing;
/// the transport itself is leaked, a few hundred bytes).
pub fn unregister(base: usize) {
    if let Some((_, 0)) = find(base) {
        DEVICES.lock()[(base - MMIO_BASE) / WINDOW] = None;
    }
}

fn find(addr: usize) -> Option<(&'static Transport, usize)> {
    let index = addr.checked_sub(MMIO_BASE)? / WINDOW;
    let device = (*DEVICES.lock().get(index)?)?;
    Some((device, addr - MMIO_BASE - index * WINDOW))
}

/// LKL's `ioremap`: the window itself when `addr` starts one (the address is
/// only a token passed back to [`access`]).
pub fn ioremap(addr: usize, size: usize) -> Option<usize> {
    match find(addr) {
        Some((_, 0)) if size <= WINDOW => Some(addr),
        _ => None,
    }
}

/// LKL's `iomem_access`: reads into or writes from `value` (1, 2, 4 or 8
/// bytes) at `addr`. False for an address no device answers.
pub fn access(addr: usize, value: &mut [u8], write: bool) -> bool {
    let Some((device, offset)) = find(addr) else { return false };
    if offset + value.len() > WINDOW {
        return false;
    }
    if !write {
        return device.read(offset, value);
    }
    match device.write(offset, value) {
        Ok(Some(queue)) => {
            let backend = *device.backend.lock();
            if let Some(b) = backend {
                b.notify(queue);
            }
            true
        }
        Ok(None) => true,
        Err(()) => false,
    }
}
